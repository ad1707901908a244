// Generated pointwise kernels (NVRTC) on the GPU against the CPU reference, which runs every layer
// on its own: chains with broadcasting, several outputs, dynamic shapes, the scalar and the 16-byte
// vector path, every unary and binary op in every float dtype, bool conditions and casts.
#include "gpu_test_util.h"

namespace kiln {
namespace {

using testing::expect_cuda_matches_cpu;
using testing::random_tensor;

int count(const std::string& s, const std::string& what) {
  int n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

// x * scale + bias -> gelu -> + r -> * c, the pre-activation also read by a softmax; dynamic batch.
// Inner dim 33 takes the scalar path, 64 the vector path.
TEST(CudaPointwiseFusion, ChainsWithSeveralOutputsAndDynamicBatch) {
  KILN_REQUIRE_GPU();
  for (int64_t inner : {33, 64}) {
    for (DataType dt : testing::kFloatTypes) {
      SCOPED_TRACE(std::string(dtype_name(dt)) + " inner " + std::to_string(inner));
      Network net;
      auto x = net.add_input("x", dt, {-1, 16, inner});
      auto r = net.add_input("r", dt, {-1, 16, inner});
      auto scale = testing::add_constant(net, random_tensor(dt, {inner}));
      auto bias = testing::add_constant(net, random_tensor(dt, {16, 1}));
      auto c = testing::add_constant(net, random_tensor(dt, {1}, 0.5, 1.5));
      auto b = net.add_elementwise(*net.add_elementwise(*x, scale, BinaryOp::kMul), bias,
                                   BinaryOp::kAdd);
      auto y = net.add_elementwise(
          *net.add_elementwise(*net.add_unary(*b, UnaryOp::kGelu), *r, BinaryOp::kAdd), c,
          BinaryOp::kMul);
      ASSERT_TRUE(net.mark_output(*y, "y").ok());
      ASSERT_TRUE(net.mark_output(*net.add_softmax(*b, -1), "s").ok());
      BuilderConfig cfg;
      cfg.profiles = {OptimizationProfile()
                          .set("x", {1, 16, inner}, {4, 16, inner}, {6, 16, inner})
                          .set("r", {1, 16, inner}, {4, 16, inner}, {6, 16, inner})};
      for (int64_t n : {4, 1, 6}) {
        expect_cuda_matches_cpu(
            net, {random_tensor(dt, {n, 16, inner}), random_tensor(dt, {n, 16, inner})}, cfg);
      }
      std::string d = testing::describe_on_cuda(net, cfg);
      EXPECT_EQ(count(d, "cuda.pointwise[mul+add+gelu+add+mul]"), 1) << d;
    }
  }
}

// Broadcast patterns of real models: a squeeze-excitation gate [N,C,1,1] over [N,C,H,W], a
// per-channel scale [1,C,1,1], an attention mask [N,1,1,L] as a bool condition, a float32 -> half
// cast chain.
TEST(CudaPointwiseFusion, BroadcastPatternsAndBoolConditions) {
  KILN_REQUIRE_GPU();
  for (DataType dt : {DataType::kFloat16, DataType::kBFloat16, DataType::kFloat32}) {
    SCOPED_TRACE(dtype_name(dt));
    Network net;
    auto x = net.add_input("x", dt, {2, 24, 7, 16});
    auto gate = net.add_input("gate", dt, {2, 24, 1, 1});
    auto keep = net.add_input("keep", DataType::kBool, {2, 1, 1, 16});
    auto f = net.add_input("f", DataType::kFloat32, {2, 24, 7, 16});
    auto ch = testing::add_constant(net, random_tensor(dt, {1, 24, 1, 1}));
    auto neg = testing::add_constant(net, random_tensor(dt, {1}, -3.0, -2.0));
    auto se = net.add_elementwise(*x, *net.add_unary(*gate, UnaryOp::kSigmoid), BinaryOp::kMul);
    auto scaled = net.add_unary(*net.add_elementwise(*se, ch, BinaryOp::kMul), UnaryOp::kHardSwish);
    auto masked = net.add_where(*keep, *scaled, *net.add_elementwise(*scaled, neg, BinaryOp::kMul));
    auto sum = net.add_elementwise(*masked, *net.add_cast(*net.add_unary(*f, UnaryOp::kTanh), dt),
                                   BinaryOp::kAdd);
    auto positive = net.add_elementwise(*sum, neg, BinaryOp::kGreater);
    ASSERT_TRUE(net.mark_output(*sum, "y").ok());
    ASSERT_TRUE(net.mark_output(*positive, "p").ok());
    auto outs = expect_cuda_matches_cpu(
        net, {random_tensor(dt, {2, 24, 7, 16}), random_tensor(dt, {2, 24, 1, 1}),
              random_tensor(DataType::kBool, {2, 1, 1, 16}),
              random_tensor(DataType::kFloat32, {2, 24, 7, 16})});
    std::string d = testing::describe_on_cuda(net);
    EXPECT_GE(count(d, "cuda.pointwise["), 1) << d;
  }
}

// Every unary and binary op, each in its own small group (a product of the inputs first), all float
// dtypes; positive-only ops get |t| + 0.1.
TEST(CudaPointwiseFusion, EveryOpMatchesTheReference) {
  KILN_REQUIRE_GPU();
  for (DataType dt : testing::kFloatTypes) {
    SCOPED_TRACE(dtype_name(dt));
    Network net;
    auto x = net.add_input("x", dt, {3, 40});
    auto y = net.add_input("y", dt, {1, 40});
    auto w = net.add_input("w", dt, {3, 1});
    auto tenth = testing::add_constant(net, testing::make_tensor(dt, {1}, {0.1}));
    int outputs = 0;
    auto product = [&]() { return net.add_elementwise(*x, *y, BinaryOp::kMul); };
    auto positive = [&]() {
      return net.add_elementwise(*net.add_unary(*product(), UnaryOp::kAbs), tenth, BinaryOp::kAdd);
    };
    for (int op = 0; op < kNumUnaryOps; ++op) {
      const UnaryOp u = static_cast<UnaryOp>(op);
      const bool needs_positive = u == UnaryOp::kLog || u == UnaryOp::kSqrt ||
                                  u == UnaryOp::kRsqrt || u == UnaryOp::kLog2 ||
                                  u == UnaryOp::kReciprocal;
      const double alpha = u == UnaryOp::kClamp ? std::nan("") : 0.25,
                   beta = u == UnaryOp::kClamp ? 0.3 : 2.0;
      auto t = needs_positive ? positive() : product();
      auto out = net.add_unary(*t, u, alpha, beta);
      ASSERT_TRUE(out.ok()) << out.status().to_string();
      ASSERT_TRUE(net.mark_output(*out, "u" + std::to_string(op)).ok());
      ++outputs;
    }
    for (int op = 0; op < kNumBinaryOps; ++op) {
      const BinaryOp b = static_cast<BinaryOp>(op);
      if (b == BinaryOp::kAnd || b == BinaryOp::kOr || b == BinaryOp::kXor)
        continue;  // bool operands below
      if (b == BinaryOp::kBitAnd || b == BinaryOp::kBitOr || b == BinaryOp::kBitXor)
        continue;  // integer-only (and not fused)
      auto base = b == BinaryOp::kPow ? positive() : product();
      auto out = net.add_elementwise(*base, *w, b);
      ASSERT_TRUE(out.ok()) << out.status().to_string();
      ASSERT_TRUE(net.mark_output(*out, "b" + std::to_string(op)).ok());
      ++outputs;
    }
    auto lt = net.add_elementwise(*product(), *w, BinaryOp::kLess);
    auto gt = net.add_elementwise(*product(), *w, BinaryOp::kGreater);
    for (BinaryOp b : {BinaryOp::kAnd, BinaryOp::kOr, BinaryOp::kXor}) {
      auto out = net.add_unary(*net.add_elementwise(*lt, *gt, b), UnaryOp::kNot);
      ASSERT_TRUE(net.mark_output(*out, "l" + std::to_string(static_cast<int>(b))).ok());
      ++outputs;
    }
    BuilderConfig cfg;
    cfg.kernel_cache_dir = ::testing::TempDir() + "/kiln_kernel_cache";
    std::vector<HostTensor> in{random_tensor(dt, {3, 40}), random_tensor(dt, {1, 40}, 0.5, 1.0),
                               random_tensor(dt, {3, 1}, 0.5, 1.0)};
    expect_cuda_matches_cpu(net, in, cfg);
    std::string d = testing::describe_on_cuda(net, cfg);
    EXPECT_GE(count(d, "cuda.pointwise["), outputs - 2) << d;
  }
}

// A plan with generated kernels loads again (cubin from the plan) and gives the same results as the
// hand-written kernels (generated kernels switched off).
TEST(CudaPointwiseFusion, PlanReloadsAndMatchesUnfused) {
  KILN_REQUIRE_GPU();
  const DataType dt = DataType::kFloat16;
  Network net;
  auto x = net.add_input("x", dt, {8, 128});
  auto s = testing::add_constant(net, random_tensor(dt, {128}));
  auto y = net.add_unary(
      *net.add_elementwise(*net.add_unary(*x, UnaryOp::kSilu), s, BinaryOp::kMul), UnaryOp::kTanh);
  ASSERT_TRUE(net.mark_output(*y, "y").ok());
  BuilderConfig cfg;
  cfg.backend = "cuda";
  auto plan = Builder::build(net, cfg);
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  std::vector<HostTensor> in{random_tensor(dt, {8, 128})};
  auto e1 = Runtime::load(plan->bytes);
  ASSERT_TRUE(e1.ok()) << e1.status().to_string();
  EXPECT_NE((*e1)->describe().find("cuda.pointwise[silu+mul+tanh]"), std::string::npos)
      << (*e1)->describe();
  auto fused = testing::run_cuda_engine(**e1, in);
  ASSERT_TRUE(fused.ok()) << fused.status().to_string();
  BuilderConfig unfused = cfg;
  unfused.switches.fuse_pointwise = false;
  auto plain = testing::run_on_cuda(net, in, unfused);
  ASSERT_TRUE(plain.ok()) << plain.status().to_string();
  EXPECT_TRUE(
      testing::all_close((*fused)[0], testing::to_doubles((*plain)[0]), 0, 0));  // bit-identical
}

}  // namespace
}  // namespace kiln
