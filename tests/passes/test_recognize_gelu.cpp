// GELU recognition: the chains models write out become one gelu/gelu_tanh layer, results equal the
// GELU formula computed here in double, and near-misses are left alone.
#include <cmath>
#include <functional>
#include <numbers>

#include "serialization/plan_contents.h"
#include "test_util.h"

namespace kiln {
namespace {

double gelu_tanh_ref(double x) {
  return 0.5 * x *
         (1.0 + std::tanh(std::sqrt(2.0 / std::numbers::pi) * (x + 0.044715 * x * x * x)));
}
double gelu_erf_ref(double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); }

using Chain = std::function<Tensor(Network&, Tensor)>;

Tensor mul(Network& n, Tensor a, Tensor b) { return *n.add_elementwise(a, b, BinaryOp::kMul); }
Tensor add(Network& n, Tensor a, Tensor b) { return *n.add_elementwise(a, b, BinaryOp::kAdd); }
Tensor scalar(Network& n, double v) { return *n.add_scalar(v, DataType::kFloat32); }

// GPT-2's gelu_new: 0.5 * x * (1.0 + tanh(sqrt(2/pi) * (x + 0.044715 * pow(x, 3.0)))), traced
// order.
Tensor gpt2_gelu(Network& n, Tensor x) {
  auto cube = *n.add_elementwise(x, scalar(n, 3.0), BinaryOp::kPow);
  auto inner = mul(n, add(n, x, mul(n, cube, scalar(n, 0.044715))),
                   scalar(n, std::sqrt(2.0 / std::numbers::pi)));
  auto t = *n.add_unary(inner, UnaryOp::kTanh);
  return mul(n, mul(n, x, scalar(n, 0.5)), add(n, t, scalar(n, 1.0)));
}

// The same with x*x*x, constants on the left and 0.5 applied last.
Tensor gelu_tanh_regrouped(Network& n, Tensor x) {
  auto cube = mul(n, x, mul(n, x, x));
  auto inner = mul(n, scalar(n, 0.7978845608), add(n, mul(n, scalar(n, 0.044715), cube), x));
  auto t = *n.add_unary(inner, UnaryOp::kTanh);
  return mul(n, scalar(n, 0.5), mul(n, x, add(n, scalar(n, 1.0), t)));
}

// The erf form: x * 0.5 * (1 + erf(x / sqrt(2))).
Tensor gelu_erf(Network& n, Tensor x) {
  auto e =
      *n.add_unary(*n.add_elementwise(x, scalar(n, std::sqrt(2.0)), BinaryOp::kDiv), UnaryOp::kErf);
  return mul(n, x, mul(n, scalar(n, 0.5), add(n, e, scalar(n, 1.0))));
}

struct Built {
  std::vector<HostTensor> outs;
  int unary_gelu = 0, tanh_or_erf = 0;
};

// linear -> chain -> output, built for the CPU reference; counts the layers left in the plan.
Built build(const Chain& chain, const HostTensor& x, const HostTensor& w) {
  Network net;
  auto in = net.add_input("x", DataType::kFloat32, x.type.dims);
  auto h = *net.add_linear(*in, testing::add_constant(net, w), Tensor{});
  auto y = chain(net, h);
  EXPECT_TRUE(net.mark_output(y, "y").ok());
  BuilderConfig cfg;
  cfg.backend = "cpu";
  auto plan = Builder::build(net, cfg);
  EXPECT_TRUE(plan.ok()) << plan.status().to_string();
  Built b;
  if (!plan.ok()) return b;
  auto contents = serial::read_plan(plan->bytes);
  EXPECT_TRUE(contents.ok());
  for (const auto& l : contents->graph.layers) {
    if (l.op != ir::OpKind::kUnary) continue;
    UnaryOp op = std::get<UnaryParams>(l.params).op;
    b.unary_gelu += op == UnaryOp::kGelu || op == UnaryOp::kGeluTanh;
    b.tanh_or_erf += op == UnaryOp::kTanh || op == UnaryOp::kErf;
  }
  b.outs = testing::build_and_run(net, {x}, cfg);
  return b;
}

void expect_gelu_of_linear(const Built& b, const HostTensor& x, const HostTensor& w,
                           double (*ref)(double)) {
  ASSERT_FALSE(b.outs.empty());
  const auto xv = testing::to_doubles(x), wv = testing::to_doubles(w);
  const int64_t m = x.type.dims[0], k = x.type.dims[1], n = w.type.dims[0];
  std::vector<double> want(static_cast<size_t>(m * n));
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double acc = 0;
      for (int64_t t = 0; t < k; ++t)
        acc += xv[static_cast<size_t>(i * k + t)] * wv[static_cast<size_t>(j * k + t)];
      want[static_cast<size_t>(i * n + j)] = ref(acc);
    }
  }
  EXPECT_TRUE(testing::all_close(b.outs.back(), want, 1e-5, 1e-5));  // "y" is marked last
}

TEST(RecognizeGelu, ChainsBecomeOneLayerAndMatchTheFormula) {
  auto x = testing::random_tensor(DataType::kFloat32, {6, 16}, -2, 2);
  auto w = testing::random_tensor(DataType::kFloat32, {24, 16}, -0.6, 0.6);
  struct Case {
    const char* name;
    Chain chain;
    double (*ref)(double);
  };
  for (const Case& c : {Case{"gpt2", gpt2_gelu, gelu_tanh_ref},
                        Case{"regrouped", gelu_tanh_regrouped, gelu_tanh_ref},
                        Case{"erf", gelu_erf, gelu_erf_ref}}) {
    SCOPED_TRACE(c.name);
    Built b = build(c.chain, x, w);
    EXPECT_EQ(b.unary_gelu, 1);
    EXPECT_EQ(b.tanh_or_erf, 0);
    expect_gelu_of_linear(b, x, w, c.ref);
  }
}

TEST(RecognizeGelu, NearMissesAreLeftAlone) {
  auto x = testing::random_tensor(DataType::kFloat32, {4, 8}, -2, 2);
  auto w = testing::random_tensor(DataType::kFloat32, {8, 8}, -0.6, 0.6);
  // An intermediate (the tanh) is also a network output: nothing is fused, results stay exact.
  auto shared_tanh = [](Network& n, Tensor v) {
    auto cube = *n.add_elementwise(v, scalar(n, 3.0), BinaryOp::kPow);
    auto inner = mul(n, add(n, v, mul(n, cube, scalar(n, 0.044715))),
                     scalar(n, std::sqrt(2.0 / std::numbers::pi)));
    auto t = *n.add_unary(inner, UnaryOp::kTanh);
    EXPECT_TRUE(n.mark_output(t, "inner").ok());
    return mul(n, mul(n, v, scalar(n, 0.5)), add(n, t, scalar(n, 1.0)));
  };
  Built shared = build(shared_tanh, x, w);
  EXPECT_EQ(shared.unary_gelu, 0);
  EXPECT_EQ(shared.tanh_or_erf, 1);
  expect_gelu_of_linear(shared, x, w, gelu_tanh_ref);
  // A different cubic coefficient is not GELU.
  auto off = [](Network& n, Tensor v) {
    auto cube = *n.add_elementwise(v, scalar(n, 3.0), BinaryOp::kPow);
    auto inner = mul(n, add(n, v, mul(n, cube, scalar(n, 0.05))),
                     scalar(n, std::sqrt(2.0 / std::numbers::pi)));
    return mul(n, mul(n, v, scalar(n, 0.5)),
               add(n, *n.add_unary(inner, UnaryOp::kTanh), scalar(n, 1.0)));
  };
  Built other = build(off, x, w);
  EXPECT_EQ(other.unary_gelu, 0);
  expect_gelu_of_linear(other, x, w, [](double v) {
    return 0.5 * v * (1.0 + std::tanh(std::sqrt(2.0 / std::numbers::pi) * (v + 0.05 * v * v * v)));
  });
}

}  // namespace
}  // namespace kiln
