// Transformer networks as the converters emit them (transformer_nets.h).
#include "backends/transformer_nets.h"

#include <cmath>
#include <numbers>

namespace kiln::testing {
namespace {

struct Builder {
  Network& net;
  const TransformerShape& s;

  Tensor ok(Expected<Tensor> t) const {
    EXPECT_TRUE(t.ok()) << t.status().to_string();
    return t.ok() ? *t : Tensor{};
  }
  Tensor weight(const Dims& d, double scale = 0.05) const {
    return add_constant(net, random_tensor(s.dtype, d, -scale, scale));
  }
  Tensor scalar(double v) const { return add_constant(net, make_tensor(s.dtype, {}, {v})); }
  Tensor bin(Tensor a, Tensor b, BinaryOp op) const { return ok(net.add_elementwise(a, b, op)); }
  int64_t batch() const { return s.batch == kDynamic ? -1 : s.batch; }

  Tensor layer_norm(Tensor x, double eps) const {
    LayerNormParams p;
    p.axis = -1;
    p.epsilon = eps;
    Tensor gamma = add_constant(net, random_tensor(s.dtype, {s.embed}, 0.5, 1.5));
    return ok(net.add_layer_norm(x, gamma, weight({s.embed}), p));
  }
  // HF Conv1D / torch addmm: x [B, L, K] -> view [B*L, K] -> mm(W [K, N]) + b -> view [B, L, N].
  Tensor conv1d(Tensor x, int64_t k, int64_t n) const {
    Tensor flat = ok(net.add_reshape(x, {-1, k}));
    Tensor mm = ok(net.add_matmul(flat, weight({k, n})));
    return ok(net.add_reshape(bin(mm, weight({n}), BinaryOp::kAdd), {batch(), s.seq, n}));
  }
  Tensor linear(Tensor x, int64_t k, int64_t n) const {
    return ok(net.add_linear(x, weight({n, k}), weight({n})));
  }
  // NewGELUActivation: 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * pow(x, 3)))).
  Tensor gelu_new(Tensor x) const {
    Tensor cube = bin(x, scalar(3.0), BinaryOp::kPow);
    Tensor inner = bin(x, bin(cube, scalar(0.044715), BinaryOp::kMul), BinaryOp::kAdd);
    Tensor th = ok(net.add_unary(
        bin(inner, scalar(std::sqrt(2.0 / std::numbers::pi)), BinaryOp::kMul), UnaryOp::kTanh));
    return bin(bin(x, scalar(0.5), BinaryOp::kMul), bin(th, scalar(1.0), BinaryOp::kAdd),
               BinaryOp::kMul);
  }
  // [B, L, E] -> view [B, L, H, D] -> transpose [B, H, L, D].
  Tensor heads(Tensor x) const {
    Tensor v = ok(net.add_reshape(x, {batch(), s.seq, s.heads, s.embed / s.heads}));
    return ok(net.add_transpose(v, {0, 2, 1, 3}));
  }
  // [B, H, L, D] -> transpose [B, L, H, D] -> reshape [B, L, E].
  Tensor merge_heads(Tensor a) const {
    return ok(net.add_reshape(ok(net.add_transpose(a, {0, 2, 1, 3})), {batch(), s.seq, s.embed}));
  }
};

}  // namespace

void build_gpt2(Network& net, const TransformerShape& s, int layers) {
  Builder b{net, s};
  auto ids = net.add_input("input_ids", DataType::kInt64, {s.batch, s.seq});
  ASSERT_TRUE(ids.ok());
  Tensor tok = b.ok(net.add_gather(b.weight({64, s.embed}, 1.0), *ids, 0));
  ArangeParams ap;
  ap.end = static_cast<double>(s.seq);
  Tensor pos_ids = b.ok(net.add_unsqueeze(b.ok(net.add_arange(ap)), {0}));
  Tensor h =
      b.bin(tok, b.ok(net.add_gather(b.weight({s.seq, s.embed}, 1.0), pos_ids, 0)), BinaryOp::kAdd);
  AttentionParams causal;
  causal.causal = true;
  for (int i = 0; i < layers; ++i) {
    Tensor qkv = b.conv1d(b.layer_norm(h, 1e-5), s.embed, 3 * s.embed);
    auto parts = net.add_split(qkv, SplitParams{2, {s.embed, s.embed, s.embed}});
    ASSERT_TRUE(parts.ok());
    Tensor a = b.ok(net.add_attention(b.heads((*parts)[0]), b.heads((*parts)[1]),
                                      b.heads((*parts)[2]), Tensor{}, causal));
    h = b.bin(h, b.conv1d(b.merge_heads(a), s.embed, s.embed), BinaryOp::kAdd);
    Tensor fc = b.gelu_new(b.conv1d(b.layer_norm(h, 1e-5), s.embed, 4 * s.embed));
    h = b.bin(h, b.conv1d(fc, 4 * s.embed, s.embed), BinaryOp::kAdd);
  }
  ASSERT_TRUE(net.mark_output(b.layer_norm(h, 1e-5), "last_hidden_state").ok());
}

void build_bert_layer(Network& net, const TransformerShape& s) {
  Builder b{net, s};
  auto x = net.add_input("hidden", s.dtype, {s.batch, s.seq, s.embed});
  auto mask = net.add_input("mask", s.dtype, {s.batch, 1, 1, s.seq});
  ASSERT_TRUE(x.ok() && mask.ok());
  const int64_t e = s.embed;
  Tensor a = b.ok(net.add_attention(b.heads(b.linear(*x, e, e)), b.heads(b.linear(*x, e, e)),
                                    b.heads(b.linear(*x, e, e)), *mask, AttentionParams{}));
  Tensor h1 = b.layer_norm(b.bin(b.linear(b.merge_heads(a), e, e), *x, BinaryOp::kAdd), 1e-12);
  Tensor up = b.ok(net.add_unary(b.linear(h1, e, 4 * e), UnaryOp::kGelu));
  Tensor out = b.layer_norm(b.bin(b.linear(up, 4 * e, e), h1, BinaryOp::kAdd), 1e-12);
  ASSERT_TRUE(net.mark_output(out, "out").ok());
}

}  // namespace kiln::testing
