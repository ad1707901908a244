// Reductions and softmax: sum, mean, amax/amin, max/min (dim and all), prod, argmax/argmin,
// var/std, any/all, cumsum, topk, softmax, log_softmax, norm.
#include <cmath>
#include <optional>

#include "converters/families.h"

namespace kiln::bridge {
namespace {

// Optional dtype argument at index i: casts x first (torch semantics of dtype= in reductions).
Expected<kiln::Tensor> with_dtype(ConversionCtx& ctx, const Node& n, kiln::Tensor x, size_t i) {
  if (i >= n.inputs.size() || ctx.is_none(n, i)) return x;
  KILN_ASSIGN_OR_RETURN(auto dt, ctx.const_dtype(n, i));
  if (!dt) return x;
  auto k = to_kiln_dtype(*dt);
  if (!k) return ctx.error(n, "unsupported dtype");
  return ctx.cast(x, *k);
}

Expected<std::vector<int64_t>> dims_arg(ConversionCtx& ctx, const Node& n, size_t i) {
  if (i >= n.inputs.size() || ctx.is_none(n, i)) return std::vector<int64_t>{};
  return ctx.const_int_list(n, i);
}

// sum.dim_IntList(x, dim?, keepdim, dtype?) / sum(x, dtype?) ; mean likewise
Status reduce_dims(ConversionCtx& ctx, const Node& n, ReduceOp op) {
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  bool all = n.inputs.size() <= 2;  // sum(x, dtype) / mean(x, dtype)
  KILN_ASSIGN_OR_RETURN(auto axes, all ? Expected<std::vector<int64_t>>(std::vector<int64_t>{})
                                       : dims_arg(ctx, n, 1));
  bool keep = false;
  if (!all) {
    KILN_ASSIGN_OR_RETURN(auto k, ctx.const_bool(n, 2));
    keep = k;
  }
  KILN_ASSIGN_OR_RETURN(auto xt, with_dtype(ctx, n, x, all ? 1 : 3));
  kiln::Tensor t = xt;
  // torch: integer/bool sums accumulate (and return) int64; means of ints are refused by torch
  // itself.
  if ((op == ReduceOp::kSum || op == ReduceOp::kProd) && !is_floating(ctx.dtype(t))) {
    KILN_ASSIGN_OR_RETURN(auto c, ctx.cast(t, DataType::kInt64));
    t = c;
  }
  return set_output_tensor(ctx, n, ctx.net.add_reduce(t, ReduceParams{op, axes, keep, 1}));
}

// amax / amin (x, dim[], keepdim)
Status amax(ConversionCtx& ctx, const Node& n, ReduceOp op) {
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  KILN_ASSIGN_OR_RETURN(auto axes, dims_arg(ctx, n, 1));
  KILN_ASSIGN_OR_RETURN(auto keep, ctx.const_bool(n, 2));
  return set_output_tensor(ctx, n, ctx.net.add_reduce(x, ReduceParams{op, axes, keep, 1}));
}

// max.dim / min.dim (x, dim, keepdim) -> (values, indices); max / min (x) -> scalar
Status max_min(ConversionCtx& ctx, const Node& n, bool is_max) {
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  if (n.inputs.size() == 1)
    return set_output_tensor(
        ctx, n,
        ctx.net.add_reduce(x,
                           ReduceParams{is_max ? ReduceOp::kMax : ReduceOp::kMin, {}, false, 1}));
  KILN_ASSIGN_OR_RETURN(auto d, ctx.const_int(n, 1));
  KILN_ASSIGN_OR_RETURN(auto keep, ctx.const_bool(n, 2));
  KILN_RETURN_IF_ERROR(set_output_tensor(
      ctx, n,
      ctx.net.add_reduce(x, ReduceParams{is_max ? ReduceOp::kMax : ReduceOp::kMin, {d}, keep, 1}),
      0));
  if (n.outputs.size() > 1)
    KILN_RETURN_IF_ERROR(set_output_tensor(
        ctx, n,
        ctx.net.add_reduce(
            x, ReduceParams{is_max ? ReduceOp::kArgMax : ReduceOp::kArgMin, {d}, keep, 1}),
        1));
  return {};
}

// argmax / argmin (x, dim?, keepdim)
Status arg(ConversionCtx& ctx, const Node& n, ReduceOp op) {
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  KILN_ASSIGN_OR_RETURN(auto keep, ctx.const_bool(n, 2));
  if (ctx.is_none(n, 1)) {
    KILN_ASSIGN_OR_RETURN(auto f, ctx.net.add_reshape(x, {-1}));
    KILN_ASSIGN_OR_RETURN(auto r, ctx.net.add_reduce(f, ReduceParams{op, {0}, false, 1}));
    if (keep) {
      std::vector<int64_t> ones(static_cast<size_t>(ctx.rank(x)), 1);
      return set_output_tensor(ctx, n, ctx.net.add_reshape(r, ones));
    }
    return set_output_tensor(ctx, n, ctx.net.add_identity(r));
  }
  KILN_ASSIGN_OR_RETURN(auto d, ctx.const_int(n, 1));
  return set_output_tensor(ctx, n, ctx.net.add_reduce(x, ReduceParams{op, {d}, keep, 1}));
}

// var/std: .correction(x, dim?, correction?, keepdim) ; .dim(x, dim, unbiased, keepdim) ; (x,
// unbiased)
Status var_std(ConversionCtx& ctx, const Node& n, ReduceOp op) {
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  ReduceParams p;
  p.op = op;
  if (n.op.find(".correction") != std::string::npos) {
    KILN_ASSIGN_OR_RETURN(auto axes, dims_arg(ctx, n, 1));
    p.axes = axes;
    p.correction = 1;
    if (!ctx.is_none(n, 2)) {
      KILN_ASSIGN_OR_RETURN(auto c, ctx.const_double(n, 2));
      p.correction = static_cast<int64_t>(c);
    }
    KILN_ASSIGN_OR_RETURN(p.keep_dims, ctx.const_bool(n, 3));
  } else if (n.inputs.size() >= 4) {
    KILN_ASSIGN_OR_RETURN(p.axes, dims_arg(ctx, n, 1));
    KILN_ASSIGN_OR_RETURN(auto unb, ctx.const_bool(n, 2));
    p.correction = unb ? 1 : 0;
    KILN_ASSIGN_OR_RETURN(p.keep_dims, ctx.const_bool(n, 3));
  } else {
    KILN_ASSIGN_OR_RETURN(auto unb, ctx.const_bool(n, 1));
    p.correction = unb ? 1 : 0;
  }
  return set_output_tensor(ctx, n, ctx.net.add_reduce(x, p));
}

// any/all (x) / .dim(x, dim, keepdim) / .dims(x, dim[], keepdim). Any dtype reduces as "!= 0"; the
// result is bool, except uint8 inputs, which give uint8 (torch).
Status any_all(ConversionCtx& ctx, const Node& n, ReduceOp op) {
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  ReduceParams p;
  p.op = op;
  if (n.inputs.size() >= 3) {
    if (!ctx.is_none(n, 1)) {
      KILN_ASSIGN_OR_RETURN(p.axes, ctx.const_int_list(n, 1));
    }
    KILN_ASSIGN_OR_RETURN(p.keep_dims, ctx.const_bool(n, 2));
  }
  DataType in = ctx.dtype(x);
  KILN_ASSIGN_OR_RETURN(auto b, ctx.cast(x, DataType::kBool));
  kiln::Tensor t = b;
  if (ctx.rank(t) == 0) {  // a 0-d input reduces to itself
    KILN_ASSIGN_OR_RETURN(auto id, ctx.net.add_identity(t));
    t = id;
  } else {
    auto r = ctx.net.add_reduce(t, p);
    if (!r) return set_output_tensor(ctx, n, r);
    t = *r;
  }
  if (in == DataType::kUInt8)
    return set_output_tensor(ctx, n, ctx.net.add_cast(t, DataType::kUInt8));
  return set_output_tensor(ctx, n, ctx.net.add_identity(t));
}

// softmax.int(x, dim, dtype?) / _softmax(x, dim, half_to_float)
Status softmax(ConversionCtx& ctx, const Node& n, bool log) {
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  KILN_ASSIGN_OR_RETURN(auto d, ctx.const_int(n, 1));
  kiln::Tensor t = x;
  if ((n.op == "aten::softmax.int" || n.op == "aten::log_softmax.int") && n.inputs.size() > 2) {
    KILN_ASSIGN_OR_RETURN(auto c, with_dtype(ctx, n, t, 2));
    t = c;
  } else if (n.inputs.size() > 2) {  // _softmax(x, dim, half_to_float)
    KILN_ASSIGN_OR_RETURN(auto h, ctx.const_bool(n, 2));
    if (h && ctx.dtype(t) == DataType::kFloat16) {
      KILN_ASSIGN_OR_RETURN(auto c, ctx.cast(t, DataType::kFloat32));
      t = c;
    }
  }
  if (!is_floating(ctx.dtype(t))) {
    KILN_ASSIGN_OR_RETURN(auto c, ctx.cast(t, kDefaultFloat));
    t = c;
  }
  return set_output_tensor(ctx, n, ctx.net.add_softmax(t, d, log));
}

// cumsum(x, dim, dtype?)
Status cumsum(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  KILN_ASSIGN_OR_RETURN(auto d, ctx.const_int(n, 1));
  KILN_ASSIGN_OR_RETURN(auto t, with_dtype(ctx, n, x, 2));
  kiln::Tensor v = t;
  if (!is_floating(ctx.dtype(v)) && ctx.dtype(v) != DataType::kInt64 && ctx.is_none(n, 2)) {
    // torch: integer cumsum returns int64
    KILN_ASSIGN_OR_RETURN(auto c, ctx.cast(v, DataType::kInt64));
    v = c;
  }
  return set_output_tensor(ctx, n, ctx.net.add_cumsum(v, CumSumParams{d, false, false}));
}

// topk(x, k, dim, largest, sorted) -> (values, indices)
Status topk(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  TopKParams p;
  KILN_ASSIGN_OR_RETURN(p.k, ctx.const_int(n, 1));
  KILN_ASSIGN_OR_RETURN(p.axis, ctx.const_int(n, 2));
  KILN_ASSIGN_OR_RETURN(p.largest, ctx.const_bool(n, 3));
  KILN_ASSIGN_OR_RETURN(p.sorted, ctx.const_bool(n, 4));
  auto r = ctx.net.add_topk(x, p);
  if (!r) return ctx.error(n, r.status().message());
  ctx.set_output(n, 0, (*r)[0]);
  ctx.set_output(n, 1, (*r)[1]);
  return {};
}

// Constant order of a vector norm (None: 2).
std::optional<double> norm_order(const OpGraph& g, const Node& n) {
  const Value& p = g.values[static_cast<size_t>(n.inputs[1])];
  if (p.kind == ValueKind::kNone || (p.constant && p.constant->isNone())) return 2.0;
  if (p.constant && (p.constant->isDouble() || p.constant->isInt()))
    return p.constant->toScalar().toDouble();
  return std::nullopt;
}

// norm.ScalarOpt_dim(x, p?, dim, keepdim) / linalg_vector_norm(x, ord, dim?, keepdim, *, dtype?):
// (sum |x|^p)^(1/p); p = inf / -inf: max / min |x|; p = 0: the count of non-zeros.
Status norm(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  auto p = norm_order(ctx.graph, n);
  if (!p) return ctx.error(n, "the order must be a constant");
  KILN_ASSIGN_OR_RETURN(auto axes, dims_arg(ctx, n, 2));
  KILN_ASSIGN_OR_RETURN(auto keep, ctx.const_bool(n, 3));
  kiln::Tensor t = x;
  if (n.op == "aten::linalg_vector_norm" && n.inputs.size() > 4) {
    KILN_ASSIGN_OR_RETURN(auto c, with_dtype(ctx, n, t, 4));
    t = c;
  }
  ReduceParams rp{ReduceOp::kSum, axes, keep, 1};
  if (*p == 0.0) {
    KILN_ASSIGN_OR_RETURN(auto zero, ctx.scalar(0.0, ctx.dtype(t)));
    KILN_ASSIGN_OR_RETURN(auto nz, ctx.net.add_elementwise(t, zero, BinaryOp::kNotEqual));
    KILN_ASSIGN_OR_RETURN(auto f, ctx.cast(nz, ctx.dtype(t)));
    return set_output_tensor(ctx, n, ctx.net.add_reduce(f, rp));
  }
  KILN_ASSIGN_OR_RETURN(auto a, ctx.net.add_unary(t, UnaryOp::kAbs));
  if (std::isinf(*p)) {
    rp.op = *p > 0 ? ReduceOp::kMax : ReduceOp::kMin;
    return set_output_tensor(ctx, n, ctx.net.add_reduce(a, rp));
  }
  if (*p == 1.0) return set_output_tensor(ctx, n, ctx.net.add_reduce(a, rp));
  if (*p == 2.0) {
    KILN_ASSIGN_OR_RETURN(auto sq, ctx.net.add_elementwise(t, t, BinaryOp::kMul));
    KILN_ASSIGN_OR_RETURN(auto s, ctx.net.add_reduce(sq, rp));
    return set_output_tensor(ctx, n, ctx.net.add_unary(s, UnaryOp::kSqrt));
  }
  KILN_ASSIGN_OR_RETURN(auto e, ctx.scalar(*p, ctx.dtype(t)));
  KILN_ASSIGN_OR_RETURN(auto inv, ctx.scalar(1.0 / *p, ctx.dtype(t)));
  KILN_ASSIGN_OR_RETURN(auto pw, ctx.net.add_elementwise(a, e, BinaryOp::kPow));
  KILN_ASSIGN_OR_RETURN(auto s, ctx.net.add_reduce(pw, rp));
  return set_output_tensor(ctx, n, ctx.net.add_elementwise(s, inv, BinaryOp::kPow));
}

bool norm_supported(const OpGraph& g, const Node& n, std::string* why) {
  if (!norm_order(g, n)) {
    *why = "the norm order must be a constant";
    return false;
  }
  const Value& x = g.values[static_cast<size_t>(n.inputs[0])];
  if (x.meta && !at::isFloatingType(x.meta->dtype)) {
    *why = "norm of a non-float tensor";
    return false;
  }
  return true;
}

}  // namespace

void register_reduction_converters(ConverterRegistry& r) {
  add_converter(r, {"aten::sum.dim_IntList", "aten::sum"},
                [](ConversionCtx& c, const Node& n) { return reduce_dims(c, n, ReduceOp::kSum); });
  add_converter(r, {"aten::mean.dim", "aten::mean"},
                [](ConversionCtx& c, const Node& n) { return reduce_dims(c, n, ReduceOp::kMean); });
  add_converter(r, {"aten::prod"},  // prod(x, dtype?): every element
                [](ConversionCtx& c, const Node& n) { return reduce_dims(c, n, ReduceOp::kProd); });
  add_converter(r, {"aten::prod.dim_int"}, [](ConversionCtx& c, const Node& n) {
    // prod.dim_int(x, dim, keepdim, dtype): one axis
    KILN_ASSIGN_OR_RETURN(auto x, c.tensor(n, 0));
    KILN_ASSIGN_OR_RETURN(auto d, c.const_int(n, 1));
    KILN_ASSIGN_OR_RETURN(auto keep, c.const_bool(n, 2));
    KILN_ASSIGN_OR_RETURN(auto t, with_dtype(c, n, x, 3));
    kiln::Tensor v = t;
    if (!is_floating(c.dtype(v)) && c.dtype(v) != DataType::kInt64 && c.is_none(n, 3)) {
      // torch: integer products are int64
      KILN_ASSIGN_OR_RETURN(auto i, c.cast(v, DataType::kInt64));
      v = i;
    }
    return set_output_tensor(c, n,
                             c.net.add_reduce(v, ReduceParams{ReduceOp::kProd, {d}, keep, 1}));
  });
  add_converter(r, {"aten::amax"},
                [](ConversionCtx& c, const Node& n) { return amax(c, n, ReduceOp::kMax); });
  add_converter(r, {"aten::amin"},
                [](ConversionCtx& c, const Node& n) { return amax(c, n, ReduceOp::kMin); });
  add_converter(r, {"aten::max.dim", "aten::max"},
                [](ConversionCtx& c, const Node& n) { return max_min(c, n, true); });
  add_converter(r, {"aten::min.dim", "aten::min"},
                [](ConversionCtx& c, const Node& n) { return max_min(c, n, false); });
  add_converter(r, {"aten::argmax"},
                [](ConversionCtx& c, const Node& n) { return arg(c, n, ReduceOp::kArgMax); });
  add_converter(r, {"aten::argmin"},
                [](ConversionCtx& c, const Node& n) { return arg(c, n, ReduceOp::kArgMin); });
  add_converter(r, {"aten::var.correction", "aten::var.dim", "aten::var"},
                [](ConversionCtx& c, const Node& n) { return var_std(c, n, ReduceOp::kVar); });
  add_converter(r, {"aten::std.correction", "aten::std.dim", "aten::std"},
                [](ConversionCtx& c, const Node& n) { return var_std(c, n, ReduceOp::kStd); });
  add_converter(r, {"aten::any", "aten::any.dim", "aten::any.dims"},
                [](ConversionCtx& c, const Node& n) { return any_all(c, n, ReduceOp::kAny); });
  add_converter(r, {"aten::all", "aten::all.dim", "aten::all.dims"},
                [](ConversionCtx& c, const Node& n) { return any_all(c, n, ReduceOp::kAll); });
  add_converter(r, {"aten::softmax.int", "aten::_softmax"},
                [](ConversionCtx& c, const Node& n) { return softmax(c, n, false); });
  add_converter(r, {"aten::log_softmax.int", "aten::_log_softmax"},
                [](ConversionCtx& c, const Node& n) { return softmax(c, n, true); });
  add_converter(r, {"aten::cumsum"}, cumsum);
  add_converter(r, {"aten::topk"}, topk);
  add_converter(r, {"aten::norm.ScalarOpt_dim", "aten::linalg_vector_norm"}, norm, norm_supported);
}

}  // namespace kiln::bridge
