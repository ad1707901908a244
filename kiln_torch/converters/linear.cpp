// Linear algebra: linear, matmul, mm, bmm, addmm, t.
#include "converters/families.h"

namespace kiln::bridge {
namespace {

Status set(ConversionCtx& ctx, const Node& n, Expected<kiln::Tensor> r) {
  auto c = ctx.check(n, std::move(r));
  if (!c) return c.status();
  ctx.set_output(n, 0, *c);
  return {};
}

Status linear(ConversionCtx& ctx, const Node& n) {
  auto x = ctx.tensor(n, 0);
  auto w = ctx.tensor(n, 1);
  if (!x || !w) return !x ? x.status() : w.status();
  auto b = ctx.optional_tensor(n, 2);
  if (!b) return b.status();
  auto wc = ctx.cast(*w, ctx.dtype(*x));
  if (!wc) return wc.status();
  kiln::Tensor bias = *b;
  if (bias.valid()) {
    auto bc = ctx.cast(bias, ctx.dtype(*x));
    if (!bc) return bc.status();
    bias = *bc;
  }
  return set(ctx, n, ctx.net.add_linear(*x, *wc, bias));
}

Status matmul(ConversionCtx& ctx, const Node& n) {
  auto ab = ctx.promoted(n, 0, 1);
  if (!ab) return ab.status();
  return set(ctx, n, ctx.net.add_matmul(ab->first, ab->second));
}

// addmm(bias, a, b, beta, alpha) = beta * bias + alpha * (a @ b)
Status addmm(ConversionCtx& ctx, const Node& n) {
  auto a = ctx.tensor(n, 1);
  auto b = ctx.tensor(n, 2);
  auto c = ctx.tensor(n, 0);
  if (!a || !b || !c) return !a ? a.status() : !b ? b.status() : c.status();
  double beta = 1, alpha = 1;
  if (n.inputs.size() > 3) {
    auto v = ctx.const_double(n, 3);
    if (!v) return v.status();
    beta = *v;
  }
  if (n.inputs.size() > 4) {
    auto v = ctx.const_double(n, 4);
    if (!v) return v.status();
    alpha = *v;
  }
  auto mm = ctx.net.add_matmul(*a, *b);
  if (!mm) return mm.status();
  auto sa = scale(ctx, n, *mm, alpha);
  if (!sa) return sa.status();
  auto cc = ctx.cast(*c, ctx.dtype(*sa));
  if (!cc) return cc.status();
  auto sb = scale(ctx, n, *cc, beta);
  if (!sb) return sb.status();
  return set(ctx, n, ctx.net.add_elementwise(*sa, *sb, BinaryOp::kAdd));
}

Status t(ConversionCtx& ctx, const Node& n) {
  auto x = ctx.tensor(n, 0);
  if (!x) return x.status();
  if (ctx.rank(*x) < 2) return set(ctx, n, ctx.net.add_identity(*x));
  return set(ctx, n, ctx.net.add_transpose(*x, {1, 0}));
}

}  // namespace

void register_linear_converters(ConverterRegistry& r) {
  add_converter(r, {"aten::linear"}, linear);
  add_converter(r, {"aten::matmul", "aten::mm", "aten::bmm", "aten::mm.default", "aten::bmm.default"}, matmul);
  add_converter(r, {"aten::addmm"}, addmm);
  add_converter(r, {"aten::t", "aten::numpy_T"}, t);
}

}  // namespace kiln::bridge
