// Attention: scaled_dot_product_attention (bool / float masks, is_causal, scale, enable_gqa) on Kiln's
// attention layer, and baddbmm (beta * self + alpha * batch1 @ batch2, the scores of many attention
// implementations).
#include <cmath>
#include <limits>

#include "converters/families.h"

namespace kiln::bridge {
namespace {

const Value& input_value(const OpGraph& g, const Node& n, size_t i) { return g.values[static_cast<size_t>(n.inputs[i])]; }

// Inserts leading size-1 dims until x has `rank` dims (torch broadcasting of batch dims).
Expected<kiln::Tensor> lift_rank(ConversionCtx& ctx, kiln::Tensor x, int rank) {
  int r = ctx.rank(x);
  if (r >= rank) return x;
  std::vector<int64_t> axes;
  for (int i = 0; i < rank - r; ++i) axes.push_back(i);
  return ctx.net.add_unsqueeze(x, axes);
}

// repeat_interleave(x, groups, dim=-3): [..., H, S, E] -> [..., H * groups, S, E].
Expected<kiln::Tensor> repeat_heads(ConversionCtx& ctx, kiln::Tensor x, int64_t groups) {
  if (groups == 1) return x;
  int r = ctx.rank(x);
  auto u = ctx.net.add_unsqueeze(x, {r - 2});  // [..., H, 1, S, E]
  if (!u) return u;
  std::vector<int64_t> shape(static_cast<size_t>(r + 1), -1);
  shape[static_cast<size_t>(r - 2)] = groups;
  auto e = ctx.net.add_expand(*u, shape);
  if (!e) return e;
  return ctx.net.add_flatten(*e, r - 3, r - 2);
}

// scaled_dot_product_attention(q, k, v, attn_mask?, dropout_p, is_causal, *, scale?, enable_gqa)
Status sdpa(ConversionCtx& ctx, const Node& n) {
  auto q = ctx.tensor(n, 0);
  auto k = ctx.tensor(n, 1);
  auto v = ctx.tensor(n, 2);
  if (!q || !k || !v) return !q ? q.status() : !k ? k.status() : v.status();
  auto mask = ctx.optional_tensor(n, 3);
  if (!mask) return mask.status();
  auto causal = ctx.const_bool(n, 5);
  if (!causal) return causal.status();
  double scale = 0.0;
  if (!ctx.is_none(n, 6)) {
    auto s = ctx.const_double(n, 6);
    if (!s) return s.status();
    scale = *s;
  }
  bool gqa = false;
  if (n.inputs.size() > 7) {
    auto g = ctx.const_bool(n, 7);
    if (!g) return g.status();
    gqa = *g;
  }
  DataType dt = ctx.dtype(*q);
  if (!is_floating(dt)) return ctx.error(n, "query must be a float tensor");
  int rank = std::max({ctx.rank(*q), ctx.rank(*k), ctx.rank(*v)});
  kiln::Tensor tq = *q, tk = *k, tv = *v;
  for (kiln::Tensor* t : {&tq, &tk, &tv}) {
    auto c = ctx.cast(*t, dt);  // torch requires one dtype; harmless when it already is
    if (!c) return c.status();
    auto l = lift_rank(ctx, *c, rank);
    if (!l) return l.status();
    *t = *l;
  }
  if (gqa && rank >= 3) {
    int64_t hq = ctx.dims(tq)[rank - 3], hk = ctx.dims(tk)[rank - 3], hv = ctx.dims(tv)[rank - 3];
    if (hq < 0 || hk < 0 || hv < 0) return ctx.error(n, "enable_gqa needs static head counts");
    if (hk != hq || hv != hq) {
      if (hk == 0 || hv == 0 || hq % hk != 0 || hq % hv != 0)
        return ctx.error(n, "query heads " + std::to_string(hq) + " are not a multiple of key/value heads");
      auto rk = repeat_heads(ctx, tk, hq / hk);
      if (!rk) return rk.status();
      auto rv = repeat_heads(ctx, tv, hq / hv);
      if (!rv) return rv.status();
      tk = *rk;
      tv = *rv;
    }
  }
  kiln::Tensor m = *mask;
  if (m.valid() && ctx.dtype(m) != DataType::kBool) {
    auto c = ctx.cast(m, dt);
    if (!c) return c.status();
    m = *c;
  }
  AttentionParams p;
  p.causal = *causal;
  p.scale = scale;
  auto out = ctx.net.add_attention(tq, tk, tv, m, p);
  if (!out) return set_output_tensor(ctx, n, out);
  if (!m.valid()) return set_output_tensor(ctx, n, out);
  // torch gives 0 (not NaN) for query rows whose every key is masked out.
  kiln::Tensor attend = m;
  if (ctx.dtype(m) != DataType::kBool) {
    auto ninf = ctx.scalar(-std::numeric_limits<double>::infinity(), dt);
    if (!ninf) return ninf.status();
    auto ne = ctx.net.add_elementwise(m, *ninf, BinaryOp::kNotEqual);
    if (!ne) return ne.status();
    attend = *ne;
  }
  if (ctx.rank(attend) == 0) {
    auto u = ctx.net.add_unsqueeze(attend, {0});
    if (!u) return u.status();
    attend = *u;
  }
  auto any = ctx.net.add_reduce(attend, ReduceParams{ReduceOp::kAny, {-1}, true, 1});
  if (!any) return any.status();
  auto zero = ctx.scalar(0.0, dt);
  if (!zero) return zero.status();
  return set_output_tensor(ctx, n, ctx.net.add_where(*any, *out, *zero));
}

bool sdpa_supported(const OpGraph& g, const Node& n, std::string* why) {
  const Value& drop = input_value(g, n, 4);
  if (!drop.constant || !(drop.constant->isDouble() || drop.constant->isInt()) || drop.constant->toScalar().toDouble() != 0.0) {
    *why = "dropout_p must be a constant 0";
    return false;
  }
  const Value& causal = input_value(g, n, 5);
  if (!causal.constant || !causal.constant->isBool()) {
    *why = "is_causal must be a constant";
    return false;
  }
  const Value& mask = input_value(g, n, 3);
  bool has_mask = !(mask.kind == ValueKind::kNone || (mask.constant && mask.constant->isNone()));
  if (has_mask && causal.constant->toBool()) {
    *why = "attn_mask together with is_causal (torch refuses it)";
    return false;
  }
  if (has_mask && mask.meta && mask.meta->dtype != at::kBool && !at::isFloatingType(mask.meta->dtype)) {
    *why = std::string("attn_mask of dtype ") + c10::toString(mask.meta->dtype);
    return false;
  }
  if (n.inputs.size() > 6) {
    const Value& s = input_value(g, n, 6);
    bool none = s.kind == ValueKind::kNone || (s.constant && s.constant->isNone());
    if (!none) {
      if (!s.constant || !(s.constant->isDouble() || s.constant->isInt())) {
        *why = "scale must be a constant";
        return false;
      }
      if (s.constant->toScalar().toDouble() == 0.0) {
        *why = "scale 0";
        return false;
      }
    }
  }
  if (n.inputs.size() > 7) {
    const Value& e = input_value(g, n, 7);
    if (!e.constant || !e.constant->isBool()) {
      *why = "enable_gqa must be a constant";
      return false;
    }
    if (e.constant->toBool()) {
      const Value& q = input_value(g, n, 0);
      const Value& k = input_value(g, n, 1);
      const Value& v = input_value(g, n, 2);
      if (!q.meta || !k.meta || !v.meta || q.meta->opt.size() < 3) return true;  // rank < 3: no heads to group
      auto heads = [](const Value& x, bool* dyn) {
        const auto& m = *x.meta;
        size_t i = m.opt.size() - 3;
        if (i >= m.min.size() || m.min[i] != m.max[i]) *dyn = true;
        return m.opt[i];
      };
      bool dyn = false;
      int64_t hq = heads(q, &dyn), hk = k.meta->opt.size() >= 3 ? heads(k, &dyn) : hq,
              hv = v.meta->opt.size() >= 3 ? heads(v, &dyn) : hq;
      if ((hk != hq || hv != hq) && dyn) {
        *why = "enable_gqa with dynamic head counts";
        return false;
      }
    }
  }
  return true;
}

// baddbmm(self, batch1, batch2, *, beta, alpha) = beta * self + alpha * (batch1 @ batch2)
Status baddbmm(ConversionCtx& ctx, const Node& n) {
  auto b1 = ctx.tensor(n, 1);
  auto b2 = ctx.tensor(n, 2);
  if (!b1 || !b2) return !b1 ? b1.status() : b2.status();
  auto beta = ctx.const_double(n, 3);
  auto alpha = ctx.const_double(n, 4);
  if (!beta || !alpha) return ctx.error(n, "beta and alpha must be constants");
  auto mm = ctx.net.add_matmul(*b1, *b2);
  if (!mm) return set_output_tensor(ctx, n, mm);
  auto prod = scale(ctx, n, *mm, *alpha);
  if (!prod) return prod.status();
  DataType dt = ctx.dtype(*prod);
  // torch ignores self (NaN and inf included) when beta is 0. self only broadcasts to the product's
  // shape (torch refuses anything else), so the output shape is the product's either way.
  if (*beta == 0.0) return set_output_tensor(ctx, n, ctx.net.add_identity(*prod));
  auto self = ctx.tensor(n, 0);
  if (!self) return self.status();
  auto s = ctx.cast(*self, dt);
  if (!s) return s.status();
  auto bs = scale(ctx, n, *s, *beta);
  if (!bs) return bs.status();
  return set_output_tensor(ctx, n, ctx.net.add_elementwise(*bs, *prod, BinaryOp::kAdd));
}

bool baddbmm_supported(const OpGraph& g, const Node& n, std::string* why) {
  for (size_t i : {3, 4}) {
    const Value& v = input_value(g, n, i);
    if (!v.constant || !(v.constant->isDouble() || v.constant->isInt() || v.constant->isBool())) {
      *why = "beta and alpha must be constants";
      return false;
    }
  }
  return true;
}

}  // namespace

void register_attention_converters(ConverterRegistry& r) {
  add_converter(r, {"aten::scaled_dot_product_attention"}, sdpa, sdpa_supported);
  add_converter(r, {"aten::baddbmm"}, baddbmm, baddbmm_supported);
}

}  // namespace kiln::bridge
