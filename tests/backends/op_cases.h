// One list of single-op cases shared by the CPU and the CUDA backend tests (ggml's test-backend-ops
// is the model): each case builds a small network around one layer, at a test size and at a
// realistic size for the perf mode.
//
//   tests/backends/cpu/test_op_cases.cpp   CPU: f32 with the pass pipeline == f32 as written;
//   f16/bf16
//                                          == f32 on the same (rounded) values within the dtype's
//                                          tolerance.
//   tests/gpu/test_cuda_op_cases.cpp       CUDA == CPU reference for every case and dtype; with
//                                          KILN_OP_CASES_PERF=DIR it also builds each case at its
//                                          perf size, prints the time per run and writes
//                                          DIR/<case>_<dtype>.plan for kiln_profile (per-kernel
//                                          times).
//
// A new op (or a new kernel path) gets a case here, and both backends test it.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "test_util.h"

namespace kiln::testing {

/// Makes the weights of one case: values drawn from a generator seeded by the case name (so the
/// low-precision network and its f32 reference get the same values), rounded through `round_to`
/// and stored as `store_as`.
class WeightMaker {
 public:
  WeightMaker(Network& net, const std::string& seed, DataType round_to, DataType store_as);
  /// A random constant in [lo, hi).
  Tensor operator()(const Dims& dims, double lo = -0.5, double hi = 0.5);
  /// A constant of the given values (int64 indices and the like: stored as given, not rounded).
  Tensor exact(DataType dt, const Dims& dims, const std::vector<double>& values);
  DataType dtype() const { return store_as_; }

 private:
  Network& net_;
  std::mt19937 rng_;
  DataType round_to_, store_as_;
};

struct OpCase {
  std::string name;
  /// Adds the layer(s) under test reading `inputs` (already added, in the case's dtype); returns
  /// the output to check.
  std::function<Expected<Tensor>(Network&, const std::vector<Tensor>& inputs, WeightMaker&)> build;
  std::vector<Dims> inputs;       ///< test size
  std::vector<Dims> perf_inputs;  ///< perf mode size (empty: the test size)
  std::vector<DataType> dtypes = kFloatTypes;
  double lo = -1.0, hi = 1.0;  ///< input range
};

/// Every case.
const std::vector<OpCase>& op_cases();

/// The case's network: inputs "in0", "in1", ... of `dtype` with `dims`, weights of `dtype` whose
/// values are rounded through `round_to` (the dtype itself, or the low precision an f32 reference
/// mirrors), output "out".
Expected<Network> make_case_network(const OpCase& c, DataType dtype, DataType round_to,
                                    const std::vector<Dims>& dims);

/// Random inputs for the case (seeded by the case name and `salt`), rounded through `round_to` and
/// stored as `dtype`.
std::vector<HostTensor> make_case_inputs(const OpCase& c, DataType dtype, DataType round_to,
                                         const std::vector<Dims>& dims, uint32_t salt = 0);

/// "conv3x3/f16" for messages and test names.
std::string case_label(const OpCase& c, DataType dt);

}  // namespace kiln::testing
