// Shared test helpers: random data, build-serialize-load-run through the public API, comparisons.
#pragma once

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "common/host_tensor.h"
#include "kiln/kiln.h"
#include "serialization/plan_contents.h"

namespace kiln::testing {

/// A fresh generator seeded from the test name and a nondeterministic source; the seed is printed
/// on failure through SCOPED_TRACE by callers that want it.
std::mt19937& rng();
uint32_t rng_seed();

/// Uniform random values in [lo, hi) (ints: integers in [lo, hi); bool: fair coin), rounded to dt.
HostTensor random_tensor(DataType dt, const Dims& dims, double lo = -1.0, double hi = 1.0);
/// A tensor from explicit values (converted to dt).
HostTensor make_tensor(DataType dt, const Dims& dims, const std::vector<double>& values);
/// All elements as double.
std::vector<double> to_doubles(const HostTensor& t);
/// Element i as double.
double at(const HostTensor& t, int64_t i);

/// Adds `t` as a constant to `net`.
Tensor add_constant(Network& net, const HostTensor& t);

/// Builds `net` (backend "cpu" unless cfg says otherwise), writes the plan to bytes, loads it in a
/// new Runtime, binds `inputs` in order of the network's inputs, runs, and returns the outputs in
/// order of the network's outputs. Fails the current test (and returns {}) on any error.
std::vector<HostTensor> build_and_run(const Network& net, const std::vector<HostTensor>& inputs,
                                      BuilderConfig cfg = {});
/// Same, but returns the error instead of failing the test.
Expected<std::vector<HostTensor>> try_build_and_run(const Network& net,
                                                    const std::vector<HostTensor>& inputs,
                                                    BuilderConfig cfg = {});

/// Builds `net` (backend "cpu" unless cfg says otherwise) and reads the plan back: the graph the
/// passes produced and the kernel records. Fails the current test (and returns empty contents) on
/// any error.
serial::PlanContents build_contents(const Network& net, BuilderConfig cfg = {});
/// Layers of kind `op` in g.
int count_ops(const ir::Graph& g, ir::OpKind op);
/// The layers ir::device_layers marks, as a list of layer ids (what fusion planning takes).
std::vector<int32_t> device_layer_list(const ir::Graph& g);
/// The layer that produces `t` in g.
int32_t producer_of(const ir::Graph& g, const Tensor& t);

/// Runs an already loaded engine on `inputs` (a fresh context each call).
Expected<std::vector<HostTensor>> run_engine(const Engine& engine,
                                             const std::vector<HostTensor>& inputs,
                                             int profile = 0);

/// Tolerance for comparing a tensor of dtype dt against a float64 reference.
double default_tolerance(DataType dt);

/// Checks |got - want| <= atol + rtol * |want| elementwise (NaNs must match); reports the worst
/// element.
::testing::AssertionResult all_close(const HostTensor& got, const std::vector<double>& want,
                                     double rtol, double atol);
/// Checks dims and dtype.
::testing::AssertionResult has_type(const HostTensor& got, DataType dt, const Dims& dims);

/// Float dtypes every float layer is tested with.
inline const std::vector<DataType> kFloatTypes = {DataType::kFloat32, DataType::kFloat16,
                                                  DataType::kBFloat16};
/// Integer dtypes the integer-capable layers are tested with.
inline const std::vector<DataType> kIntTypes = {DataType::kInt32, DataType::kInt64, DataType::kInt8,
                                                DataType::kUInt8};

/// Multi-index of flat index `i` in row-major dims (zero extents give zeros), and back.
std::vector<int64_t> unflatten(int64_t i, const Dims& d);
int64_t flatten(const std::vector<int64_t>& idx, const Dims& d);

}  // namespace kiln::testing
