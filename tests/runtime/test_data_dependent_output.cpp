// Data-dependent outputs (nonzero): the engine reports the upper bound before the run and the rows
// it wrote after it (ExecutionContext::output_shape), on static and dynamic inputs; the builder
// refuses a nonzero result that other layers read. Expected values are computed here by a plain
// loop over the input.
#include <algorithm>
#include <limits>

#include "test_util.h"

namespace kiln {
namespace {

std::shared_ptr<Engine> nonzero_engine(const Dims& dims, const OptimizationProfile* profile) {
  Network net;
  auto x = net.add_input("x", DataType::kFloat32, dims);
  auto nz = net.add_nonzero(*x);
  EXPECT_TRUE(nz.ok()) << nz.status().to_string();
  EXPECT_TRUE(net.mark_output(*nz, "idx").ok());
  BuilderConfig cfg;
  cfg.backend = "cpu";
  if (profile != nullptr) cfg.profiles = {*profile};
  auto plan = Builder::build(net, cfg);
  EXPECT_TRUE(plan.ok()) << plan.status().to_string();
  auto e = Runtime::load(plan->bytes);
  EXPECT_TRUE(e.ok()) << e.status().to_string();
  return *e;
}

// Coordinates of the non-zero elements of `x`, row-major.
std::vector<int64_t> expected_rows(const HostTensor& x) {
  std::vector<int64_t> rows;
  for (int64_t i = 0; i < x.type.dims.volume(); ++i) {
    if (testing::at(x, i) == 0.0) continue;
    for (int64_t c : testing::unflatten(i, x.type.dims)) rows.push_back(c);
  }
  return rows;
}

void run_and_check(const Engine& engine, const HostTensor& x) {
  auto ctx = *engine.create_context();
  const int rank = x.type.dims.rank();
  ASSERT_TRUE(ctx->bind("x", const_cast<uint8_t*>(x.bytes.data()), x.type.dtype, x.type.dims).ok());
  auto bound = ctx->tensor_shape("idx");
  ASSERT_TRUE(bound.ok()) << bound.status().to_string();
  EXPECT_EQ(*bound, (Dims{x.type.dims.volume(), rank}));  // upper bound: every element non-zero
  EXPECT_FALSE(ctx->output_shape("idx").ok());            // not run yet
  std::vector<int64_t> out(static_cast<size_t>(bound->volume()) + 1, -7);
  ASSERT_TRUE(ctx->set_tensor_address("idx", out.data()).ok());
  Status s = ctx->execute();
  ASSERT_TRUE(s.ok()) << s.to_string();
  auto got = ctx->output_shape("idx");
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  std::vector<int64_t> want = expected_rows(x);
  EXPECT_EQ(*got, (Dims{static_cast<int64_t>(want.size()) / std::max(rank, 1), rank}));
  out.resize(want.size());
  EXPECT_EQ(out, want);
}

TEST(DataDependentOutput, NonZeroReportsBoundBeforeAndRowsAfterTheRun) {
  auto engine = nonzero_engine({3, 4, 5}, nullptr);
  const IOTensorInfo& io = engine->io_tensor(1);
  EXPECT_FALSE(io.is_input);
  EXPECT_TRUE(io.data_dependent);
  EXPECT_FALSE(engine->io_tensor(0).data_dependent);
  HostTensor x = testing::random_tensor(DataType::kFloat32, {3, 4, 5}, -1, 1);
  auto* p = reinterpret_cast<float*>(x.bytes.data());
  for (int64_t i = 0; i < 60; i += 3) p[i] = 0.0f;  // a third are zero
  p[1] = -0.0f;                                     // negative zero is zero
  p[2] = std::numeric_limits<float>::quiet_NaN();   // NaN is not
  run_and_check(*engine, x);
  std::fill(p, p + 60, 0.0f);  // none: zero rows
  run_and_check(*engine, x);
}

TEST(DataDependentOutput, NonZeroOnDynamicInputsAndOtherDtypes) {
  auto profile = OptimizationProfile().set("x", {1, 2}, {4, 3}, {8, 6});
  auto engine = nonzero_engine({-1, -1}, &profile);
  for (Dims d : {Dims{1, 2}, Dims{4, 3}, Dims{8, 6}, Dims{5, 5}}) {
    std::vector<double> v(static_cast<size_t>(d.volume()));
    for (size_t i = 0; i < v.size(); ++i) v[i] = (i * 7 + d[0]) % 3 == 0 ? 1.5 : 0.0;
    run_and_check(*engine, testing::make_tensor(DataType::kFloat32, d, v));
  }
  for (DataType dt : {DataType::kInt32, DataType::kBool, DataType::kFloat64, DataType::kInt16}) {
    Network net;
    auto x = net.add_input("x", dt, {2, 7});
    ASSERT_TRUE(net.mark_output(*net.add_nonzero(*x), "idx").ok());
    BuilderConfig cfg;
    cfg.backend = "cpu";
    auto plan = Builder::build(net, cfg);
    ASSERT_TRUE(plan.ok()) << plan.status().to_string();
    run_and_check(**Runtime::load(plan->bytes), testing::random_tensor(dt, {2, 7}, 0, 2));
  }
}

TEST(DataDependentOutput, NonZeroResultReadByALayerIsRefused) {
  Network net;
  auto x = net.add_input("x", DataType::kFloat32, {4});
  auto nz = net.add_nonzero(*x);
  ASSERT_TRUE(nz.ok());
  ASSERT_TRUE(
      net.mark_output(*net.add_unary(*net.add_cast(*nz, DataType::kFloat32), UnaryOp::kNeg), "y")
          .ok());
  BuilderConfig cfg;
  cfg.backend = "cpu";
  auto plan = Builder::build(net, cfg);
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("data-dependent rows"), std::string::npos)
      << plan.status().to_string();
}

}  // namespace
}  // namespace kiln
