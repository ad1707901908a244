// Elementwise arithmetic, comparisons, logical ops, where/masked_fill, casts and copies.
#include <optional>

#include "converters/families.h"

namespace kiln::bridge {
namespace {

Status out(ConversionCtx& ctx, const Node& n, Expected<kiln::Tensor> r, size_t i = 0) {
  KILN_ASSIGN_OR_RETURN(auto c, ctx.check(n, std::move(r)));
  ctx.set_output(n, i, c);
  return {};
}

// a op (alpha * b): add/sub with alpha; rsub swaps the operands first.
Status add_sub(ConversionCtx& ctx, const Node& n, BinaryOp op, bool reverse = false) {
  KILN_ASSIGN_OR_RETURN(auto ab, ctx.promoted(n, 0, 1));
  auto [a, b] = ab;
  if (reverse) std::swap(a, b);  // rsub(self, other, alpha) = other - alpha * self
  if (n.inputs.size() > 2 && !ctx.is_none(n, 2)) {
    KILN_ASSIGN_OR_RETURN(auto alpha, ctx.const_double(n, 2));
    KILN_ASSIGN_OR_RETURN(auto scaled, scale(ctx, n, b, alpha));
    b = scaled;
  }
  return out(ctx, n, ctx.net.add_elementwise(a, b, op));
}

Status simple_binary(ConversionCtx& ctx, const Node& n, BinaryOp op) {
  return out(ctx, n, binary(ctx, n, 0, 1, op));
}

// a * b; on bools (torch keeps bool for bool * bool) it is logical and.
Status mul(ConversionCtx& ctx, const Node& n) {
  auto ab = ctx.promoted(n, 0, 1);
  if (!ab) return ab.status();
  BinaryOp op = ctx.dtype(ab->first) == DataType::kBool ? BinaryOp::kAnd : BinaryOp::kMul;
  return out(ctx, n, ctx.net.add_elementwise(ab->first, ab->second, op));
}

// True division: integer operands produce floats.
Status true_div(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto ab, ctx.promoted(n, 0, 1));
  auto [a, b] = ab;
  if (!is_floating(ctx.dtype(a))) {
    KILN_ASSIGN_OR_RETURN(auto ca, ctx.cast(a, kDefaultFloat));
    KILN_ASSIGN_OR_RETURN(auto cb, ctx.cast(b, kDefaultFloat));
    a = ca;
    b = cb;
  }
  return out(ctx, n, ctx.net.add_elementwise(a, b, BinaryOp::kDiv));
}

Status div_mode(ConversionCtx& ctx, const Node& n) {
  const Arg& mode = ctx.arg(n, 2);
  if (mode.is_none() || mode.empty()) return true_div(ctx, n);
  std::string m = mode.ivalue().toStringRef();
  if (m == "trunc") return simple_binary(ctx, n, BinaryOp::kTruncDiv);
  if (m == "floor") return simple_binary(ctx, n, BinaryOp::kFloorDiv);
  return ctx.error(n, "unknown rounding_mode '" + m + "'");
}

Status compare(ConversionCtx& ctx, const Node& n, BinaryOp op) { return simple_binary(ctx, n, op); }

Status logical(ConversionCtx& ctx, const Node& n, BinaryOp op) {
  KILN_ASSIGN_OR_RETURN(auto a, ctx.tensor(n, 0));
  KILN_ASSIGN_OR_RETURN(auto b, ctx.tensor(n, 1));
  KILN_ASSIGN_OR_RETURN(auto ca, ctx.cast(a, DataType::kBool));
  KILN_ASSIGN_OR_RETURN(auto cb, ctx.cast(b, DataType::kBool));
  return out(ctx, n, ctx.net.add_elementwise(ca, cb, op));
}

Status logical_not(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto a, ctx.tensor(n, 0));
  KILN_ASSIGN_OR_RETURN(auto c, ctx.cast(a, DataType::kBool));
  return out(ctx, n, ctx.net.add_unary(c, UnaryOp::kNot));
}

Status pow_op(ConversionCtx& ctx, const Node& n) {
  // x ** 2 is common (norms, GELU); a multiply is exact and cheaper.
  const Arg& e = ctx.arg(n, 1);
  if (e.is_constant() && (e.ivalue().isInt() || e.ivalue().isDouble())) {
    double p = e.ivalue().isInt() ? static_cast<double>(e.ivalue().toInt()) : e.ivalue().toDouble();
    KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
    if (p == 1.0) return out(ctx, n, ctx.net.add_identity(x));
    if (p == 2.0) return out(ctx, n, ctx.net.add_elementwise(x, x, BinaryOp::kMul));
    if (p == 0.5 && is_floating(ctx.dtype(x)))
      return out(ctx, n, ctx.net.add_unary(x, UnaryOp::kSqrt));
  }
  KILN_ASSIGN_OR_RETURN(auto ab, ctx.promoted(n, 0, 1));
  auto [a, b] = ab;
  if (!is_floating(ctx.dtype(a)) && e.is_constant() && e.ivalue().isDouble()) {
    KILN_ASSIGN_OR_RETURN(a, ctx.cast(a, kDefaultFloat));
    KILN_ASSIGN_OR_RETURN(b, ctx.cast(b, kDefaultFloat));
  }
  return out(ctx, n, ctx.net.add_elementwise(a, b, BinaryOp::kPow));
}

// where(cond, a, b) with promotion of a and b.
Status where(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto c, ctx.tensor(n, 0));
  KILN_ASSIGN_OR_RETURN(auto cb, ctx.cast(c, DataType::kBool));
  KILN_ASSIGN_OR_RETURN(auto ab, ctx.promoted(n, 1, 2));
  return out(ctx, n, ctx.net.add_where(cb, ab.first, ab.second));
}

// masked_fill(self, mask, value): where(mask, value, self) in self's dtype.
Status masked_fill(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  KILN_ASSIGN_OR_RETURN(auto m, ctx.tensor(n, 1));
  KILN_ASSIGN_OR_RETURN(auto mb, ctx.cast(m, DataType::kBool));
  KILN_ASSIGN_OR_RETURN(auto v, ctx.tensor(n, 2));
  KILN_ASSIGN_OR_RETURN(auto vc, ctx.cast(v, ctx.dtype(x)));
  return out(ctx, n, ctx.net.add_where(mb, vc, x));
}

// The dtype shape analysis recorded for output i (torch's promotion result), if any.
std::optional<DataType> recorded_dtype(const ConversionCtx& ctx, const Node& n, size_t i = 0) {
  if (i >= n.outputs.size()) return std::nullopt;
  const Value& v = ctx.graph.values[static_cast<size_t>(n.outputs[i])];
  if (!v.meta) return std::nullopt;
  return to_kiln_dtype(v.meta->dtype);
}

// clamp(x, min?, max?): min(max(x, min), max) in the promoted dtype (an int tensor clamped to float
// bounds gives floats).
Status clamp(ConversionCtx& ctx, const Node& n, bool has_min, bool has_max) {
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  size_t imin = 1, imax = has_min ? 2 : 1;
  const Arg& lo = has_min ? ctx.arg(n, imin) : Arg::constant(c10::IValue());
  const Arg& hi = has_max ? ctx.arg(n, imax) : Arg::constant(c10::IValue());
  kiln::Tensor t = x;
  auto is_num = [](const Arg& a) {
    return a.is_none() || (a.is_constant() && (a.ivalue().isInt() || a.ivalue().isDouble()));
  };
  DataType dt = ctx.dtype(t);
  if (auto rec = recorded_dtype(ctx, n)) {
    dt = *rec;
  } else if (!is_floating(dt) && ((lo.is_constant() && lo.ivalue().isDouble()) ||
                                  (hi.is_constant() && hi.ivalue().isDouble()))) {
    dt = kDefaultFloat;
  }
  KILN_ASSIGN_OR_RETURN(auto xc, ctx.cast(t, dt));
  t = xc;
  if (is_num(lo) && is_num(hi)) {
    auto val = [](const Arg& a) {
      if (a.is_none()) return std::nan("");
      return a.ivalue().isInt() ? static_cast<double>(a.ivalue().toInt()) : a.ivalue().toDouble();
    };
    return out(ctx, n, ctx.net.add_unary(t, UnaryOp::kClamp, val(lo), val(hi)));
  }
  if (has_min && !lo.is_none()) {
    KILN_ASSIGN_OR_RETURN(auto l, ctx.tensor(n, imin));
    KILN_ASSIGN_OR_RETURN(auto lc, ctx.cast(l, dt));
    KILN_ASSIGN_OR_RETURN(auto r, ctx.net.add_elementwise(t, lc, BinaryOp::kMax));
    t = r;
  }
  if (has_max && !hi.is_none()) {
    KILN_ASSIGN_OR_RETURN(auto h, ctx.tensor(n, imax));
    KILN_ASSIGN_OR_RETURN(auto hc, ctx.cast(h, dt));
    KILN_ASSIGN_OR_RETURN(auto r, ctx.net.add_elementwise(t, hc, BinaryOp::kMin));
    t = r;
  }
  return out(ctx, n, ctx.net.add_identity(t));
}

// aten::to / type conversions: only the dtype matters inside an engine.
Status to_dtype(ConversionCtx& ctx, const Node& n, size_t dtype_index) {
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  KILN_ASSIGN_OR_RETURN(auto dt, ctx.const_dtype(n, dtype_index));
  if (!dt) return out(ctx, n, ctx.net.add_identity(x));
  auto k = to_kiln_dtype(*dt);
  if (!k) return ctx.error(n, std::string("dtype ") + c10::toString(*dt) + " is not supported");
  if (ctx.dtype(x) == *k) return out(ctx, n, ctx.net.add_identity(x));
  return out(ctx, n, ctx.net.add_cast(x, *k));
}

Status copy(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  return out(ctx, n, ctx.net.add_identity(x));
}

// aten::copy(self, src, non_blocking): src in self's dtype, broadcast to self's shape.
Status copy_from(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto self, ctx.tensor(n, 0));
  KILN_ASSIGN_OR_RETURN(auto src, ctx.tensor(n, 1));
  KILN_ASSIGN_OR_RETURN(auto c, ctx.cast(src, ctx.dtype(self)));
  if (ctx.dims(c) == ctx.dims(self) && ctx.dims(self).is_static())
    return out(ctx, n, ctx.net.add_identity(c));
  KILN_ASSIGN_OR_RETURN(auto shape, ctx.net.add_shape(self));
  return out(ctx, n, ctx.net.add_expand_dynamic(c, shape));
}

// Dropout is the identity only in inference (train == false); the importer removes those already.
bool not_training(const OpGraph& g, const Node& n, std::string* why) {
  const Value& t = g.values[static_cast<size_t>(n.inputs[2])];
  if (t.constant && t.constant->isBool() && !t.constant->toBool()) return true;
  *why = "dropout in training mode";
  return false;
}

bool to_supported(const OpGraph& g, const Node& n, std::string* why) {
  // to.device / to.other keep working: device moves are no-ops inside an engine.
  for (int v : n.outputs) {
    const Value& val = g.values[static_cast<size_t>(v)];
    if (val.meta && !to_kiln_dtype(val.meta->dtype)) {
      *why = std::string("converts to ") + c10::toString(val.meta->dtype);
      return false;
    }
  }
  return true;
}

Status to_like(ConversionCtx& ctx, const Node& n) {
  // Output dtype comes from shape analysis (covers to.device, to.other, to.prim_Device).
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  const Value& v = ctx.graph.values[static_cast<size_t>(n.outputs[0])];
  DataType dt = v.meta ? *to_kiln_dtype(v.meta->dtype) : ctx.dtype(x);
  if (dt == ctx.dtype(x)) return out(ctx, n, ctx.net.add_identity(x));
  return out(ctx, n, ctx.net.add_cast(x, dt));
}

}  // namespace

Expected<kiln::Tensor> binary(ConversionCtx& ctx, const Node& n, size_t ia, size_t ib,
                              BinaryOp op) {
  KILN_ASSIGN_OR_RETURN(auto ab, ctx.promoted(n, ia, ib));
  return ctx.net.add_elementwise(ab.first, ab.second, op);
}

Expected<kiln::Tensor> scale(ConversionCtx& ctx, const Node& n, kiln::Tensor x, double alpha) {
  if (alpha == 1.0) return x;
  KILN_ASSIGN_OR_RETURN(auto s, ctx.scalar(alpha, ctx.dtype(x)));
  return ctx.net.add_elementwise(x, s, BinaryOp::kMul);
}

void register_elementwise_converters(ConverterRegistry& r) {
  add_converter(r, {"aten::add.Tensor", "aten::add.Scalar"},
                [](ConversionCtx& c, const Node& n) { return add_sub(c, n, BinaryOp::kAdd); });
  add_converter(r, {"aten::sub.Tensor", "aten::sub.Scalar"},
                [](ConversionCtx& c, const Node& n) { return add_sub(c, n, BinaryOp::kSub); });
  add_converter(r, {"aten::rsub.Tensor", "aten::rsub.Scalar"}, [](ConversionCtx& c, const Node& n) {
    return add_sub(c, n, BinaryOp::kSub, true);
  });
  add_converter(r, {"aten::mul.Tensor", "aten::mul.Scalar"}, mul);
  add_converter(r, {"aten::div.Tensor", "aten::div.Scalar", "aten::true_divide.Tensor"}, true_div);
  add_converter(r, {"aten::div.Tensor_mode", "aten::div.Scalar_mode"}, div_mode);
  add_converter(
      r, {"aten::floor_divide", "aten::floor_divide.Scalar"},
      [](ConversionCtx& c, const Node& n) { return simple_binary(c, n, BinaryOp::kFloorDiv); });
  add_converter(
      r, {"aten::remainder.Tensor", "aten::remainder.Scalar"},
      [](ConversionCtx& c, const Node& n) { return simple_binary(c, n, BinaryOp::kMod); });
  add_converter(r, {"aten::fmod.Tensor", "aten::fmod.Scalar"}, [](ConversionCtx& c, const Node& n) {
    return simple_binary(c, n, BinaryOp::kFmod);
  });
  add_converter(r, {"aten::pow.Tensor_Tensor", "aten::pow.Tensor_Scalar", "aten::pow.Scalar"},
                pow_op);
  add_converter(r, {"aten::maximum", "aten::max.other"}, [](ConversionCtx& c, const Node& n) {
    return simple_binary(c, n, BinaryOp::kMax);
  });
  add_converter(r, {"aten::minimum", "aten::min.other"}, [](ConversionCtx& c, const Node& n) {
    return simple_binary(c, n, BinaryOp::kMin);
  });
  const std::pair<const char*, BinaryOp> cmps[] = {
      {"eq", BinaryOp::kEqual},     {"ne", BinaryOp::kNotEqual}, {"lt", BinaryOp::kLess},
      {"le", BinaryOp::kLessEqual}, {"gt", BinaryOp::kGreater},  {"ge", BinaryOp::kGreaterEqual}};
  for (const auto& [name, op] : cmps) {
    BinaryOp o = op;
    std::string t = std::string("aten::") + name + ".Tensor",
                s = std::string("aten::") + name + ".Scalar";
    r.add(ConverterInfo{
        t, [o](ConversionCtx& c, const Node& n) { return compare(c, n, o); }, {}, true, false});
    r.add(ConverterInfo{
        s, [o](ConversionCtx& c, const Node& n) { return compare(c, n, o); }, {}, true, false});
  }
  add_converter(r, {"aten::logical_and"},
                [](ConversionCtx& c, const Node& n) { return logical(c, n, BinaryOp::kAnd); });
  add_converter(r, {"aten::logical_or"},
                [](ConversionCtx& c, const Node& n) { return logical(c, n, BinaryOp::kOr); });
  add_converter(r, {"aten::logical_xor"},
                [](ConversionCtx& c, const Node& n) { return logical(c, n, BinaryOp::kXor); });
  add_converter(r, {"aten::logical_not"}, logical_not);
  add_converter(r,
                {"aten::where.self", "aten::where.ScalarOther", "aten::where.ScalarSelf",
                 "aten::where.Scalar"},
                where);
  add_converter(r, {"aten::masked_fill.Scalar", "aten::masked_fill.Tensor"}, masked_fill);
  add_converter(r, {"aten::clamp", "aten::clamp.Tensor", "aten::clip"},
                [](ConversionCtx& c, const Node& n) { return clamp(c, n, true, true); });
  add_converter(r, {"aten::clamp_min", "aten::clamp_min.Tensor"},
                [](ConversionCtx& c, const Node& n) { return clamp(c, n, true, false); });
  add_converter(r, {"aten::clamp_max", "aten::clamp_max.Tensor"},
                [](ConversionCtx& c, const Node& n) { return clamp(c, n, false, true); });
  add_converter(r, {"aten::to.dtype", "aten::_to_copy"},
                [](ConversionCtx& c, const Node& n) { return to_dtype(c, n, 1); });
  add_converter(r, {"aten::to.dtype_layout"},
                [](ConversionCtx& c, const Node& n) { return to_dtype(c, n, 1); });
  add_converter(r,
                {"aten::to.device", "aten::to.other", "aten::to.prim_Device", "aten::to.prim_dtype",
                 "aten::to.prim_other", "aten::type_as"},
                to_like, to_supported);
  add_converter(r, {"aten::contiguous", "aten::clone", "aten::clone.default"}, copy);
  add_converter(r, {"aten::copy"}, copy_from);
  add_converter(r,
                {"aten::dropout", "aten::feature_dropout", "aten::alpha_dropout",
                 "aten::feature_alpha_dropout"},
                copy, not_training);
}

}  // namespace kiln::bridge
