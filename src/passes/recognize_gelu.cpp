// GELU recognition: models that spell GELU out in pointwise ops (GPT-2's "gelu_new", BERT-era
// "gelu" helpers) become one unary layer, so the CUDA backend runs one kernel instead of seven, or
// none at all when the unary then fuses into the preceding GEMM's epilogue.
//
//   tanh form: 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))   -> gelu_tanh(x)
//   erf form:  0.5 * x * (1 + erf(x / sqrt(2)))  (or erf(x * 1/sqrt(2)))   -> gelu(x)
//
// Operand order, the grouping of the products, x^3 spelt as pow(x, 3) or x*x*x, and scalar
// constants of any float dtype are accepted. Every intermediate must be read only inside the
// pattern.
#include <cmath>
#include <numbers>
#include <optional>

#include "common/element_access.h"
#include "passes/graph_rewriter.h"
#include "passes/pass.h"

namespace kiln::passes {
namespace {

class Matcher {
 public:
  explicit Matcher(const ir::Graph& g) : g_(g), readers_(reader_counts(g)) {}

  const ir::Layer* producer(int32_t t) const { return producer_of(g_, t); }

  /// The value of a one-element float constant.
  std::optional<double> scalar(int32_t t) const {
    const ir::Layer* l = producer(t);
    if (l == nullptr || l->op != ir::OpKind::kConstant) return std::nullopt;
    const auto& w = g_.weights[static_cast<size_t>(std::get<ConstantParams>(l->params).weight)];
    if (w.type.dims.volume() != 1 || !is_floating(w.type.dtype) || !w.bytes) return std::nullopt;
    return load_as_double(w.bytes->data(), w.type.dtype, 0);
  }

  bool is_scalar(int32_t t, double v) const {
    auto s = scalar(t);
    return s && std::abs(*s - v) <= 1e-3 * std::abs(v);
  }

  /// The binary layer producing t (op `op`), read only once (by the pattern).
  const ir::Layer* binary(int32_t t, BinaryOp op) const {
    const ir::Layer* l = producer(t);
    if (l == nullptr || l->op != ir::OpKind::kBinary || std::get<BinaryParams>(l->params).op != op)
      return nullptr;
    return internal(t) ? l : nullptr;
  }

  const ir::Layer* unary(int32_t t, UnaryOp op) const {
    const ir::Layer* l = producer(t);
    if (l == nullptr || l->op != ir::OpKind::kUnary || std::get<UnaryParams>(l->params).op != op)
      return nullptr;
    return internal(t) ? l : nullptr;
  }

  bool internal(int32_t t) const { return readers_[static_cast<size_t>(t)] == 1; }

  /// For a commutative layer with a scalar operand equal to v: the other operand.
  std::optional<int32_t> other_than_scalar(const ir::Layer* l, double v) const {
    if (l == nullptr) return std::nullopt;
    if (is_scalar(l->inputs[1], v)) return l->inputs[0];
    if (is_scalar(l->inputs[0], v)) return l->inputs[1];
    return std::nullopt;
  }

  /// t == x^3 (pow(x, 3), x*x*x in either grouping); returns x.
  std::optional<int32_t> cube(int32_t t) const {
    if (const ir::Layer* p = binary(t, BinaryOp::kPow); p && is_scalar(p->inputs[1], 3.0))
      return p->inputs[0];
    const ir::Layer* m = binary(t, BinaryOp::kMul);
    if (m == nullptr) return std::nullopt;
    for (int k = 0; k < 2; ++k) {
      int32_t a = m->inputs[static_cast<size_t>(k)], b = m->inputs[static_cast<size_t>(1 - k)];
      const ir::Layer* sq = binary(b, BinaryOp::kMul);
      if (sq && sq->inputs[0] == a && sq->inputs[1] == a) return a;
    }
    return std::nullopt;
  }

  /// t == tanh(c1 * (x + c2 * x^3)) or erf(x / sqrt2) / erf(x * (1/sqrt2)): (x, which op).
  std::optional<std::pair<int32_t, UnaryOp>> inner(int32_t t) const {
    if (const ir::Layer* th = unary(t, UnaryOp::kTanh)) {
      auto s = other_than_scalar(binary(th->inputs[0], BinaryOp::kMul),
                                 std::sqrt(2.0 / std::numbers::pi));
      if (!s) return std::nullopt;
      const ir::Layer* add = binary(*s, BinaryOp::kAdd);
      if (add == nullptr) return std::nullopt;
      for (int k = 0; k < 2; ++k) {
        int32_t x = add->inputs[static_cast<size_t>(k)];
        auto c = other_than_scalar(binary(add->inputs[static_cast<size_t>(1 - k)], BinaryOp::kMul),
                                   0.044715);
        if (c && cube(*c) == x) return std::make_pair(x, UnaryOp::kGeluTanh);
      }
      return std::nullopt;
    }
    if (const ir::Layer* ef = unary(t, UnaryOp::kErf)) {
      if (const ir::Layer* d = binary(ef->inputs[0], BinaryOp::kDiv);
          d && is_scalar(d->inputs[1], std::sqrt(2.0)))
        return std::make_pair(d->inputs[0], UnaryOp::kGelu);
      if (auto x = other_than_scalar(binary(ef->inputs[0], BinaryOp::kMul), 1.0 / std::sqrt(2.0)))
        return std::make_pair(*x, UnaryOp::kGelu);
    }
    return std::nullopt;
  }

  /// t == 1 + inner(x): (x, op).
  std::optional<std::pair<int32_t, UnaryOp>> one_plus(int32_t t) const {
    auto r = other_than_scalar(binary(t, BinaryOp::kAdd), 1.0);
    return r ? inner(*r) : std::nullopt;
  }

  /// The root layer: y = 0.5 * x * (1 + inner(x)) in any grouping. Returns (x, op).
  std::optional<std::pair<int32_t, UnaryOp>> root(const ir::Layer& l) const {
    if (l.op != ir::OpKind::kBinary || std::get<BinaryParams>(l.params).op != BinaryOp::kMul)
      return std::nullopt;
    for (int k = 0; k < 2; ++k) {
      int32_t a = l.inputs[static_cast<size_t>(k)], b = l.inputs[static_cast<size_t>(1 - k)];
      // (0.5 * x) * (1 + inner(x))  or  x * (0.5 * (1 + inner(x)))
      if (auto x = other_than_scalar(binary(a, BinaryOp::kMul), 0.5)) {
        if (auto r = one_plus(b); r && r->first == *x) return r;
      }
      if (auto u = other_than_scalar(binary(b, BinaryOp::kMul), 0.5)) {
        if (auto r = one_plus(*u); r && r->first == a) return r;
      }
      // 0.5 * (x * (1 + inner(x)))
      if (is_scalar(a, 0.5)) {
        if (const ir::Layer* m = binary(b, BinaryOp::kMul)) {
          for (int j = 0; j < 2; ++j) {
            if (auto r = one_plus(m->inputs[static_cast<size_t>(1 - j)]);
                r && r->first == m->inputs[static_cast<size_t>(j)])
              return r;
          }
        }
      }
    }
    return std::nullopt;
  }

 private:
  const ir::Graph& g_;
  std::vector<int> readers_;
};

}  // namespace

Status recognize_gelu(ir::Graph& g, const PassContext& ctx) {
  Matcher m(g);
  GraphRewriter rw(g);
  int found = 0;
  for (size_t li = 0; li < g.layers.size(); ++li) {
    const ir::Layer& l = g.layers[li];
    auto r = m.root(l);
    const TensorType& out = g.tensors[static_cast<size_t>(l.outputs[0])].type;
    const TensorType& in = r ? g.tensors[static_cast<size_t>(r->first)].type : out;
    // Same dims and dtype as x: the scalars did not broadcast or promote anything.
    if (!r || in.dims != out.dims || in.dtype != out.dtype || !is_floating(out.dtype)) {
      KILN_RETURN_IF_ERROR(rw.copy_layer(li));
      continue;
    }
    UnaryParams p;
    p.op = r->second;
    KILN_ASSIGN_OR_RETURN(auto y, rw.add(ir::OpKind::kUnary, p, {rw.map(r->first)}, l.name));
    rw.set_map(l.outputs[0], y[0]);
    ++found;
  }
  if (found == 0) return {};
  ctx.logger.log(Severity::kInfo, "[passes.recognize_gelu] " + std::to_string(found) +
                                      " GELU chain(s) became one layer each");
  KILN_ASSIGN_OR_RETURN(auto out, rw.finish());
  g = std::move(out);
  // The chains' other layers are dead now; remove_dead_layers runs next.
  return {};
}

}  // namespace kiln::passes
