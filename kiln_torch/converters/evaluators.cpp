// Evaluators: lists, tuples, sizes and int/float arithmetic. Static values fold at conversion time;
// runtime ints (sizes of dynamic dims) become int64 rank-0 engine tensors.
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
  auto items = items_of(ctx, n, 0);
  if (!items) return items.status();
  if (items->size() != n.outputs.size())
    return ctx.error(n, "list has " + std::to_string(items->size()) + " items, expected " + std::to_string(n.outputs.size()));
  for (size_t i = 0; i < items->size(); ++i) ctx.set_output(n, i, (*items)[i]);
  return {};
}

Status getitem(ConversionCtx& ctx, const Node& n) {
  auto items = items_of(ctx, n, 0);
  if (!items) return items.status();
  auto idx = ctx.const_int(n, 1);
  if (!idx) return idx.status();
  int64_t i = *idx < 0 ? *idx + static_cast<int64_t>(items->size()) : *idx;
  if (i < 0 || i >= static_cast<int64_t>(items->size())) return ctx.error(n, "index out of range");
  ctx.set_output(n, 0, (*items)[static_cast<size_t>(i)]);
  return {};
}

Status len(ConversionCtx& ctx, const Node& n) {
  auto items = items_of(ctx, n, 0);
  if (!items) return items.status();
  ctx.set_output(n, 0, Arg::constant(static_cast<int64_t>(items->size())));
  return {};
}

// Dim `d` of tensor t: a constant when static, else gather(shape(t), d) as an int64 rank-0 tensor.
Expected<Arg> dim_of(ConversionCtx& ctx, const Node& n, kiln::Tensor t, int64_t d) {
  Dims dims = ctx.dims(t);
  int64_t k = norm_dim(d, dims.rank());
  if (k < 0 || k >= dims.rank()) return ctx.error(n, "dim " + std::to_string(d) + " out of range");
  if (dims[static_cast<int>(k)] >= 0) return Arg::constant(dims[static_cast<int>(k)]);
  auto shp = ctx.net.add_shape(t);
  if (!shp) return shp.status();
  auto idx = ctx.net.add_scalar(static_cast<double>(k), DataType::kInt64);
  if (!idx) return idx.status();
  auto g = ctx.net.add_gather(*shp, *idx, 0);
  if (!g) return g.status();
  return Arg::tensor(*g);
}

Status size_int(ConversionCtx& ctx, const Node& n) {
  auto t = ctx.tensor(n, 0);
  if (!t) return t.status();
  auto d = ctx.const_int(n, 1);
  if (!d) return d.status();
  auto a = dim_of(ctx, n, *t, *d);
  if (!a) return a.status();
  ctx.set_output(n, 0, *a);
  return {};
}

Status size_list(ConversionCtx& ctx, const Node& n) {
  auto t = ctx.tensor(n, 0);
  if (!t) return t.status();
  std::vector<Arg> items;
  for (int d = 0; d < ctx.rank(*t); ++d) {
    auto a = dim_of(ctx, n, *t, d);
    if (!a) return a.status();
    items.push_back(*a);
  }
  ctx.set_output(n, 0, Arg::list(std::move(items)));
  return {};
}

Status dim(ConversionCtx& ctx, const Node& n) {
  auto t = ctx.tensor(n, 0);
  if (!t) return t.status();
  ctx.set_output(n, 0, Arg::constant(static_cast<int64_t>(ctx.rank(*t))));
  return {};
}

Status passthrough(ConversionCtx& ctx, const Node& n) {
  ctx.set_output(n, 0, ctx.arg(n, 0));
  return {};
}

// aten::Int / aten::Float / ScalarImplicit: constants convert, tensors cast.
Status to_number(ConversionCtx& ctx, const Node& n, DataType dt) {
  const Arg& a = ctx.arg(n, 0);
  if (a.is_constant()) {
    const c10::IValue& v = a.ivalue();
    double d = v.isTensor() ? v.toTensor().item<double>() : v.isInt() ? static_cast<double>(v.toInt()) : v.isDouble() ? v.toDouble() : v.isBool() ? v.toBool() : 0.0;
    ctx.set_output(n, 0, dt == DataType::kInt64 ? Arg::constant(static_cast<int64_t>(d)) : Arg::constant(d));
    return {};
  }
  auto t = ctx.tensor(n, 0);
  if (!t) return t.status();
  if (ctx.rank(*t) != 0) {
    auto r = ctx.net.add_reshape(*t, {});
    if (!r) return r.status();
    t = r;
  }
  auto c = ctx.cast(*t, dt);
  if (!c) return c.status();
  ctx.set_output(n, 0, *c);
  return {};
}

// Integer / float scalar arithmetic: folded when both sides are constant, else int64 tensor math.
Status scalar_binary(ConversionCtx& ctx, const Node& n, BinaryOp op, bool true_div = false) {
  const Arg &a = ctx.arg(n, 0), &b = ctx.arg(n, 1);
  bool ca = a.is_constant() && (a.ivalue().isInt() || a.ivalue().isDouble());
  bool cb = b.is_constant() && (b.ivalue().isInt() || b.ivalue().isDouble());
  if (ca && cb) {
    bool ints = a.ivalue().isInt() && b.ivalue().isInt() && !true_div;
    if (ints) {
      int64_t x = a.ivalue().toInt(), y = b.ivalue().toInt(), r = 0;
      switch (op) {
        case BinaryOp::kAdd: r = x + y; break;
        case BinaryOp::kSub: r = x - y; break;
        case BinaryOp::kMul: r = x * y; break;
        case BinaryOp::kFloorDiv: r = y == 0 ? 0 : static_cast<int64_t>(std::floor(static_cast<double>(x) / static_cast<double>(y))); break;
        case BinaryOp::kMod: r = y == 0 ? 0 : x - y * static_cast<int64_t>(std::floor(static_cast<double>(x) / static_cast<double>(y))); break;
        case BinaryOp::kMax: r = std::max(x, y); break;
        case BinaryOp::kMin: r = std::min(x, y); break;
        default: return ctx.error(n, "unsupported int op");
      }
      ctx.set_output(n, 0, Arg::constant(r));
    } else {
      double x = a.ivalue().isInt() ? static_cast<double>(a.ivalue().toInt()) : a.ivalue().toDouble();
      double y = b.ivalue().isInt() ? static_cast<double>(b.ivalue().toInt()) : b.ivalue().toDouble();
      double r = 0;
      switch (op) {
        case BinaryOp::kAdd: r = x + y; break;
        case BinaryOp::kSub: r = x - y; break;
        case BinaryOp::kMul: r = x * y; break;
        case BinaryOp::kDiv: r = x / y; break;
        case BinaryOp::kFloorDiv: r = std::floor(x / y); break;
        case BinaryOp::kPow: r = std::pow(x, y); break;
        case BinaryOp::kMax: r = std::max(x, y); break;
        case BinaryOp::kMin: r = std::min(x, y); break;
        default: return ctx.error(n, "unsupported float op");
      }
      ctx.set_output(n, 0, Arg::constant(r));
    }
    return {};
  }
  auto ta = ctx.tensor(n, 0);
  if (!ta) return ta.status();
  auto tb = ctx.tensor(n, 1);
  if (!tb) return tb.status();
  DataType dt = true_div || is_floating(ctx.dtype(*ta)) || is_floating(ctx.dtype(*tb)) ? DataType::kFloat32 : DataType::kInt64;
  auto xa = ctx.cast(*ta, dt);
  if (!xa) return xa.status();
  auto xb = ctx.cast(*tb, dt);
  if (!xb) return xb.status();
  auto r = ctx.check(n, ctx.net.add_elementwise(*xa, *xb, op));
  if (!r) return r.status();
  ctx.set_output(n, 0, *r);
  return {};
}

Status neg_scalar(ConversionCtx& ctx, const Node& n) {
  const Arg& a = ctx.arg(n, 0);
  if (a.is_constant() && a.ivalue().isInt()) {
    ctx.set_output(n, 0, Arg::constant(-a.ivalue().toInt()));
    return {};
  }
  if (a.is_constant() && a.ivalue().isDouble()) {
    ctx.set_output(n, 0, Arg::constant(-a.ivalue().toDouble()));
    return {};
  }
  auto t = ctx.tensor(n, 0);
  if (!t) return t.status();
  auto r = ctx.check(n, ctx.net.add_unary(*t, UnaryOp::kNeg));
  if (!r) return r.status();
  ctx.set_output(n, 0, *r);
  return {};
}

Status dtype_of(ConversionCtx& ctx, const Node& n) {
  auto t = ctx.tensor(n, 0);
  if (!t) return t.status();
  ctx.set_output(n, 0, Arg::constant(static_cast<int64_t>(to_torch_dtype(ctx.dtype(*t)))));
  return {};
}

Status device_of(ConversionCtx& ctx, const Node& n) {
  ctx.set_output(n, 0, Arg::constant(c10::IValue(c10::Device(c10::kCPU))));
  return {};
}

// Static scalar math on floats (ceil/floor of sizes computed in Python).
Status float_unary(ConversionCtx& ctx, const Node& n, double (*f)(double), bool to_int) {
  auto v = ctx.const_double(n, 0);
  if (!v) return ctx.error(n, "needs a constant operand");
  double r = f(*v);
  ctx.set_output(n, 0, to_int ? Arg::constant(static_cast<int64_t>(r)) : Arg::constant(r));
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
  eval(r, {"prim::NumToTensor.Scalar", "prim::NumToTensor", "aten::ScalarImplicit", "prim::unchecked_cast",
           "aten::detach", "aten::alias", "aten::lift_fresh"},
       passthrough);
  eval(r, {"aten::Int.Tensor", "aten::Int.Scalar", "aten::Int.float", "aten::IntImplicit"},
       [](ConversionCtx& c, const Node& n) { return to_number(c, n, DataType::kInt64); });
  eval(r, {"aten::Float.Tensor", "aten::Float.Scalar", "aten::Float.int", "aten::FloatImplicit"},
       [](ConversionCtx& c, const Node& n) { return to_number(c, n, DataType::kFloat32); });
  eval(r, {"aten::add.int", "aten::add.float", "aten::add", "aten::add.int_float", "aten::add.float_int"},
       [](ConversionCtx& c, const Node& n) { return scalar_binary(c, n, BinaryOp::kAdd); });
  eval(r, {"aten::sub.int", "aten::sub.float", "aten::sub"}, [](ConversionCtx& c, const Node& n) { return scalar_binary(c, n, BinaryOp::kSub); });
  eval(r, {"aten::mul.int", "aten::mul.float", "aten::mul", "aten::mul.int_float", "aten::mul.float_int"},
       [](ConversionCtx& c, const Node& n) { return scalar_binary(c, n, BinaryOp::kMul); });
  eval(r, {"aten::floordiv.int", "aten::floordiv.float", "aten::floordiv"},
       [](ConversionCtx& c, const Node& n) { return scalar_binary(c, n, BinaryOp::kFloorDiv); });
  eval(r, {"aten::div.int", "aten::div.float", "aten::div"},
       [](ConversionCtx& c, const Node& n) { return scalar_binary(c, n, BinaryOp::kDiv, true); });
  eval(r, {"aten::remainder.int"}, [](ConversionCtx& c, const Node& n) { return scalar_binary(c, n, BinaryOp::kMod); });
  eval(r, {"prim::max.int", "prim::max.float"}, [](ConversionCtx& c, const Node& n) { return scalar_binary(c, n, BinaryOp::kMax); });
  eval(r, {"prim::min.int", "prim::min.float"}, [](ConversionCtx& c, const Node& n) { return scalar_binary(c, n, BinaryOp::kMin); });
  eval(r, {"aten::pow.int_float", "aten::pow.float", "aten::pow.int"},
       [](ConversionCtx& c, const Node& n) { return scalar_binary(c, n, BinaryOp::kPow, true); });
  eval(r, {"aten::neg.int", "aten::neg.float"}, neg_scalar);
  eval(r, {"prim::dtype"}, dtype_of);
  eval(r, {"prim::device"}, device_of);
  eval(r, {"aten::floor.float"}, [](ConversionCtx& c, const Node& n) { return float_unary(c, n, [](double v) { return std::floor(v); }, true); });
  eval(r, {"aten::ceil.float"}, [](ConversionCtx& c, const Node& n) { return float_unary(c, n, [](double v) { return std::ceil(v); }, true); });
  eval(r, {"aten::sqrt.float", "aten::sqrt.int"}, [](ConversionCtx& c, const Node& n) { return float_unary(c, n, [](double v) { return std::sqrt(v); }, false); });
  eval(r, {"aten::log.float", "aten::log.int"}, [](ConversionCtx& c, const Node& n) { return float_unary(c, n, [](double v) { return std::log(v); }, false); });
  // Bookkeeping that only matters on the PyTorch side (kept there when needed).
  eval(r, {"prim::DictConstruct", "prim::RaiseException", "aten::warn", "prim::Uninitialized"},
       [](ConversionCtx& c, const Node& n) { return c.error(n, "only evaluated by PyTorch"); });
}

}  // namespace kiln::bridge
