// The shared op cases (tests/backends/op_cases.h) on the CPU reference backend: in f32 the network
// built with the pass pipeline computes what it computes with every pass disabled; in f16/bf16 it
// computes what the f32 kernels compute on the same (rounded) inputs and weights, within the
// dtype's tolerance. The CUDA backend runs the same list against this backend
// (tests/gpu/test_cuda_op_cases.cpp).
#include "backends/op_cases.h"
#include "passes/pass.h"

namespace kiln {
namespace {

using testing::OpCase;

BuilderConfig no_passes() {
  BuilderConfig cfg;
  cfg.backend = "cpu";
  for (const auto& p : passes::pipeline_passes()) cfg.switches.disabled_passes.emplace_back(p.name);
  return cfg;
}

class OpCases : public ::testing::TestWithParam<OpCase> {};

TEST_P(OpCases, CpuLowPrecisionMatchesF32AndPassesChangeNothing) {
  const OpCase& c = GetParam();
  for (DataType dt : c.dtypes) {
    SCOPED_TRACE(testing::case_label(c, dt));
    auto net = testing::make_case_network(c, dt, dt, c.inputs);
    ASSERT_TRUE(net.ok()) << net.status().to_string();
    auto inputs = testing::make_case_inputs(c, dt, dt, c.inputs);
    auto got = testing::build_and_run(*net, inputs);
    ASSERT_EQ(got.size(), 1u);
    std::vector<HostTensor> want;
    if (dt == DataType::kFloat32) {
      want = testing::build_and_run(*net, inputs, no_passes());
    } else {
      // The same values in f32 (weights and inputs rounded through dt, stored as f32).
      auto ref = testing::make_case_network(c, DataType::kFloat32, dt, c.inputs);
      ASSERT_TRUE(ref.ok()) << ref.status().to_string();
      want = testing::build_and_run(*ref,
                                    testing::make_case_inputs(c, DataType::kFloat32, dt, c.inputs));
    }
    ASSERT_EQ(want.size(), 1u);
    ASSERT_EQ(got[0].type.dims, want[0].type.dims);
    const double tol = dt == DataType::kFloat32 ? 1e-5 : 4 * testing::default_tolerance(dt);
    EXPECT_TRUE(testing::all_close(got[0], testing::to_doubles(want[0]), tol, tol));
  }
}

INSTANTIATE_TEST_SUITE_P(Shared, OpCases, ::testing::ValuesIn(testing::op_cases()),
                         [](const ::testing::TestParamInfo<OpCase>& info) {
                           return info.param.name;
                         });

}  // namespace
}  // namespace kiln
