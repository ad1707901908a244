// Core ATen math with no layer of its own, composed from existing layers: the inverse hyperbolic
// functions, log10, trunc, atan2, bitwise and/or/xor/not (logical on bools, bitwise layers on ints;
// Scalar variants too) and native_dropout in inference. Each composition is written for float32
// accuracy (log1p forms).
#include <cmath>
#include <numbers>

#include "converters/families.h"

namespace kiln::bridge {
namespace {

using T = kiln::Tensor;

// Builds a chain of layers; the first failure is kept and every later step is skipped, so a
// composition reads as straight-line math and reports its first error at the end (done()).
struct Ops {
  ConversionCtx& c;
  Status err;
  T keep(Expected<T> r) {
    if (r) return *r;
    if (err.ok()) err = r.status();
    return T{};
  }
  T u(T x, UnaryOp op) { return err.ok() ? keep(c.net.add_unary(x, op)) : T{}; }
  T b(T x, T y, BinaryOp op) { return err.ok() ? keep(c.net.add_elementwise(x, y, op)) : T{}; }
  T where(T cond, T x, T y) { return err.ok() ? keep(c.net.add_where(cond, x, y)) : T{}; }
  T k(double v, T like) { return err.ok() ? keep(c.scalar(v, c.dtype(like))) : T{}; }
  Expected<T> done(T r) const {
    if (!err.ok()) return err;
    return r;
  }
};

// A float view of input 0 (ints promote to float32, as torch's float-valued math does).
Expected<T> float_input(ConversionCtx& ctx, const Node& n, size_t i = 0) {
  auto x = ctx.tensor(n, i);
  if (!x) return x.status();
  if (is_floating(ctx.dtype(*x))) return *x;
  return ctx.cast(*x, kDefaultFloat);
}

// log10(x) = log(x) / ln(10)
Expected<T> log10_of(Ops& o, T x) {
  T l = o.u(x, UnaryOp::kLog);
  T s = o.k(1.0 / std::numbers::ln10, x);
  return o.done(o.b(l, s, BinaryOp::kMul));
}

// asinh(x) = sign(x) * log1p(|x| + x^2 / (1 + sqrt(x^2 + 1)))   (no cancellation near 0)
Expected<T> asinh_of(Ops& o, T x) {
  T a = o.u(x, UnaryOp::kAbs);
  T a2 = o.b(a, a, BinaryOp::kMul);
  T one = o.k(1.0, x);
  T p = o.b(a2, one, BinaryOp::kAdd);
  T r = o.u(p, UnaryOp::kSqrt);
  T d = o.b(r, one, BinaryOp::kAdd);
  T q = o.b(a2, d, BinaryOp::kDiv);
  T t = o.b(a, q, BinaryOp::kAdd);
  T l = o.u(t, UnaryOp::kLog1p);
  // Large |x|: x^2 overflows; log(2|x|) is exact to float precision there.
  T big = o.k(1e18, x);
  T is_big = o.b(a, big, BinaryOp::kGreater);
  T la = o.u(a, UnaryOp::kLog);
  T ln2 = o.k(std::numbers::ln2, x);
  T lb = o.b(la, ln2, BinaryOp::kAdd);
  T mag = o.where(is_big, lb, l);
  T s = o.u(x, UnaryOp::kSign);
  T zero = o.k(0.0, x);
  T is_zero = o.b(x, zero, BinaryOp::kEqual);
  T sm = o.b(s, mag, BinaryOp::kMul);
  return o.done(o.where(is_zero, x, sm));  // keeps -0.0 and avoids 0 * inf
}

// acosh(x) = log1p((x - 1) + sqrt((x - 1) * (x + 1)))   (NaN below 1 from the sqrt)
Expected<T> acosh_of(Ops& o, T x) {
  T one = o.k(1.0, x);
  T xm = o.b(x, one, BinaryOp::kSub);
  T xp = o.b(x, one, BinaryOp::kAdd);
  T pr = o.b(xm, xp, BinaryOp::kMul);
  T r = o.u(pr, UnaryOp::kSqrt);
  T t = o.b(xm, r, BinaryOp::kAdd);
  T l = o.u(t, UnaryOp::kLog1p);
  T big = o.k(1e18, x);
  T is_big = o.b(x, big, BinaryOp::kGreater);
  T lx = o.u(x, UnaryOp::kLog);
  T ln2 = o.k(std::numbers::ln2, x);
  T lb = o.b(lx, ln2, BinaryOp::kAdd);
  return o.done(o.where(is_big, lb, l));
}

// atanh(x) = 0.5 * log1p(2x / (1 - x))
Expected<T> atanh_of(Ops& o, T x) {
  T one = o.k(1.0, x);
  T two = o.k(2.0, x);
  T half = o.k(0.5, x);
  T num = o.b(x, two, BinaryOp::kMul);
  T den = o.b(one, x, BinaryOp::kSub);
  T q = o.b(num, den, BinaryOp::kDiv);
  T l = o.u(q, UnaryOp::kLog1p);
  return o.done(o.b(l, half, BinaryOp::kMul));
}

// trunc(x) = x < 0 ? ceil(x) : floor(x)
Expected<T> trunc_of(Ops& o, T x) {
  T zero = o.k(0.0, x);
  T neg = o.b(x, zero, BinaryOp::kLess);
  T c = o.u(x, UnaryOp::kCeil);
  T f = o.u(x, UnaryOp::kFloor);
  return o.done(o.where(neg, c, f));
}

// atan2(y, x) = atan(y / x) + (x < 0 ? (y < 0 ? -pi : pi) : 0); 0 where both are 0. x == 0 gives
// atan(+-inf) = +-pi/2.
Expected<T> atan2_of(Ops& o, T y, T x) {
  T q = o.b(y, x, BinaryOp::kDiv);
  T base = o.u(q, UnaryOp::kAtan);
  T zero = o.k(0.0, x);
  T pi = o.k(std::numbers::pi, x);
  T mpi = o.k(-std::numbers::pi, x);
  T x_neg = o.b(x, zero, BinaryOp::kLess);
  T y_neg = o.b(y, zero, BinaryOp::kLess);
  T turn = o.where(y_neg, mpi, pi);
  T adj = o.where(x_neg, turn, zero);
  T r = o.b(base, adj, BinaryOp::kAdd);
  T x0 = o.b(x, zero, BinaryOp::kEqual);
  T y0 = o.b(y, zero, BinaryOp::kEqual);
  T both = o.b(x0, y0, BinaryOp::kAnd);
  // atan2(0, -0) and atan2(0, negative) follow the quadrant rule above; only 0 / 0 needs a value.
  T at_zero = o.where(x_neg, turn, zero);
  return o.done(o.where(both, at_zero, r));
}

using UnaryFn = Expected<T> (*)(Ops&, T);

Status float_unary(ConversionCtx& ctx, const Node& n, UnaryFn fn) {
  auto x = float_input(ctx, n);
  if (!x) return x.status();
  Ops o{ctx, {}};
  return set_output_tensor(ctx, n, fn(o, *x));
}

Status trunc_op(ConversionCtx& ctx, const Node& n) {
  auto x = ctx.tensor(n, 0);
  if (!x) return x.status();
  if (!is_floating(ctx.dtype(*x))) return set_output_tensor(ctx, n, ctx.net.add_identity(*x));
  Ops o{ctx, {}};
  return set_output_tensor(ctx, n, trunc_of(o, *x));
}

Status atan2_op(ConversionCtx& ctx, const Node& n) {
  auto yx = ctx.promoted(n, 0, 1);
  if (!yx) return yx.status();
  auto [y, x] = *yx;
  if (!is_floating(ctx.dtype(y))) {
    auto cy = ctx.cast(y, kDefaultFloat);
    auto cx = ctx.cast(x, kDefaultFloat);
    if (!cy || !cx) return !cy ? cy.status() : cx.status();
    y = *cy;
    x = *cx;
  }
  Ops o{ctx, {}};
  return set_output_tensor(ctx, n, atan2_of(o, y, x));
}

// bitwise and/or/xor: torch's promotion, then the logical op on bools and the bitwise op on ints.
Status bitwise(ConversionCtx& ctx, const Node& n, BinaryOp logical_op, BinaryOp bit_op) {
  KILN_ASSIGN_OR_RETURN(auto ab, ctx.promoted(n, 0, 1));
  DataType dt = ctx.dtype(ab.first);
  if (is_floating(dt)) return ctx.error(n, "bitwise op on float operands");
  BinaryOp op = dt == DataType::kBool ? logical_op : bit_op;
  return set_output_tensor(ctx, n, ctx.net.add_elementwise(ab.first, ab.second, op));
}

// bitwise_not: logical not on bools, x ^ all-ones on ints.
Status bitwise_not(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  DataType dt = ctx.dtype(x);
  if (dt == DataType::kBool) return set_output_tensor(ctx, n, ctx.net.add_unary(x, UnaryOp::kNot));
  if (is_floating(dt)) return ctx.error(n, "bitwise not of a float tensor");
  KILN_ASSIGN_OR_RETURN(auto ones, ctx.scalar(dt == DataType::kUInt8 ? 255.0 : -1.0, dt));
  return set_output_tensor(ctx, n, ctx.net.add_elementwise(x, ones, BinaryOp::kBitXor));
}

/// Whether input i is a float tensor or a float Python scalar (torch refuses bitwise ops on them).
bool float_operand(const OpGraph& g, const Node& n, size_t i) {
  if (i >= n.inputs.size()) return false;
  const Value& v = input_value(g, n, i);
  if (v.constant && v.constant->isDouble()) return true;
  return v.meta && at::isFloatingType(v.meta->dtype);
}

bool integer_operands(const OpGraph& g, const Node& n, std::string* why) {
  if (float_operand(g, n, 0) || float_operand(g, n, 1)) {
    *why = "bitwise op on a float operand";
    return false;
  }
  return true;
}

// native_dropout(x, p, train) in inference: (x, all-true mask).
Status native_dropout(ConversionCtx& ctx, const Node& n) {
  auto x = ctx.tensor(n, 0);
  if (!x) return x.status();
  auto id = set_output_tensor(ctx, n, ctx.net.add_identity(*x));
  if (!id.ok()) return id;
  if (n.outputs.size() < 2) return {};
  auto shape = ctx.net.add_shape(*x);
  if (!shape) return shape.status();
  return set_output_tensor(ctx, n, ctx.net.add_fill_dynamic(*shape, 1.0, DataType::kBool), 1);
}

bool dropout_not_training(const OpGraph& g, const Node& n, std::string* why) {
  const Value& t = g.values[static_cast<size_t>(n.inputs[2])];
  if (t.constant && (t.constant->isNone() || (t.constant->isBool() && !t.constant->toBool())))
    return true;
  const Value& p = g.values[static_cast<size_t>(n.inputs[1])];
  if (p.constant && p.constant->isDouble() && p.constant->toDouble() == 0.0) return true;
  *why = "dropout in training mode (random; Kiln compiles inference: call model.eval())";
  return false;
}

}  // namespace

void register_composed_math_converters(ConverterRegistry& r) {
  add_converter(r, {"aten::log10"},
                [](ConversionCtx& c, const Node& n) { return float_unary(c, n, log10_of); });
  add_converter(r, {"aten::asinh"},
                [](ConversionCtx& c, const Node& n) { return float_unary(c, n, asinh_of); });
  add_converter(r, {"aten::acosh"},
                [](ConversionCtx& c, const Node& n) { return float_unary(c, n, acosh_of); });
  add_converter(r, {"aten::atanh"},
                [](ConversionCtx& c, const Node& n) { return float_unary(c, n, atanh_of); });
  add_converter(r, {"aten::trunc", "aten::fix"}, trunc_op);
  add_converter(r, {"aten::atan2", "aten::arctan2"}, atan2_op);
  add_converter(
      r, {"aten::bitwise_and.Tensor", "aten::bitwise_and.Scalar", "aten::__and__.Tensor"},
      [](ConversionCtx& c, const Node& n) {
        return bitwise(c, n, BinaryOp::kAnd, BinaryOp::kBitAnd);
      },
      integer_operands);
  add_converter(
      r, {"aten::bitwise_or.Tensor", "aten::bitwise_or.Scalar", "aten::__or__.Tensor"},
      [](ConversionCtx& c, const Node& n) {
        return bitwise(c, n, BinaryOp::kOr, BinaryOp::kBitOr);
      },
      integer_operands);
  add_converter(
      r, {"aten::bitwise_xor.Tensor", "aten::bitwise_xor.Scalar", "aten::__xor__.Tensor"},
      [](ConversionCtx& c, const Node& n) {
        return bitwise(c, n, BinaryOp::kXor, BinaryOp::kBitXor);
      },
      integer_operands);
  add_converter(r, {"aten::bitwise_not"}, bitwise_not, integer_operands);
  add_converter(r, {"aten::native_dropout"}, native_dropout, dropout_not_training);
}

}  // namespace kiln::bridge
