// aten::_native_multi_head_attention: nn.MultiheadAttention's inference fast path (ViT and
// friends): packed in-projection, scaled dot-product attention over heads, out-projection.
#include <climits>

#include "converters/families.h"

namespace kiln::bridge {
namespace {

// [B, L, E] -> [B, H, L, D] (runtime B and L keep working through shape tensors)
Expected<kiln::Tensor> split_heads(ConversionCtx& ctx, kiln::Tensor x, int64_t heads,
                                   int64_t head_dim) {
  KILN_ASSIGN_OR_RETURN(auto shp, ctx.net.add_shape(x));
  KILN_ASSIGN_OR_RETURN(auto bl, ctx.net.add_slice(shp, SliceParams{{0}, {0}, {2}, {1}}));
  KILN_ASSIGN_OR_RETURN(auto hd, ctx.net.add_int_vector({heads, head_dim}));
  KILN_ASSIGN_OR_RETURN(auto target, ctx.net.add_concat({bl, hd}, 0));
  KILN_ASSIGN_OR_RETURN(auto r, ctx.net.add_reshape_dynamic(x, target));
  return ctx.net.add_transpose(r, {0, 2, 1, 3});
}

// (query, key, value, embed_dim, num_head, qkv_weight, qkv_bias, proj_weight, proj_bias, mask?,
//  need_weights, average_attn_weights, mask_type?) -> (out, weights)
Status native_mha(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto E, ctx.const_int(n, 3));
  KILN_ASSIGN_OR_RETURN(auto H, ctx.const_int(n, 4));
  if (H <= 0) return ctx.error(n, "num_head must be positive, got " + std::to_string(H));
  if (E % H != 0)
    return ctx.error(
        n, "embed_dim " + std::to_string(E) + " is not divisible by num_head " + std::to_string(H));
  const int64_t D = E / H;
  KILN_ASSIGN_OR_RETURN(auto q, ctx.tensor(n, 0));
  KILN_ASSIGN_OR_RETURN(auto k, ctx.tensor(n, 1));
  KILN_ASSIGN_OR_RETURN(auto v, ctx.tensor(n, 2));
  KILN_ASSIGN_OR_RETURN(auto w, ctx.tensor(n, 5));
  KILN_ASSIGN_OR_RETURN(auto b, ctx.tensor(n, 6));
  KILN_ASSIGN_OR_RETURN(auto pw, ctx.tensor(n, 7));
  KILN_ASSIGN_OR_RETURN(auto pb, ctx.tensor(n, 8));
  DataType dt = ctx.dtype(q);
  std::vector<kiln::Tensor> proj;
  const kiln::Tensor srcs[3] = {q, k, v};
  const bool packed = n.inputs[0] == n.inputs[1] && n.inputs[1] == n.inputs[2];
  if (packed) {
    // Self-attention (ViT): one GEMM with the packed [3E, E] weight, one transpose
    // [B, L, 3, H, D] -> [3, B, H, L, D], and q / k / v as slices of its leading axis (offset
    // views, no copies) instead of three GEMMs and three head transposes.
    KILN_ASSIGN_OR_RETURN(auto wc, ctx.cast(w, dt));
    KILN_ASSIGN_OR_RETURN(auto bc, ctx.cast(b, dt));
    auto y = ctx.net.add_linear(q, wc, bc);
    if (!y) return ctx.error(n, y.status().message());
    KILN_ASSIGN_OR_RETURN(auto shp, ctx.net.add_shape(*y));
    KILN_ASSIGN_OR_RETURN(auto bl, ctx.net.add_slice(shp, SliceParams{{0}, {0}, {2}, {1}}));
    KILN_ASSIGN_OR_RETURN(auto thd, ctx.net.add_int_vector({3, H, D}));
    KILN_ASSIGN_OR_RETURN(auto target, ctx.net.add_concat({bl, thd}, 0));
    KILN_ASSIGN_OR_RETURN(auto r, ctx.net.add_reshape_dynamic(*y, target));
    KILN_ASSIGN_OR_RETURN(auto t, ctx.net.add_transpose(r, {2, 0, 3, 1, 4}));
    for (int64_t i = 0; i < 3; ++i) {
      KILN_ASSIGN_OR_RETURN(auto sl, ctx.net.add_slice(t, SliceParams{{0}, {i}, {i + 1}, {1}}));
      KILN_ASSIGN_OR_RETURN(auto sq, ctx.net.add_squeeze(sl, {0}));
      proj.push_back(sq);
    }
  }
  for (int64_t i = 0; i < 3 && !packed; ++i) {
    KILN_ASSIGN_OR_RETURN(auto wi,
                          ctx.net.add_slice(w, SliceParams{{0}, {i * E}, {(i + 1) * E}, {1}}));
    KILN_ASSIGN_OR_RETURN(auto bi,
                          ctx.net.add_slice(b, SliceParams{{0}, {i * E}, {(i + 1) * E}, {1}}));
    KILN_ASSIGN_OR_RETURN(auto wc, ctx.cast(wi, dt));
    KILN_ASSIGN_OR_RETURN(auto bc, ctx.cast(bi, dt));
    auto y = ctx.net.add_linear(srcs[i], wc, bc);
    if (!y) return ctx.error(n, y.status().message());
    auto sh = split_heads(ctx, *y, H, D);
    if (!sh) return ctx.error(n, sh.status().message());
    proj.push_back(*sh);
  }
  if (proj.size() != 3)
    return ctx.error(n, "internal: " + std::to_string(proj.size()) + " projections, expected 3");
  kiln::Tensor mask;
  if (!ctx.is_none(n, 9)) {
    KILN_ASSIGN_OR_RETURN(auto m, ctx.tensor(n, 9));
    KILN_ASSIGN_OR_RETURN(auto mt, n.inputs.size() > 12 && !ctx.is_none(n, 12)
                                       ? ctx.const_int(n, 12)
                                       : Expected<int64_t>(int64_t{-1}));
    kiln::Tensor mm = m;
    int r = ctx.rank(mm);
    if (mt == 1 ||
        (mt == -1 && r == 2 && ctx.dims(mm)[0] == ctx.dims(q)[0] && ctx.dims(q).rank() == 3)) {
      // key padding mask [B, Lk]: true = ignore -> [B, 1, 1, Lk]
      KILN_ASSIGN_OR_RETURN(auto u, ctx.net.add_unsqueeze(mm, {1, 2}));
      mm = u;
    }
    if (ctx.dtype(mm) ==
        DataType::kBool) {  // torch: true means "masked out"; Kiln: true means attend
      KILN_ASSIGN_OR_RETURN(auto inv, ctx.net.add_unary(mm, UnaryOp::kNot));
      mm = inv;
    }
    mask = mm;
  }
  auto att = ctx.net.add_attention(proj[0], proj[1], proj[2], mask, AttentionParams{});
  if (!att) return ctx.error(n, att.status().message());
  KILN_ASSIGN_OR_RETURN(auto t, ctx.net.add_transpose(*att, {0, 2, 1, 3}));
  KILN_ASSIGN_OR_RETURN(auto shp, ctx.net.add_shape(q));
  KILN_ASSIGN_OR_RETURN(auto merged, ctx.net.add_reshape_dynamic(t, shp));
  KILN_ASSIGN_OR_RETURN(auto pwc, ctx.cast(pw, dt));
  KILN_ASSIGN_OR_RETURN(auto pbc, ctx.cast(pb, dt));
  KILN_ASSIGN_OR_RETURN(auto out, ctx.check(n, ctx.net.add_linear(merged, pwc, pbc)));
  ctx.set_output(n, 0, out);
  ctx.set_output(n, 1, Arg::constant(c10::IValue()));
  return {};
}

bool mha_supported(const OpGraph& g, const Node& n, std::string* why) {
  if (!no_float64_inputs(g, n, why)) return false;
  const Value& nw = g.values[static_cast<size_t>(n.inputs[10])];
  if (!nw.constant || !nw.constant->isBool() || nw.constant->toBool()) {
    if (n.outputs.size() > 1) {
      for (const Node& m : g.nodes)
        for (int v : m.inputs)
          if (v == n.outputs[1]) {
            *why = "attention weights are requested";
            return false;
          }
    }
  }
  const Value& q = g.values[static_cast<size_t>(n.inputs[0])];
  if (q.meta && q.meta->opt.size() != 3) {
    *why = "unbatched multi-head attention";
    return false;
  }
  return true;
}

}  // namespace

void register_multi_head_attention_converters(ConverterRegistry& r) {
  add_converter(r, {"aten::_native_multi_head_attention"}, native_mha, mha_supported);
}

}  // namespace kiln::bridge
