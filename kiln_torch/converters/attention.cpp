// Attention: scaled_dot_product_attention (bool / float masks, is_causal, scale, enable_gqa) on
// Kiln's attention layer — also in the backend-specific spellings torch.export decomposes it into
// (_scaled_dot_product_{flash,efficient,cudnn}_attention on CUDA tensors,
// ..._flash_attention_for_cpu on CPU; their extra outputs must be unused) — and baddbmm (beta *
// self + alpha * batch1 @ batch2, the scores of many attention implementations).
#include <algorithm>
#include <cmath>
#include <limits>

#include "converters/families.h"

namespace kiln::bridge {
namespace {

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
  KILN_ASSIGN_OR_RETURN(auto u, ctx.net.add_unsqueeze(x, {r - 2}));  // [..., H, 1, S, E]
  std::vector<int64_t> shape(static_cast<size_t>(r + 1), -1);
  shape[static_cast<size_t>(r - 2)] = groups;
  KILN_ASSIGN_OR_RETURN(auto e, ctx.net.add_expand(u, shape));
  return ctx.net.add_flatten(e, r - 3, r - 2);
}

// [..., Hq, L, E] -> [..., Hk, Hq / Hk, L, E]: the query heads grouped by the key/value head they
// read. Dynamic dims go through a shape tensor.
Expected<kiln::Tensor> group_heads(ConversionCtx& ctx, kiln::Tensor q, int64_t hk) {
  const int r = ctx.rank(q);
  const Dims d = ctx.dims(q);
  const int64_t groups = d[r - 3] / hk;
  std::vector<int64_t> shape(d.begin(), d.end());
  shape[static_cast<size_t>(r - 3)] = groups;
  shape.insert(shape.begin() + (r - 3), hk);
  if (std::count(shape.begin(), shape.end(), int64_t{-1}) <= 1)
    return ctx.net.add_reshape(q, shape);
  KILN_ASSIGN_OR_RETURN(auto full, ctx.net.add_shape(q));
  std::vector<kiln::Tensor> parts;
  auto pick = [&](std::vector<int64_t> idx) -> Status {
    KILN_ASSIGN_OR_RETURN(auto i, ctx.net.add_int_vector(idx));
    KILN_ASSIGN_OR_RETURN(auto g, ctx.net.add_gather(full, i, 0));
    parts.push_back(g);
    return {};
  };
  std::vector<int64_t> lead;
  for (int i = 0; i < r - 3; ++i) lead.push_back(i);
  if (!lead.empty()) KILN_RETURN_IF_ERROR(pick(lead));
  KILN_ASSIGN_OR_RETURN(auto mid, ctx.net.add_int_vector({hk, groups}));
  parts.push_back(mid);
  KILN_RETURN_IF_ERROR(pick({r - 2, r - 1}));
  KILN_ASSIGN_OR_RETURN(auto target, ctx.net.add_concat(parts, 0));
  return ctx.net.add_reshape_dynamic(q, target);
}

// Where each spelling keeps its arguments (-1: it has none).
struct SdpaArgs {
  int mask, dropout, causal, scale, gqa;
};
// scaled_dot_product_attention(q, k, v, attn_mask?, dropout_p, is_causal, *, scale?, enable_gqa)
constexpr SdpaArgs kSdpa{3, 4, 5, 6, 7};
// _scaled_dot_product_flash_attention(q, k, v, dropout_p, is_causal, return_debug_mask, *, scale?)
constexpr SdpaArgs kFlash{-1, 3, 4, 6, -1};
// _scaled_dot_product_efficient_attention(q, k, v, attn_bias?, compute_log_sumexp, dropout_p,
// is_causal, *, scale?)
constexpr SdpaArgs kEfficient{3, 5, 6, 7, -1};
// _scaled_dot_product_cudnn_attention(q, k, v, attn_bias?, compute_log_sumexp, dropout_p,
// is_causal,
//                                     return_debug_mask, *, scale?)
constexpr SdpaArgs kCudnn{3, 5, 6, 8, -1};
// _scaled_dot_product_flash_attention_for_cpu(q, k, v, dropout_p, is_causal, *, attn_mask?, scale?)
constexpr SdpaArgs kFlashCpu{5, 3, 4, 6, -1};

bool absent(ConversionCtx& ctx, const Node& n, int i) {
  return i < 0 || static_cast<size_t>(i) >= n.inputs.size() ||
         ctx.is_none(n, static_cast<size_t>(i));
}

Status sdpa_impl(ConversionCtx& ctx, const Node& n, const SdpaArgs& pos) {
  KILN_ASSIGN_OR_RETURN(auto q, ctx.tensor(n, 0));
  KILN_ASSIGN_OR_RETURN(auto k, ctx.tensor(n, 1));
  KILN_ASSIGN_OR_RETURN(auto v, ctx.tensor(n, 2));
  kiln::Tensor mask;
  if (!absent(ctx, n, pos.mask)) {
    KILN_ASSIGN_OR_RETURN(mask, ctx.optional_tensor(n, static_cast<size_t>(pos.mask)));
  }
  KILN_ASSIGN_OR_RETURN(auto causal, ctx.const_bool(n, static_cast<size_t>(pos.causal)));
  double scale = 0.0;
  if (!absent(ctx, n, pos.scale)) {
    KILN_ASSIGN_OR_RETURN(auto s, ctx.const_double(n, static_cast<size_t>(pos.scale)));
    scale = s;
  }
  bool gqa = false;
  if (!absent(ctx, n, pos.gqa)) {
    KILN_ASSIGN_OR_RETURN(auto g, ctx.const_bool(n, static_cast<size_t>(pos.gqa)));
    gqa = g;
  }
  DataType dt = ctx.dtype(q);
  if (!is_floating(dt)) return ctx.error(n, "query must be a float tensor");
  int rank = std::max({ctx.rank(q), ctx.rank(k), ctx.rank(v)});
  kiln::Tensor tq = q, tk = k, tv = v;
  for (kiln::Tensor* t : {&tq, &tk, &tv}) {
    // torch requires one dtype; harmless when it already is
    KILN_ASSIGN_OR_RETURN(auto c, ctx.cast(*t, dt));
    KILN_ASSIGN_OR_RETURN(auto l, lift_rank(ctx, c, rank));
    *t = l;
  }
  kiln::Tensor m = mask;
  if (m.valid() && ctx.dtype(m) != DataType::kBool) {
    KILN_ASSIGN_OR_RETURN(auto c, ctx.cast(m, dt));
    m = c;
  }
  bool grouped = false;  // q grouped by key/value head, k/v broadcast: the output is regrouped
  if (gqa && rank >= 3) {
    int64_t hq = ctx.dims(tq)[rank - 3], hk = ctx.dims(tk)[rank - 3], hv = ctx.dims(tv)[rank - 3];
    // A dynamic head count: the capability check admitted it only with equal counts (nothing to
    // group).
    bool dynamic_heads = hq < 0 || hk < 0 || hv < 0;
    if (!dynamic_heads && (hk != hq || hv != hq)) {
      if (hk == 0 || hv == 0 || hq % hk != 0 || hq % hv != 0)
        return ctx.error(
            n, "query heads " + std::to_string(hq) + " are not a multiple of key/value heads");
      // Shared key/value heads and a mask without a head dim (a padding / causal mask, what
      // decoders pass): k and v are read in place, broadcast over each group of query heads (no
      // copy of the KV cache per step). Else k and v are repeated.
      const int mr = m.valid() ? ctx.rank(m) : 0;
      const bool mask_ok = !m.valid() || mr < 3 || ctx.dims(m)[mr - 3] == 1;
      if (hk == hv && mask_ok) {
        KILN_ASSIGN_OR_RETURN(auto gq, group_heads(ctx, tq, hk));
        KILN_ASSIGN_OR_RETURN(auto gk, ctx.net.add_unsqueeze(tk, {rank - 2}));
        KILN_ASSIGN_OR_RETURN(auto gv, ctx.net.add_unsqueeze(tv, {rank - 2}));
        tq = gq;
        tk = gk;
        tv = gv;
        if (m.valid() && mr >= 3) {
          KILN_ASSIGN_OR_RETURN(auto gm, ctx.net.add_unsqueeze(m, {mr - 2}));
          m = gm;
        }
        grouped = true;
      } else {
        KILN_ASSIGN_OR_RETURN(auto rk, repeat_heads(ctx, tk, hq / hk));
        KILN_ASSIGN_OR_RETURN(auto rv, repeat_heads(ctx, tv, hq / hv));
        tk = rk;
        tv = rv;
      }
    }
  }
  AttentionParams p;
  p.causal = causal;
  p.scale = scale;
  // torch gives 0 (not NaN) for query rows whose every key is masked out.
  p.zero_masked_rows = m.valid();
  // The spellings with auxiliary outputs (log-sum-exp, ...): nothing reads them
  // (sdpa_supported_at).
  for (size_t o = 1; o < n.outputs.size(); ++o) ctx.set_output(n, o, Arg::constant(c10::IValue()));
  if (!grouped) return set_output_tensor(ctx, n, ctx.net.add_attention(tq, tk, tv, m, p));
  KILN_ASSIGN_OR_RETURN(auto y, ctx.net.add_attention(tq, tk, tv, m, p));
  return set_output_tensor(ctx, n, ctx.net.add_flatten(y, rank - 3, rank - 2));
}

Status sdpa(ConversionCtx& ctx, const Node& n) { return sdpa_impl(ctx, n, kSdpa); }
Status sdpa_flash(ConversionCtx& ctx, const Node& n) { return sdpa_impl(ctx, n, kFlash); }
Status sdpa_efficient(ConversionCtx& ctx, const Node& n) { return sdpa_impl(ctx, n, kEfficient); }
Status sdpa_cudnn(ConversionCtx& ctx, const Node& n) { return sdpa_impl(ctx, n, kCudnn); }
Status sdpa_flash_cpu(ConversionCtx& ctx, const Node& n) { return sdpa_impl(ctx, n, kFlashCpu); }

bool none_value(const OpGraph& g, const Node& n, int i) {
  if (i < 0 || static_cast<size_t>(i) >= n.inputs.size()) return true;
  const Value& v = input_value(g, n, static_cast<size_t>(i));
  return v.kind == ValueKind::kNone || (v.constant && v.constant->isNone());
}

bool sdpa_supported_at(const OpGraph& g, const Node& n, std::string* why, const SdpaArgs& pos) {
  if (!no_float64_inputs(g, n, why)) return false;
  // The backend-specific spellings also return log-sum-exp, seeds, debug masks: only the output is
  // computed, so nothing may read the rest.
  for (size_t o = 1; o < n.outputs.size(); ++o)
    for (const Node& m : g.nodes)
      for (int in : m.inputs)
        if (in == n.outputs[o]) {
          *why = "an auxiliary output (log-sum-exp, seeds, debug mask) is read";
          return false;
        }
  const Value& drop = input_value(g, n, static_cast<size_t>(pos.dropout));
  if (!drop.constant || !(drop.constant->isDouble() || drop.constant->isInt()) ||
      drop.constant->toScalar().toDouble() != 0.0) {
    *why = "dropout_p must be a constant 0";
    return false;
  }
  const Value& causal = input_value(g, n, static_cast<size_t>(pos.causal));
  if (!causal.constant || !causal.constant->isBool()) {
    *why = "is_causal must be a constant";
    return false;
  }
  const bool has_mask = !none_value(g, n, pos.mask);
  if (has_mask && causal.constant->toBool()) {
    *why = "attn_mask together with is_causal (torch refuses it)";
    return false;
  }
  if (has_mask) {
    const Value& mask = input_value(g, n, static_cast<size_t>(pos.mask));
    if (mask.meta && mask.meta->dtype != at::kBool && !at::isFloatingType(mask.meta->dtype)) {
      *why = std::string("attn_mask of dtype ") + c10::toString(mask.meta->dtype);
      return false;
    }
  }
  if (!none_value(g, n, pos.scale)) {
    const Value& s = input_value(g, n, static_cast<size_t>(pos.scale));
    {
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
  if (pos.gqa >= 0 && static_cast<size_t>(pos.gqa) < n.inputs.size()) {
    const Value& e = input_value(g, n, static_cast<size_t>(pos.gqa));
    if (!e.constant || !e.constant->isBool()) {
      *why = "enable_gqa must be a constant";
      return false;
    }
    if (e.constant->toBool()) {
      const Value& q = input_value(g, n, 0);
      const Value& k = input_value(g, n, 1);
      const Value& v = input_value(g, n, 2);
      if (!q.meta || !k.meta || !v.meta || q.meta->opt.size() < 3)
        return true;  // rank < 3: no heads to group
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

bool sdpa_supported(const OpGraph& g, const Node& n, std::string* why) {
  return sdpa_supported_at(g, n, why, kSdpa);
}
bool flash_supported(const OpGraph& g, const Node& n, std::string* why) {
  return sdpa_supported_at(g, n, why, kFlash);
}
bool efficient_supported(const OpGraph& g, const Node& n, std::string* why) {
  return sdpa_supported_at(g, n, why, kEfficient);
}
bool cudnn_supported(const OpGraph& g, const Node& n, std::string* why) {
  return sdpa_supported_at(g, n, why, kCudnn);
}
bool flash_cpu_supported(const OpGraph& g, const Node& n, std::string* why) {
  return sdpa_supported_at(g, n, why, kFlashCpu);
}

// baddbmm(self, batch1, batch2, *, beta, alpha) = beta * self + alpha * (batch1 @ batch2)
Status baddbmm(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto b1, ctx.tensor(n, 1));
  KILN_ASSIGN_OR_RETURN(auto b2, ctx.tensor(n, 2));
  KILN_ASSIGN_OR_RETURN(auto beta, ctx.const_double(n, 3));
  KILN_ASSIGN_OR_RETURN(auto alpha, ctx.const_double(n, 4));
  auto mm = ctx.net.add_matmul(b1, b2);
  if (!mm) return set_output_tensor(ctx, n, mm);
  KILN_ASSIGN_OR_RETURN(auto prod, scale(ctx, n, *mm, alpha));
  DataType dt = ctx.dtype(prod);
  // torch ignores self (NaN and inf included) when beta is 0. self only broadcasts to the product's
  // shape (torch refuses anything else), so the output shape is the product's either way.
  if (beta == 0.0) return set_output_tensor(ctx, n, ctx.net.add_identity(prod));
  KILN_ASSIGN_OR_RETURN(auto self, ctx.tensor(n, 0));
  KILN_ASSIGN_OR_RETURN(auto s, ctx.cast(self, dt));
  KILN_ASSIGN_OR_RETURN(auto bs, scale(ctx, n, s, beta));
  return set_output_tensor(ctx, n, ctx.net.add_elementwise(bs, prod, BinaryOp::kAdd));
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
  add_converter(r, {"aten::_scaled_dot_product_flash_attention"}, sdpa_flash, flash_supported);
  add_converter(r, {"aten::_scaled_dot_product_efficient_attention"}, sdpa_efficient,
                efficient_supported);
  add_converter(r, {"aten::_scaled_dot_product_cudnn_attention"}, sdpa_cudnn, cudnn_supported);
  add_converter(r, {"aten::_scaled_dot_product_flash_attention_for_cpu"}, sdpa_flash_cpu,
                flash_cpu_supported);
  add_converter(r, {"aten::baddbmm"}, baddbmm, baddbmm_supported);
}

}  // namespace kiln::bridge
