// Evaluators: lists, tuples, sizes and int/float arithmetic. Static values fold at conversion time;
// runtime ints (sizes of dynamic dims) become int64 rank-0 engine tensors.
#include <algorithm>
#include <cmath>

#include "converters/families.h"

namespace kiln::bridge {
namespace {

void eval(ConverterRegistry& r, std::initializer_list<const char*> ops, ConvertFn fn) {
  for (const char* op : ops) r.add(ConverterInfo{op, fn, {}, true, true});
}

Status list_construct(ConversionCtx& ctx, const Node& n) {
  std::vector<Arg> items;
  for (size_t i = 0; i < n.inputs.size(); ++i) items.push_back(ctx.arg(n, i));
  ctx.set_output(n, 0, Arg::list(std::move(items)));
  return {};
}

// Items of a list-like Arg (a list Arg, or a constant list / tuple).
Expected<std::vector<Arg>> items_of(const ConversionCtx& ctx, const Node& n, size_t i) {
  const Arg& a = ctx.arg(n, i);
  if (a.is_list()) return a.items();
  if (a.is_constant()) {
    const c10::IValue& v = a.ivalue();
    std::vector<Arg> out;
    if (v.isList()) {
      for (const c10::IValue& e : v.toListRef()) out.push_back(Arg::constant(e));
      return out;
    }
    if (v.isTuple()) {
      for (const c10::IValue& e : v.toTupleRef().elements()) out.push_back(Arg::constant(e));
      return out;
    }
  }
  return ctx.error(n, "input " + std::to_string(i) + " is not a list");
}

Status list_unpack(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto items, items_of(ctx, n, 0));
  if (items.size() != n.outputs.size())
    return ctx.error(n, "list has " + std::to_string(items.size()) + " items, expected " +
                            std::to_string(n.outputs.size()));
  for (size_t i = 0; i < items.size(); ++i) ctx.set_output(n, i, items[i]);
  return {};
}

Status getitem(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto items, items_of(ctx, n, 0));
  KILN_ASSIGN_OR_RETURN(auto idx, ctx.const_int(n, 1));
  int64_t i = idx < 0 ? idx + static_cast<int64_t>(items.size()) : idx;
  if (i < 0 || i >= static_cast<int64_t>(items.size())) return ctx.error(n, "index out of range");
  ctx.set_output(n, 0, items[static_cast<size_t>(i)]);
  return {};
}

Status len(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto items, items_of(ctx, n, 0));
  ctx.set_output(n, 0, Arg::constant(static_cast<int64_t>(items.size())));
  return {};
}

// Dim `d` of tensor t: a constant when static, else gather(shape(t), d) as an int64 rank-0 tensor.
Expected<Arg> dim_of(ConversionCtx& ctx, const Node& n, kiln::Tensor t, int64_t d) {
  Dims dims = ctx.dims(t);
  int64_t k = norm_dim(d, dims.rank());
  if (k < 0 || k >= dims.rank()) return ctx.error(n, "dim " + std::to_string(d) + " out of range");
  if (dims[static_cast<int>(k)] >= 0) return Arg::constant(dims[static_cast<int>(k)]);
  KILN_ASSIGN_OR_RETURN(auto shp, ctx.net.add_shape(t));
  KILN_ASSIGN_OR_RETURN(auto idx, ctx.net.add_scalar(static_cast<double>(k), DataType::kInt64));
  KILN_ASSIGN_OR_RETURN(auto g, ctx.net.add_gather(shp, idx, 0));
  return Arg::tensor(g);
}

Status size_int(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto t, ctx.tensor(n, 0));
  KILN_ASSIGN_OR_RETURN(auto d, ctx.const_int(n, 1));
  KILN_ASSIGN_OR_RETURN(auto a, dim_of(ctx, n, t, d));
  ctx.set_output(n, 0, a);
  return {};
}

Status size_list(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto t, ctx.tensor(n, 0));
  std::vector<Arg> items;
  for (int d = 0; d < ctx.rank(t); ++d) {
    KILN_ASSIGN_OR_RETURN(auto a, dim_of(ctx, n, t, d));
    items.push_back(a);
  }
  ctx.set_output(n, 0, Arg::list(std::move(items)));
  return {};
}

Status dim(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto t, ctx.tensor(n, 0));
  ctx.set_output(n, 0, Arg::constant(static_cast<int64_t>(ctx.rank(t))));
  return {};
}

Status passthrough(ConversionCtx& ctx, const Node& n) {
  ctx.set_output(n, 0, ctx.arg(n, 0));
  return {};
}

// aten::Int / aten::Float / aten::Bool / ScalarImplicit: constants convert, tensors cast.
Status to_number(ConversionCtx& ctx, const Node& n, DataType dt) {
  const Arg& a = ctx.arg(n, 0);
  if (a.is_constant()) {
    const c10::IValue& v = a.ivalue();
    c10::IValue x = v;
    if (v.isTensor()) {
      if (v.toTensor().numel() != 1)
        return ctx.error(n, "a tensor with more than one element cannot be converted to a number");
      x = v.toTensor().item();
    }
    if (!(x.isInt() || x.isDouble() || x.isBool())) return ctx.error(n, "argument is not a number");
    if (dt == DataType::kInt64) {
      int64_t i = x.isInt()    ? x.toInt()
                  : x.isBool() ? static_cast<int64_t>(x.toBool())
                               : static_cast<int64_t>(x.toDouble());
      ctx.set_output(n, 0, Arg::constant(i));
    } else if (dt == DataType::kBool) {
      bool b = x.isInt() ? x.toInt() != 0 : x.isBool() ? x.toBool() : x.toDouble() != 0.0;
      ctx.set_output(n, 0, Arg::constant(b));
    } else {
      double d = x.isInt()    ? static_cast<double>(x.toInt())
                 : x.isBool() ? static_cast<double>(x.toBool())
                              : x.toDouble();
      ctx.set_output(n, 0, Arg::constant(d));
    }
    return {};
  }
  KILN_ASSIGN_OR_RETURN(auto t, ctx.tensor(n, 0));
  if (ctx.rank(t) != 0) {
    KILN_ASSIGN_OR_RETURN(t, ctx.net.add_reshape(t, {}));
  }
  KILN_ASSIGN_OR_RETURN(auto c, ctx.cast(t, dt));
  ctx.set_output(n, 0, c);
  return {};
}

// aten::item / aten::_local_scalar_dense (what item() decomposes to): the number in a one-element
// tensor, of the tensor's category (int / float / bool). Inside an engine it stays a rank-0 tensor
// (no device-to-host read); where PyTorch needs the number (a returned scalar) the evaluator runs
// there, on the tensor the engine returns.
Status item(ConversionCtx& ctx, const Node& n) {
  const Arg& a = ctx.arg(n, 0);
  DataType dt = DataType::kFloat32;
  if (a.is_constant() && a.ivalue().isTensor()) {
    at::ScalarType st = a.ivalue().toTensor().scalar_type();
    dt = st == at::kBool                 ? DataType::kBool
         : at::isIntegralType(st, false) ? DataType::kInt64
                                         : DataType::kFloat32;
  } else if (a.is_tensor()) {
    DataType t = ctx.dtype(a.tensor());
    dt = t == DataType::kBool      ? DataType::kBool
         : t == DataType::kFloat64 ? DataType::kFloat64  // a Python float holds it exactly
         : is_floating(t)          ? DataType::kFloat32
                                   : DataType::kInt64;
  } else if (a.is_constant() && a.ivalue().isInt()) {
    dt = DataType::kInt64;
  } else if (a.is_constant() && a.ivalue().isBool()) {
    dt = DataType::kBool;
  }
  return to_number(ctx, n, dt);
}

// ---- scalar arithmetic
// ---------------------------------------------------------------------------- Folded when both
// operands are constants (exact int64 math for ints, double for floats, as Python); otherwise
// rank-0 engine tensors (int64, or float32 where Python would use float).

enum class ScalarResult : uint8_t {
  kAuto,   ///< int when both operands are ints (bools count as ints), else float
  kFloat,  ///< always float (true division, pow.int)
  kInt,    ///< always int (pow.int_to_int)
  kBool,   ///< comparisons and logical ops
};

bool is_number(const Arg& a) {
  return a.is_constant() && (a.ivalue().isInt() || a.ivalue().isDouble() || a.ivalue().isBool());
}

bool is_compare(BinaryOp op) {
  return op == BinaryOp::kEqual || op == BinaryOp::kNotEqual || op == BinaryOp::kLess ||
         op == BinaryOp::kLessEqual || op == BinaryOp::kGreater || op == BinaryOp::kGreaterEqual;
}

bool is_logical(BinaryOp op) {
  return op == BinaryOp::kAnd || op == BinaryOp::kOr || op == BinaryOp::kXor;
}

int64_t floor_div(int64_t x, int64_t y) {
  int64_t q = x / y;
  if ((x % y != 0) && ((x < 0) != (y < 0))) --q;
  return q;
}

int64_t int_pow(int64_t base, int64_t exp) {
  int64_t r = 1;
  while (exp > 0) {
    if (exp & 1) r *= base;
    base *= base;
    exp >>= 1;
  }
  return r;
}

template <class T>
bool compare_values(T x, T y, BinaryOp op) {
  switch (op) {
    case BinaryOp::kEqual:
      return x == y;
    case BinaryOp::kNotEqual:
      return x != y;
    case BinaryOp::kLess:
      return x < y;
    case BinaryOp::kLessEqual:
      return x <= y;
    case BinaryOp::kGreater:
      return x > y;
    default:
      return x >= y;
  }
}

Expected<Arg> fold_scalar(const ConversionCtx& ctx, const Node& n, const c10::IValue& a,
                          const c10::IValue& b, BinaryOp op, ScalarResult kind) {
  bool ints = !a.isDouble() && !b.isDouble();
  auto as_int = [](const c10::IValue& v) {
    return v.isBool() ? static_cast<int64_t>(v.toBool()) : v.toInt();
  };
  auto as_double = [](const c10::IValue& v) {
    return v.isDouble() ? v.toDouble()
           : v.isBool() ? static_cast<double>(v.toBool())
                        : static_cast<double>(v.toInt());
  };
  if (is_compare(op)) {
    bool r = ints ? compare_values(as_int(a), as_int(b), op)
                  : compare_values(as_double(a), as_double(b), op);
    return Arg::constant(r);
  }
  if (is_logical(op)) {
    if (a.isBool() && b.isBool()) {
      bool x = a.toBool(), y = b.toBool();
      return Arg::constant(op == BinaryOp::kAnd  ? (x && y)
                           : op == BinaryOp::kOr ? (x || y)
                                                 : (x != y));
    }
    if (!ints) return ctx.error(n, "bitwise op on floats");
    int64_t x = as_int(a), y = as_int(b);
    return Arg::constant(op == BinaryOp::kAnd ? (x & y) : op == BinaryOp::kOr ? (x | y) : (x ^ y));
  }
  if ((ints && kind == ScalarResult::kAuto) || kind == ScalarResult::kInt) {
    int64_t x = as_int(a), y = as_int(b);
    switch (op) {
      case BinaryOp::kAdd:
        return Arg::constant(x + y);
      case BinaryOp::kSub:
        return Arg::constant(x - y);
      case BinaryOp::kMul:
        return Arg::constant(x * y);
      case BinaryOp::kFloorDiv:
        if (y == 0) return ctx.error(n, "integer division by zero");
        return Arg::constant(floor_div(x, y));
      case BinaryOp::kMod:
        if (y == 0) return ctx.error(n, "integer modulo by zero");
        return Arg::constant(x - floor_div(x, y) * y);
      case BinaryOp::kMax:
        return Arg::constant(std::max(x, y));
      case BinaryOp::kMin:
        return Arg::constant(std::min(x, y));
      case BinaryOp::kPow:
        if (y < 0) return ctx.error(n, "negative integer power");
        return Arg::constant(int_pow(x, y));
      default:
        return ctx.error(n, "unsupported int op");
    }
  }
  double x = as_double(a), y = as_double(b);
  switch (op) {
    case BinaryOp::kAdd:
      return Arg::constant(x + y);
    case BinaryOp::kSub:
      return Arg::constant(x - y);
    case BinaryOp::kMul:
      return Arg::constant(x * y);
    case BinaryOp::kDiv:
      if (y == 0.0) return ctx.error(n, "division by zero");
      return Arg::constant(x / y);
    case BinaryOp::kFloorDiv:
      if (y == 0.0) return ctx.error(n, "division by zero");
      return Arg::constant(std::floor(x / y));
    case BinaryOp::kMod:
      if (y == 0.0) return ctx.error(n, "modulo by zero");
      return Arg::constant(x - std::floor(x / y) * y);
    case BinaryOp::kPow:
      return Arg::constant(std::pow(x, y));
    case BinaryOp::kMax:
      return Arg::constant(std::max(x, y));
    case BinaryOp::kMin:
      return Arg::constant(std::min(x, y));
    default:
      return ctx.error(n, "unsupported float op");
  }
}

// A scalar operand as a rank-0 engine tensor.
Expected<kiln::Tensor> scalar_tensor(ConversionCtx& ctx, const Node& n, const Arg& a) {
  kiln::Tensor t;
  if (a.is_tensor()) {
    t = a.tensor();
  } else if (a.is_constant() && a.ivalue().isInt()) {
    KILN_ASSIGN_OR_RETURN(auto c,
                          ctx.scalar(static_cast<double>(a.ivalue().toInt()), DataType::kInt64));
    t = c;
  } else if (a.is_constant() && a.ivalue().isDouble()) {
    KILN_ASSIGN_OR_RETURN(auto c, ctx.scalar(a.ivalue().toDouble(), DataType::kFloat32));
    t = c;
  } else if (a.is_constant() && a.ivalue().isBool()) {
    KILN_ASSIGN_OR_RETURN(auto c, ctx.scalar(a.ivalue().toBool() ? 1.0 : 0.0, DataType::kBool));
    t = c;
  } else if (a.is_constant() && a.ivalue().isTensor()) {
    KILN_ASSIGN_OR_RETURN(auto c, ctx.constant_tensor(a.ivalue().toTensor()));
    t = c;
  } else {
    return ctx.error(n, "operand is not a number");
  }
  if (ctx.rank(t) != 0) {
    KILN_ASSIGN_OR_RETURN(auto r, ctx.net.add_reshape(t, {}));
    t = r;
  }
  return t;
}

Expected<Arg> scalar_op(ConversionCtx& ctx, const Node& n, const Arg& a, const Arg& b, BinaryOp op,
                        ScalarResult kind) {
  if (is_number(a) && is_number(b)) return fold_scalar(ctx, n, a.ivalue(), b.ivalue(), op, kind);
  KILN_ASSIGN_OR_RETURN(auto ta, scalar_tensor(ctx, n, a));
  KILN_ASSIGN_OR_RETURN(auto tb, scalar_tensor(ctx, n, b));
  DataType da = ctx.dtype(ta), db = ctx.dtype(tb);
  DataType dt;
  if (is_logical(op)) {
    if (da != DataType::kBool || db != DataType::kBool)
      return ctx.error(n, "bitwise ops on runtime ints");
    dt = DataType::kBool;
  } else if (kind == ScalarResult::kFloat) {
    dt = DataType::kFloat32;
  } else if (kind == ScalarResult::kInt) {
    dt = DataType::kInt64;
  } else {
    dt = is_floating(da) || is_floating(db) ? DataType::kFloat32 : DataType::kInt64;
  }
  KILN_ASSIGN_OR_RETURN(auto xa, ctx.cast(ta, dt));
  KILN_ASSIGN_OR_RETURN(auto xb, ctx.cast(tb, dt));
  KILN_ASSIGN_OR_RETURN(auto r, ctx.check(n, ctx.net.add_elementwise(xa, xb, op)));
  return Arg::tensor(r);
}

Status scalar_binary(ConversionCtx& ctx, const Node& n, BinaryOp op,
                     ScalarResult kind = ScalarResult::kAuto) {
  KILN_ASSIGN_OR_RETURN(auto r, scalar_op(ctx, n, ctx.arg(n, 0), ctx.arg(n, 1), op, kind));
  ctx.set_output(n, 0, r);
  return {};
}

// prim::min / prim::max of one list (.self_int, .self_float).
Status list_extreme(ConversionCtx& ctx, const Node& n, BinaryOp op) {
  KILN_ASSIGN_OR_RETURN(auto items, items_of(ctx, n, 0));
  if (items.empty()) return ctx.error(n, "min/max of an empty list");
  Arg acc = items[0];
  for (size_t i = 1; i < items.size(); ++i) {
    KILN_ASSIGN_OR_RETURN(auto r, scalar_op(ctx, n, acc, items[i], op, ScalarResult::kAuto));
    acc = r;
  }
  ctx.set_output(n, 0, acc);
  return {};
}

// Unary scalar ops: neg, abs, not, and float -> float / int functions (floor, ceil, sqrt, log,
// round).
Status scalar_unary(ConversionCtx& ctx, const Node& n, UnaryOp op, ScalarResult kind) {
  const Arg& a = ctx.arg(n, 0);
  if (is_number(a)) {
    const c10::IValue& v = a.ivalue();
    if (op == UnaryOp::kNot) {
      ctx.set_output(n, 0,
                     Arg::constant(!(v.isBool()  ? v.toBool()
                                     : v.isInt() ? v.toInt() != 0
                                                 : v.toDouble() != 0.0)));
      return {};
    }
    bool int_in = v.isInt() || v.isBool();
    int64_t i = v.isInt() ? v.toInt() : v.isBool() ? static_cast<int64_t>(v.toBool()) : 0;
    double d = v.isDouble() ? v.toDouble() : static_cast<double>(i);
    if (int_in && (op == UnaryOp::kNeg || op == UnaryOp::kAbs) && kind != ScalarResult::kFloat) {
      ctx.set_output(n, 0, Arg::constant(op == UnaryOp::kNeg ? -i : (i < 0 ? -i : i)));
      return {};
    }
    double r = 0;
    switch (op) {
      case UnaryOp::kNeg:
        r = -d;
        break;
      case UnaryOp::kAbs:
        r = std::fabs(d);
        break;
      case UnaryOp::kFloor:
        r = std::floor(d);
        break;
      case UnaryOp::kCeil:
        r = std::ceil(d);
        break;
      case UnaryOp::kSqrt:
        r = std::sqrt(d);
        break;
      case UnaryOp::kLog:
        r = std::log(d);
        break;
      case UnaryOp::kExp:
        r = std::exp(d);
        break;
      case UnaryOp::kRound:
        r = std::nearbyint(d);
        break;  // Python round(): ties to even
      default:
        return ctx.error(n, "unsupported scalar op");
    }
    if (kind == ScalarResult::kInt) {
      ctx.set_output(n, 0, Arg::constant(static_cast<int64_t>(r)));
    } else {
      ctx.set_output(n, 0, Arg::constant(r));
    }
    return {};
  }
  KILN_ASSIGN_OR_RETURN(auto t, scalar_tensor(ctx, n, a));
  kiln::Tensor x = t;
  if (op == UnaryOp::kNot) {
    KILN_ASSIGN_OR_RETURN(auto b, ctx.cast(x, DataType::kBool));
    x = b;
  } else if (kind == ScalarResult::kFloat ||
             (op != UnaryOp::kNeg && op != UnaryOp::kAbs)) {  // float math
    KILN_ASSIGN_OR_RETURN(auto f, ctx.cast(x, DataType::kFloat32));
    x = f;
  }
  KILN_ASSIGN_OR_RETURN(auto r, ctx.check(n, ctx.net.add_unary(x, op)));
  kiln::Tensor y = r;
  if (kind == ScalarResult::kInt && ctx.dtype(y) != DataType::kInt64) {
    KILN_ASSIGN_OR_RETURN(auto c, ctx.cast(y, DataType::kInt64));
    y = c;
  }
  ctx.set_output(n, 0, y);
  return {};
}

// aten::__is__ / aten::__isnot__: only decidable here when one side is None.
Status is_op(ConversionCtx& ctx, const Node& n, bool negate) {
  const Arg &a = ctx.arg(n, 0), &b = ctx.arg(n, 1);
  if (!a.is_none() && !b.is_none())
    return ctx.error(n, "identity comparison of two non-None values");
  bool same = a.is_none() && b.is_none();
  ctx.set_output(n, 0, Arg::constant(negate ? !same : same));
  return {};
}

// Equality of lists (the lengths are always known; entries may be runtime ints), strings and
// devices.
Status const_equal(ConversionCtx& ctx, const Node& n, bool negate) {
  const Arg &a = ctx.arg(n, 0), &b = ctx.arg(n, 1);
  auto ia = items_of(ctx, n, 0), ib = items_of(ctx, n, 1);
  if (ia && ib) {
    if (ia->size() != ib->size()) {
      ctx.set_output(n, 0, Arg::constant(negate));
      return {};
    }
    Arg acc = Arg::constant(true);
    for (size_t i = 0; i < ia->size(); ++i) {
      KILN_ASSIGN_OR_RETURN(
          auto e, scalar_op(ctx, n, (*ia)[i], (*ib)[i], BinaryOp::kEqual, ScalarResult::kBool));
      KILN_ASSIGN_OR_RETURN(auto r, scalar_op(ctx, n, acc, e, BinaryOp::kAnd, ScalarResult::kBool));
      acc = r;
    }
    if (negate) {
      if (acc.is_constant()) {
        acc = Arg::constant(!acc.ivalue().toBool());
      } else {
        KILN_ASSIGN_OR_RETURN(auto r, ctx.check(n, ctx.net.add_unary(acc.tensor(), UnaryOp::kNot)));
        acc = Arg::tensor(r);
      }
    }
    ctx.set_output(n, 0, acc);
    return {};
  }
  if (!a.is_constant() || !b.is_constant()) return ctx.error(n, "comparison needs constants");
  bool eq = a.ivalue() == b.ivalue();
  ctx.set_output(n, 0, Arg::constant(negate ? !eq : eq));
  return {};
}

// aten::add.t: list concatenation.
Status list_concat(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto a, items_of(ctx, n, 0));
  KILN_ASSIGN_OR_RETURN(auto b, items_of(ctx, n, 1));
  std::vector<Arg> out = a;
  out.insert(out.end(), b.begin(), b.end());
  ctx.set_output(n, 0, Arg::list(std::move(out)));
  return {};
}

// aten::slice.t: list[start:end:step] with Python's clamping (start/end may be None).
Status list_slice(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto items, items_of(ctx, n, 0));
  const int64_t size = static_cast<int64_t>(items.size());
  int64_t step = 1;
  if (n.inputs.size() > 3 && !ctx.is_none(n, 3)) {
    KILN_ASSIGN_OR_RETURN(auto s, ctx.const_int(n, 3));
    step = s;
  }
  if (step == 0) return ctx.error(n, "slice step cannot be zero");
  auto bound = [&](size_t i, int64_t dflt) -> Expected<int64_t> {
    if (n.inputs.size() <= i || ctx.is_none(n, i)) return dflt;
    KILN_ASSIGN_OR_RETURN(auto v, ctx.const_int(n, i));
    int64_t b = v < 0 ? v + size : v;
    return step > 0 ? std::clamp<int64_t>(b, 0, size) : std::clamp<int64_t>(b, -1, size - 1);
  };
  KILN_ASSIGN_OR_RETURN(auto start, bound(1, step > 0 ? 0 : size - 1));
  KILN_ASSIGN_OR_RETURN(auto end, bound(2, step > 0 ? size : -1));
  std::vector<Arg> out;
  for (int64_t i = start; step > 0 ? i < end : i > end; i += step)
    out.push_back(items[static_cast<size_t>(i)]);
  ctx.set_output(n, 0, Arg::list(std::move(out)));
  return {};
}

// aten::mul.left_t (list * int) / aten::mul.right_ (int * list): repetition.
Status list_repeat(ConversionCtx& ctx, const Node& n, bool list_first) {
  KILN_ASSIGN_OR_RETURN(auto items, items_of(ctx, n, list_first ? 0 : 1));
  KILN_ASSIGN_OR_RETURN(auto times, ctx.const_int(n, list_first ? 1 : 0));
  std::vector<Arg> out;
  for (int64_t i = 0; i < times; ++i) out.insert(out.end(), items.begin(), items.end());
  ctx.set_output(n, 0, Arg::list(std::move(out)));
  return {};
}

// aten::numel: the product of the dims (runtime when a dim is dynamic).
Status numel(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto t, ctx.tensor(n, 0));
  Dims d = ctx.dims(t);
  if (d.is_static()) {
    ctx.set_output(n, 0, Arg::constant(d.volume()));
    return {};
  }
  KILN_ASSIGN_OR_RETURN(auto shp, ctx.net.add_shape(t));
  KILN_ASSIGN_OR_RETURN(
      auto p, ctx.check(n, ctx.net.add_reduce(shp, ReduceParams{ReduceOp::kProd, {0}, false, 1})));
  ctx.set_output(n, 0, p);
  return {};
}

Status dtype_of(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto t, ctx.tensor(n, 0));
  ctx.set_output(n, 0, Arg::constant(static_cast<int64_t>(to_torch_dtype(ctx.dtype(t)))));
  return {};
}

Status device_of(ConversionCtx& ctx, const Node& n) {
  ctx.set_output(n, 0, Arg::constant(c10::IValue(c10::Device(c10::kCPU))));
  return {};
}

}  // namespace

int64_t norm_dim(int64_t d, int rank) { return d < 0 ? d + rank : d; }

void register_evaluators(ConverterRegistry& r) {
  eval(r, {"prim::ListConstruct", "prim::TupleConstruct"}, list_construct);
  eval(r, {"prim::ListUnpack", "prim::TupleUnpack"}, list_unpack);
  eval(r, {"aten::__getitem__.t", "prim::TupleIndex"}, getitem);
  eval(r, {"aten::len.t"}, len);
  eval(r, {"aten::size.int"}, size_int);
  eval(r, {"aten::size", "prim::shape"}, size_list);
  eval(r, {"aten::dim"}, dim);
  eval(r,
       {"prim::NumToTensor.Scalar", "prim::NumToTensor", "aten::ScalarImplicit",
        "prim::unchecked_cast", "aten::detach", "aten::alias", "aten::lift_fresh"},
       passthrough);
  eval(r, {"aten::numel", "aten::sym_numel"}, numel);
  eval(r, {"aten::sym_size.int"}, size_int);
  eval(r, {"aten::sym_size"}, size_list);
  eval(r, {"aten::list.t"}, passthrough);
  eval(r, {"aten::add.t"}, list_concat);
  eval(r, {"aten::slice.t"}, list_slice);
  eval(r, {"aten::mul.left_t"},
       [](ConversionCtx& c, const Node& n) { return list_repeat(c, n, true); });
  eval(r, {"aten::mul.right_"},
       [](ConversionCtx& c, const Node& n) { return list_repeat(c, n, false); });
  eval(r,
       {"aten::Int.Tensor", "aten::Int.Scalar", "aten::Int.float", "aten::Int.bool",
        "aten::IntImplicit"},
       [](ConversionCtx& c, const Node& n) { return to_number(c, n, DataType::kInt64); });
  eval(r,
       {"aten::Float.Tensor", "aten::Float.Scalar", "aten::Float.int", "aten::Float.bool",
        "aten::FloatImplicit"},
       [](ConversionCtx& c, const Node& n) { return to_number(c, n, DataType::kFloat32); });
  eval(r, {"aten::Bool.Tensor", "aten::Bool.int", "aten::Bool.float"},
       [](ConversionCtx& c, const Node& n) { return to_number(c, n, DataType::kBool); });
  eval(r, {"aten::item", "aten::_local_scalar_dense"}, item);
  using SR = ScalarResult;
  struct BinaryEntry {
    std::initializer_list<const char*> ops;
    BinaryOp op;
    ScalarResult kind;
  };
  const BinaryEntry binaries[] = {
      {{"aten::add.int", "aten::add.float", "aten::add", "aten::add.int_float",
        "aten::add.float_int"},
       BinaryOp::kAdd,
       SR::kAuto},
      {{"aten::sub.int", "aten::sub.float", "aten::sub", "aten::sub.int_float",
        "aten::sub.float_int"},
       BinaryOp::kSub,
       SR::kAuto},
      {{"aten::mul.int", "aten::mul.float", "aten::mul", "aten::mul.int_float",
        "aten::mul.float_int"},
       BinaryOp::kMul,
       SR::kAuto},
      {{"aten::floordiv.int", "aten::floordiv.float", "aten::floordiv", "aten::floordiv.int_float",
        "aten::floordiv.float_int"},
       BinaryOp::kFloorDiv,
       SR::kAuto},
      {{"aten::div.int", "aten::div.float", "aten::div"}, BinaryOp::kDiv, SR::kFloat},
      {{"aten::remainder.int", "aten::remainder.float", "aten::remainder",
        "aten::remainder.int_float", "aten::remainder.float_int"},
       BinaryOp::kMod,
       SR::kAuto},
      {{"prim::max.int", "prim::max.float", "prim::max", "prim::max.int_float",
        "prim::max.float_int"},
       BinaryOp::kMax,
       SR::kAuto},
      {{"prim::min.int", "prim::min.float", "prim::min", "prim::min.int_float",
        "prim::min.float_int"},
       BinaryOp::kMin,
       SR::kAuto},
      {{"aten::pow.int", "aten::pow.float", "aten::pow.int_float", "aten::pow.float_int",
        "aten::pow.Scalar_Scalar"},
       BinaryOp::kPow,
       SR::kFloat},
      {{"aten::pow.int_to_int"}, BinaryOp::kPow, SR::kInt},
      // Bitwise ops on ints are not registered: Kiln has no bitwise ops for runtime ints, and
      // without a converter such nodes (and what needs their results) stay in PyTorch.
      {{"aten::__and__.bool"}, BinaryOp::kAnd, SR::kBool},
      {{"aten::__or__.bool"}, BinaryOp::kOr, SR::kBool},
      {{"aten::__xor__.bool"}, BinaryOp::kXor, SR::kBool},
  };
  for (const auto& e : binaries) {
    BinaryOp op = e.op;
    SR kind = e.kind;
    eval(r, e.ops,
         [op, kind](ConversionCtx& c, const Node& n) { return scalar_binary(c, n, op, kind); });
  }
  const std::pair<const char*, BinaryOp> cmps[] = {
      {"eq", BinaryOp::kEqual},     {"ne", BinaryOp::kNotEqual}, {"lt", BinaryOp::kLess},
      {"le", BinaryOp::kLessEqual}, {"gt", BinaryOp::kGreater},  {"ge", BinaryOp::kGreaterEqual}};
  for (const auto& [name, op] : cmps) {
    BinaryOp o = op;
    for (const char* overload : {".int", ".float", ".int_float", ".float_int", ""}) {
      r.add(ConverterInfo{
          std::string("aten::") + name + overload,
          [o](ConversionCtx& c, const Node& n) { return scalar_binary(c, n, o, SR::kBool); },
          {},
          true,
          true});
    }
  }
  eval(r, {"aten::eq.bool"}, [](ConversionCtx& c, const Node& n) {
    return scalar_binary(c, n, BinaryOp::kEqual, SR::kBool);
  });
  eval(r, {"aten::ne.bool"}, [](ConversionCtx& c, const Node& n) {
    return scalar_binary(c, n, BinaryOp::kNotEqual, SR::kBool);
  });
  eval(r,
       {"aten::eq.str", "aten::eq.int_list", "aten::eq.float_list", "aten::eq.bool_list",
        "aten::eq.device"},
       [](ConversionCtx& c, const Node& n) { return const_equal(c, n, false); });
  eval(r,
       {"aten::ne.str", "aten::ne.int_list", "aten::ne.float_list", "aten::ne.bool_list",
        "aten::ne.device"},
       [](ConversionCtx& c, const Node& n) { return const_equal(c, n, true); });
  eval(r, {"aten::__is__"}, [](ConversionCtx& c, const Node& n) { return is_op(c, n, false); });
  eval(r, {"aten::__isnot__"}, [](ConversionCtx& c, const Node& n) { return is_op(c, n, true); });
  eval(r, {"aten::__not__"}, [](ConversionCtx& c, const Node& n) {
    return scalar_unary(c, n, UnaryOp::kNot, SR::kBool);
  });
  eval(
      r, {"aten::neg.int", "aten::neg.float", "aten::neg.Scalar"},
      [](ConversionCtx& c, const Node& n) { return scalar_unary(c, n, UnaryOp::kNeg, SR::kAuto); });
  eval(
      r, {"prim::abs.int", "prim::abs.float", "prim::abs.Scalar", "prim::abs"},
      [](ConversionCtx& c, const Node& n) { return scalar_unary(c, n, UnaryOp::kAbs, SR::kAuto); });
  eval(r, {"prim::max.self_int", "prim::max.self_float"},
       [](ConversionCtx& c, const Node& n) { return list_extreme(c, n, BinaryOp::kMax); });
  eval(r, {"prim::min.self_int", "prim::min.self_float"},
       [](ConversionCtx& c, const Node& n) { return list_extreme(c, n, BinaryOp::kMin); });
  eval(r, {"prim::dtype"}, dtype_of);
  eval(r, {"prim::device"}, device_of);
  // TorchScript's math on scalars: floor/ceil of floats give ints; sqrt/log/exp give floats.
  eval(r, {"aten::floor.float", "aten::floor.int", "aten::floor.Scalar"},
       [](ConversionCtx& c, const Node& n) {
         return scalar_unary(c, n, UnaryOp::kFloor, SR::kInt);
       });
  eval(
      r, {"aten::ceil.float", "aten::ceil.int", "aten::ceil.Scalar"},
      [](ConversionCtx& c, const Node& n) { return scalar_unary(c, n, UnaryOp::kCeil, SR::kInt); });
  eval(r, {"aten::round.float", "aten::round.int", "aten::round.Scalar"},
       [](ConversionCtx& c, const Node& n) {
         return scalar_unary(c, n, UnaryOp::kRound, SR::kFloat);
       });
  eval(r, {"aten::sqrt.float", "aten::sqrt.int", "aten::sqrt.Scalar"},
       [](ConversionCtx& c, const Node& n) {
         return scalar_unary(c, n, UnaryOp::kSqrt, SR::kFloat);
       });
  eval(r, {"aten::log.float", "aten::log.int", "aten::log.Scalar"},
       [](ConversionCtx& c, const Node& n) {
         return scalar_unary(c, n, UnaryOp::kLog, SR::kFloat);
       });
  eval(r, {"aten::exp.float", "aten::exp.int", "aten::exp.Scalar"},
       [](ConversionCtx& c, const Node& n) {
         return scalar_unary(c, n, UnaryOp::kExp, SR::kFloat);
       });
  // Bookkeeping that only matters on the PyTorch side (kept there when needed).
  eval(r, {"prim::DictConstruct", "prim::RaiseException", "aten::warn", "prim::Uninitialized"},
       [](ConversionCtx& c, const Node& n) { return c.error(n, "only evaluated by PyTorch"); });
}

}  // namespace kiln::bridge
