// Tensor creation: zeros/ones/full/empty (+ _like and new_ variants, empty_strided), arange,
// scalar_tensor, tensor, linspace, rand/randn/randint (+ _like; seeded random fill layers). The
// output dtype is the one shape analysis saw (it follows torch's inference rules for fill values
// and dtype=None); shapes may hold runtime ints (then a shape tensor drives the fill).
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "converters/families.h"

namespace kiln::bridge {
namespace {

/// The output's dtype: from shape analysis, else the dtype argument, else `def`.
Expected<DataType> out_dtype(ConversionCtx& ctx, const Node& n, int dtype_arg, DataType def) {
  const Value& v = ctx.graph.values[static_cast<size_t>(n.outputs[0])];
  if (v.meta) {
    auto k = to_kiln_dtype(v.meta->dtype);
    if (!k)
      return ctx.error(n,
                       std::string("dtype ") + c10::toString(v.meta->dtype) + " is not supported");
    return *k;
  }
  if (dtype_arg >= 0) {
    KILN_ASSIGN_OR_RETURN(auto dt, ctx.const_dtype(n, static_cast<size_t>(dtype_arg)));
    if (dt) {
      auto k = to_kiln_dtype(*dt);
      if (!k) return ctx.error(n, std::string("dtype ") + c10::toString(*dt) + " is not supported");
      return *k;
    }
  }
  return def;
}

/// A constant fill value (nullopt when it is a runtime value).
std::optional<double> const_value(const ConversionCtx& ctx, const Node& n, size_t i) {
  const Arg& a = ctx.arg(n, i);
  if (!a.is_constant()) return std::nullopt;
  const c10::IValue& v = a.ivalue();
  if (v.isInt()) return static_cast<double>(v.toInt());
  if (v.isDouble()) return v.toDouble();
  if (v.isBool()) return v.toBool() ? 1.0 : 0.0;
  if (v.isTensor() && v.toTensor().numel() == 1) return v.toTensor().item<double>();
  return std::nullopt;
}

/// A tensor of `shape` (static or a runtime shape tensor) filled with input `value_index` (or
/// `value`).
Status fill(ConversionCtx& ctx, const Node& n, const ConversionCtx::IntList& shape, DataType dt,
            std::optional<double> value, int value_index = -1) {
  if (!value && value_index >= 0) value = const_value(ctx, n, static_cast<size_t>(value_index));
  if (value) {
    double v = dt == DataType::kBool ? (*value != 0.0 ? 1.0 : 0.0) : *value;
    if (shape.is_static) return set_output_tensor(ctx, n, ctx.net.add_fill(shape.values, v, dt));
    return set_output_tensor(ctx, n, ctx.net.add_fill_dynamic(shape.tensor, v, dt));
  }
  // A runtime fill value: broadcast it.
  KILN_ASSIGN_OR_RETURN(auto t, ctx.tensor(n, static_cast<size_t>(value_index)));
  kiln::Tensor s = t;
  if (ctx.rank(s) != 0) {
    KILN_ASSIGN_OR_RETURN(auto r, ctx.net.add_reshape(s, {}));
    s = r;
  }
  KILN_ASSIGN_OR_RETURN(auto c, ctx.cast(s, dt));
  if (shape.is_static) return set_output_tensor(ctx, n, ctx.net.add_expand(c, shape.values));
  return set_output_tensor(ctx, n, ctx.net.add_expand_dynamic(c, shape.tensor));
}

/// The shape of tensor input i as an IntList (a shape tensor when some dim is dynamic).
Expected<ConversionCtx::IntList> shape_of(ConversionCtx& ctx, const Node& n, size_t i) {
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, i));
  ConversionCtx::IntList out;
  Dims d = ctx.dims(x);
  if (d.is_static()) {
    out.values = d.to_vector();
    return out;
  }
  KILN_ASSIGN_OR_RETURN(auto s, ctx.net.add_shape(x));
  out.is_static = false;
  out.tensor = s;
  return out;
}

Expected<DataType> input_dtype(ConversionCtx& ctx, const Node& n, size_t i) {
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, i));
  return ctx.dtype(x);
}

// zeros/ones/empty(size, dtype, ...) and full(size, value, dtype, ...)
Status sized(ConversionCtx& ctx, const Node& n, std::optional<double> value) {
  KILN_ASSIGN_OR_RETURN(auto shape, ctx.int_list(n, 0));
  int dtype_arg = value ? 1 : 2;
  KILN_ASSIGN_OR_RETURN(auto dt, out_dtype(ctx, n, dtype_arg, kDefaultFloat));
  return fill(ctx, n, shape, dt, value, value ? -1 : 1);
}

// empty_strided(size, stride, dtype, ...): uninitialized memory in torch; zeros here (the strides
// describe a layout, and engine outputs are contiguous).
Status empty_strided(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto shape, ctx.int_list(n, 0));
  KILN_ASSIGN_OR_RETURN(auto dt, out_dtype(ctx, n, 2, kDefaultFloat));
  return fill(ctx, n, shape, dt, 0.0);
}

// zeros_like/ones_like/empty_like(self, dtype, ...) and full_like(self, value, dtype, ...)
Status like(ConversionCtx& ctx, const Node& n, std::optional<double> value) {
  KILN_ASSIGN_OR_RETURN(auto shape, shape_of(ctx, n, 0));
  KILN_ASSIGN_OR_RETURN(auto self_dt, input_dtype(ctx, n, 0));
  KILN_ASSIGN_OR_RETURN(auto dt, out_dtype(ctx, n, value ? 1 : 2, self_dt));
  return fill(ctx, n, shape, dt, value, value ? -1 : 1);
}

// new_zeros/new_ones/new_empty(self, size, dtype, ...) and new_full(self, size, value, dtype, ...)
Status new_sized(ConversionCtx& ctx, const Node& n, std::optional<double> value) {
  KILN_ASSIGN_OR_RETURN(auto shape, ctx.int_list(n, 1));
  KILN_ASSIGN_OR_RETURN(auto self_dt, input_dtype(ctx, n, 0));
  KILN_ASSIGN_OR_RETURN(auto dt, out_dtype(ctx, n, value ? 2 : 3, self_dt));
  return fill(ctx, n, shape, dt, value, value ? -1 : 2);
}

// arange(end) / arange.start(start, end) / arange.start_step(start, end, step), dtype after them.
Status arange(ConversionCtx& ctx, const Node& n, int nbounds) {
  ArangeParams p;
  kiln::Tensor bounds[3];
  double* fields[3] = {&p.start, &p.end, &p.step};
  int first = nbounds == 1 ? 1 : 0;  // arange(end): the end is the only bound
  bool all_int = true;
  for (int k = 0; k < nbounds; ++k) {
    auto i = static_cast<size_t>(k);
    int field = first + k;
    const Arg& a = ctx.arg(n, i);
    if (a.is_constant() && !a.ivalue().isTensor()) {
      const c10::IValue& v = a.ivalue();
      all_int &= v.isInt() || v.isBool();
      KILN_ASSIGN_OR_RETURN(auto d, ctx.const_double(n, i));
      *fields[field] = d;
      continue;
    }
    KILN_ASSIGN_OR_RETURN(auto t, ctx.tensor(n, i));
    all_int &= !is_floating(ctx.dtype(t));
    kiln::Tensor s = t;
    if (ctx.rank(s) != 0) {
      KILN_ASSIGN_OR_RETURN(auto r, ctx.net.add_reshape(s, {}));
      s = r;
    }
    bounds[field] = s;
  }
  KILN_ASSIGN_OR_RETURN(auto dt,
                        out_dtype(ctx, n, nbounds, all_int ? DataType::kInt64 : kDefaultFloat));
  p.dtype = dt;
  return set_output_tensor(ctx, n, ctx.net.add_arange(p, bounds[0], bounds[1], bounds[2]));
}

bool arange_supported(const OpGraph& g, const Node& n, std::string* why) {
  // Runtime bounds are read as integers by the engine: float runtime bounds stay in PyTorch.
  size_t nb = n.op == "aten::arange" ? 1 : n.op == "aten::arange.start" ? 2 : 3;
  for (size_t i = 0; i < nb && i < n.inputs.size(); ++i) {
    const Value& v = g.values[static_cast<size_t>(n.inputs[i])];
    if (v.constant) continue;
    if (v.kind == ValueKind::kFloat || (v.meta && at::isFloatingType(v.meta->dtype))) {
      *why = "arange with a runtime float bound";
      return false;
    }
  }
  return true;
}

// scalar_tensor(s, dtype, ...) / tensor.{int,float,bool}(t, dtype, device, requires_grad) /
// tensor(list, dtype, ...) / as_tensor
Status tensor_from(ConversionCtx& ctx, const Node& n) {
  const Arg& a = ctx.arg(n, 0);
  DataType def = kDefaultFloat;
  if (a.is_constant() &&
      n.op != "aten::scalar_tensor") {  // scalar_tensor(3) is float, tensor(3) int64
    const c10::IValue& v = a.ivalue();
    if (v.isInt() || v.isIntList()) def = DataType::kInt64;
    if (v.isBool() || v.isBoolList()) def = DataType::kBool;
  }
  KILN_ASSIGN_OR_RETURN(auto dt, out_dtype(ctx, n, 1, def));
  if (a.is_constant()) {
    const c10::IValue& v = a.ivalue();
    at::Tensor t;
    if (v.isInt() || v.isDouble() || v.isBool()) {
      t = at::scalar_tensor(v.toScalar(), at::kDouble);
    } else if (v.isIntList()) {
      t = at::tensor(v.toIntVector(), at::kLong);
    } else if (v.isDoubleList()) {
      t = at::tensor(v.toDoubleVector(), at::kDouble);
    } else if (v.isBoolList()) {
      std::vector<int64_t> b;
      for (bool x : v.toBoolList()) b.push_back(x);
      t = at::tensor(b, at::kLong);
    } else if (v.isTensor()) {
      t = v.toTensor();
    } else {
      return ctx.error(n, "unsupported constant " + v.tagKind());
    }
    KILN_ASSIGN_OR_RETURN(auto c, ctx.constant_tensor(t.to(to_torch_dtype(dt))));
    return set_output_tensor(ctx, n, ctx.net.add_identity(c));
  }
  KILN_ASSIGN_OR_RETURN(auto t, ctx.tensor(n, 0));  // a runtime scalar or a list of runtime ints
  KILN_ASSIGN_OR_RETURN(auto c, ctx.cast(t, dt));
  return set_output_tensor(ctx, n, ctx.net.add_identity(c));
}

bool tensor_supported(const OpGraph& g, const Node& n, std::string* why) {
  // Lists of runtime floats would be made int64 by list lowering: keep them in PyTorch.
  const Value& v = g.values[static_cast<size_t>(n.inputs[0])];
  if (v.constant || v.kind == ValueKind::kInt || v.kind == ValueKind::kFloat ||
      v.kind == ValueKind::kBool || v.kind == ValueKind::kIntList || v.kind == ValueKind::kTensor)
    return true;
  *why = std::string("tensor() of a ") + value_kind_name(v.kind);
  return false;
}

// linspace(start, end, steps, dtype, ...): static arguments, computed by ATen at conversion time.
Status linspace(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto s, ctx.const_double(n, 0));
  KILN_ASSIGN_OR_RETURN(auto e, ctx.const_double(n, 1));
  KILN_ASSIGN_OR_RETURN(auto k, ctx.const_int(n, 2));
  KILN_ASSIGN_OR_RETURN(auto dt, out_dtype(ctx, n, 3, kDefaultFloat));
  at::Tensor t = at::linspace(s, e, k, at::TensorOptions().dtype(to_torch_dtype(dt)));
  KILN_ASSIGN_OR_RETURN(auto c, ctx.constant_tensor(t));
  return set_output_tensor(ctx, n, ctx.net.add_identity(c));
}

bool linspace_supported(const OpGraph& g, const Node& n, std::string* why) {
  for (size_t i = 0; i < 3 && i < n.inputs.size(); ++i) {
    if (!g.is_constant(n.inputs[i])) {
      *why = "linspace with runtime arguments";
      return false;
    }
  }
  return true;
}

// fill.Scalar(self, value) / fill.Tensor(self, value) / zero(self): functional fills shaped like
// self.
Status fill_like_self(ConversionCtx& ctx, const Node& n, std::optional<double> value) {
  KILN_ASSIGN_OR_RETURN(auto shape, shape_of(ctx, n, 0));
  KILN_ASSIGN_OR_RETURN(auto dt, input_dtype(ctx, n, 0));
  return fill(ctx, n, shape, dt, value, value ? -1 : 1);
}

// The seed of random node `n`: torch's default generator seed (torch.manual_seed before compiling
// reproduces the numbers) mixed with the node's output name (two random nodes differ).
int64_t node_seed(const ConversionCtx& ctx, const Node& n) {
  uint64_t h = at::detail::getDefaultCPUGenerator().current_seed() ^ 0xCBF29CE484222325ull;
  for (char c : ctx.graph.values[static_cast<size_t>(n.outputs[0])].name)
    h = (h ^ static_cast<uint8_t>(c)) * 0x100000001B3ull;  // FNV-1a
  return static_cast<int64_t>(h);
}

/// Where a random op's arguments sit: its integer bounds (-1: none) and the size list or the tensor
/// it is shaped like; the dtype argument follows the last of them.
struct RandomArgs {
  int low = -1, high = -1;
  int size = -1, like = -1;
  int dtype() const { return std::max({low, high, size, like}) + 1; }
};

RandomArgs random_args(const std::string& op) {
  if (op == "aten::rand" || op == "aten::randn") return {-1, -1, 0, -1};
  if (op == "aten::rand_like" || op == "aten::randn_like") return {-1, -1, -1, 0};
  if (op == "aten::randint") return {-1, 0, 1, -1};
  if (op == "aten::randint.low") return {0, 1, 2, -1};
  if (op == "aten::randint_like") return {-1, 1, -1, 0};
  return {1, 2, -1, 0};  // randint_like.low_dtype
}

// rand/randn(size, dtype, ...), rand_like/randn_like(self, dtype, ...), randint[.low]([low,] high,
// size, dtype, ...), randint_like[.low_dtype](self, [low,] high, dtype, ...): a seeded random fill
// layer; the same numbers on every run of the engine.
Status random(ConversionCtx& ctx, const Node& n, FillMode mode) {
  RandomArgs pos = random_args(n.op);
  ConversionCtx::IntList shape;
  DataType def = mode == FillMode::kInteger ? DataType::kInt64 : kDefaultFloat;
  if (pos.like >= 0) {
    KILN_ASSIGN_OR_RETURN(auto sh, shape_of(ctx, n, static_cast<size_t>(pos.like)));
    KILN_ASSIGN_OR_RETURN(def, input_dtype(ctx, n, static_cast<size_t>(pos.like)));
    shape = sh;
  } else {
    KILN_ASSIGN_OR_RETURN(auto sh, ctx.int_list(n, static_cast<size_t>(pos.size)));
    shape = sh;
  }
  KILN_ASSIGN_OR_RETURN(auto dt, out_dtype(ctx, n, pos.dtype(), def));
  double low = 0, high = 0;
  if (pos.low >= 0) {
    KILN_ASSIGN_OR_RETURN(auto l, ctx.const_int(n, static_cast<size_t>(pos.low)));
    low = static_cast<double>(l);
  }
  if (pos.high >= 0) {
    KILN_ASSIGN_OR_RETURN(auto h, ctx.const_int(n, static_cast<size_t>(pos.high)));
    high = static_cast<double>(h);
  }
  int64_t seed = node_seed(ctx, n);
  if (shape.is_static)
    return set_output_tensor(ctx, n,
                             ctx.net.add_random_fill(mode, seed, dt, shape.values, {}, low, high));
  return set_output_tensor(ctx, n,
                           ctx.net.add_random_fill(mode, seed, dt, {}, shape.tensor, low, high));
}

bool random_supported(const OpGraph& g, const Node& n, std::string* why) {
  const Value& v = g.values[static_cast<size_t>(n.outputs[0])];
  bool integer = n.op.rfind("aten::randint", 0) == 0;
  if (v.meta && !at::isFloatingType(v.meta->dtype) &&
      !(integer && at::isIntegralType(v.meta->dtype, false))) {
    *why = std::string("random numbers of dtype ") + c10::toString(v.meta->dtype);
    return false;
  }
  if (!integer) return true;
  RandomArgs a = random_args(n.op);
  for (int i : {a.low, a.high}) {
    if (i < 0) continue;
    const Value& b = input_value(g, n, static_cast<size_t>(i));
    if (!b.constant || !b.constant->isInt()) {
      *why = "randint bounds must be constant ints";
      return false;
    }
  }
  return true;
}

}  // namespace

void register_creation_converters(ConverterRegistry& r) {
  add_converter(r, {"aten::zeros", "aten::empty.memory_format", "aten::empty"},
                [](ConversionCtx& c, const Node& n) { return sized(c, n, 0.0); });
  add_converter(r, {"aten::empty_strided"}, empty_strided);
  add_converter(r, {"aten::ones"},
                [](ConversionCtx& c, const Node& n) { return sized(c, n, 1.0); });
  add_converter(r, {"aten::full"},
                [](ConversionCtx& c, const Node& n) { return sized(c, n, std::nullopt); });
  add_converter(r, {"aten::zeros_like", "aten::empty_like"},
                [](ConversionCtx& c, const Node& n) { return like(c, n, 0.0); });
  add_converter(r, {"aten::ones_like"},
                [](ConversionCtx& c, const Node& n) { return like(c, n, 1.0); });
  add_converter(r, {"aten::full_like"},
                [](ConversionCtx& c, const Node& n) { return like(c, n, std::nullopt); });
  add_converter(r, {"aten::new_zeros", "aten::new_empty"},
                [](ConversionCtx& c, const Node& n) { return new_sized(c, n, 0.0); });
  add_converter(r, {"aten::new_ones"},
                [](ConversionCtx& c, const Node& n) { return new_sized(c, n, 1.0); });
  add_converter(r, {"aten::new_full"},
                [](ConversionCtx& c, const Node& n) { return new_sized(c, n, std::nullopt); });
  add_converter(
      r, {"aten::arange"}, [](ConversionCtx& c, const Node& n) { return arange(c, n, 1); },
      arange_supported);
  add_converter(
      r, {"aten::arange.start"}, [](ConversionCtx& c, const Node& n) { return arange(c, n, 2); },
      arange_supported);
  add_converter(
      r, {"aten::arange.start_step"},
      [](ConversionCtx& c, const Node& n) { return arange(c, n, 3); }, arange_supported);
  add_converter(r,
                {"aten::scalar_tensor", "aten::tensor", "aten::tensor.int", "aten::tensor.float",
                 "aten::tensor.bool", "aten::as_tensor", "aten::as_tensor.list"},
                tensor_from, tensor_supported);
  add_converter(r, {"aten::linspace"}, linspace, linspace_supported);
  add_converter(r, {"aten::fill.Scalar", "aten::fill.Tensor"},
                [](ConversionCtx& c, const Node& n) { return fill_like_self(c, n, std::nullopt); });
  add_converter(r, {"aten::zero"},
                [](ConversionCtx& c, const Node& n) { return fill_like_self(c, n, 0.0); });
  add_converter(
      r, {"aten::rand", "aten::rand_like"},
      [](ConversionCtx& c, const Node& n) { return random(c, n, FillMode::kUniform); },
      random_supported);
  add_converter(
      r, {"aten::randn", "aten::randn_like"},
      [](ConversionCtx& c, const Node& n) { return random(c, n, FillMode::kNormal); },
      random_supported);
  add_converter(
      r,
      {"aten::randint", "aten::randint.low", "aten::randint_like", "aten::randint_like.low_dtype"},
      [](ConversionCtx& c, const Node& n) { return random(c, n, FillMode::kInteger); },
      random_supported);
}

}  // namespace kiln::bridge
