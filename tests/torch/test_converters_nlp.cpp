// Converter tests for the families transformers need (attention, normalization, reductions,
// activations, elementwise, evaluators): every op those files register is compiled with
// require_full_compilation on the CPU and compared with libtorch eager on random inputs, static and
// dynamic shapes. Each case names the ops it covers; the case checks (with the support report) that
// they really are in the imported graph and run in Kiln, and EveryRegisteredOpHasACase checks that
// the cases cover every registered op (or the op is listed with the reason no TorchScript graph can
// hold it).
#include <ATen/ATen.h>
#include <torch/csrc/jit/ir/irparser.h>

#include <map>
#include <set>
#include <sstream>

#include "converters/converter.h"
#include "converters/families.h"
#include "torch_test_util.h"

namespace kiln {
namespace {

// ---- inputs ----

enum class Gen {
  kNormal,    ///< randn
  kPositive,  ///< uniform [0.1, 2.1)
  kUnit,      ///< uniform (-0.9, 0.9)
  kTies,      ///< multiples of 0.5 in [-4, 4] (rounding ties)
  kInt,       ///< integers in [lo, hi)
  kNonZero,   ///< integers in [lo, hi) without 0
  kBool,      ///< random bools
  kMask,      ///< bools, true except some whole rows of the last dim
};

struct In {
  std::vector<int64_t> min, opt, max;
  at::ScalarType dtype = at::kFloat;
  Gen gen = Gen::kNormal;
  int64_t lo = -5, hi = 5;
  bool dynamic() const { return min != max; }
};

In F(std::vector<int64_t> s, Gen g = Gen::kNormal) { return In{s, s, s, at::kFloat, g}; }
In P(std::vector<int64_t> s) { return F(std::move(s), Gen::kPositive); }
In H(std::vector<int64_t> s) { return In{s, s, s, at::kHalf, Gen::kNormal}; }
In I(std::vector<int64_t> s, int64_t lo = -5, int64_t hi = 5, at::ScalarType dt = at::kLong) {
  return In{s, s, s, dt, Gen::kInt, lo, hi};
}
In NZ(std::vector<int64_t> s, int64_t lo = -5, int64_t hi = 6, at::ScalarType dt = at::kLong) {
  return In{s, s, s, dt, Gen::kNonZero, lo, hi};
}
In B(std::vector<int64_t> s, Gen g = Gen::kBool) { return In{s, s, s, at::kBool, g}; }
In D(std::vector<int64_t> min, std::vector<int64_t> opt, std::vector<int64_t> max,
     at::ScalarType dt = at::kFloat, Gen g = Gen::kNormal) {
  return In{std::move(min), std::move(opt), std::move(max), dt, g};
}

at::Tensor make_input(const In& in, const std::vector<int64_t>& shape) {
  switch (in.gen) {
    case Gen::kNormal:
      return at::randn(shape).to(in.dtype);
    case Gen::kPositive:
      return (at::rand(shape) * 2.0 + 0.1).to(in.dtype);
    case Gen::kUnit:
      return ((at::rand(shape) * 2.0 - 1.0) * 0.9).to(in.dtype);
    case Gen::kTies:
      return (at::randint(-8, 9, shape).to(at::kFloat) * 0.5).to(in.dtype);
    case Gen::kInt:
      return at::randint(in.lo, in.hi, shape, at::TensorOptions().dtype(at::kLong)).to(in.dtype);
    case Gen::kNonZero: {
      at::Tensor t = at::randint(in.lo, in.hi, shape, at::TensorOptions().dtype(at::kLong));
      return at::where(t == 0, at::ones_like(t), t).to(in.dtype);
    }
    case Gen::kBool:
      return at::rand(shape) > 0.5;
    case Gen::kMask: {
      at::Tensor m = at::rand(shape) > 0.3;
      if (!shape.empty() && m.numel() > 0) {
        std::vector<int64_t> row(shape.begin(), shape.end() - 1);
        at::Tensor masked_rows = (at::rand(row) > 0.7).unsqueeze(-1);
        m = m.logical_and(masked_rows.logical_not());  // some rows fully masked out
      }
      return m;
    }
  }
  return {};
}

// ---- cases ----

struct Case {
  std::string name;
  std::vector<std::string> ops;  ///< ops this case covers (must run in Kiln or be evaluated)
  std::string code;  ///< TorchScript source ("def forward(self, ...)") or IR ("graph(...)")
  std::vector<In> inputs;
  double rtol = 1e-4, atol = 1e-5;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

std::string arg_names(size_t n) {
  static const char* names[] = {"x", "y", "z", "w", "v", "u"};
  std::string s;
  for (size_t i = 0; i < n; ++i) s += std::string(", ") + names[i];
  return s;
}

// A one-line forward over inputs x, y, z, ...
Case C(std::string name, std::vector<std::string> ops, const std::string& expr,
       std::vector<In> inputs, double rtol = 1e-4, double atol = 1e-5) {
  std::string code =
      "def forward(self" + arg_names(inputs.size()) + "):\n    return " + expr + "\n";
  return Case{std::move(name), std::move(ops), code, std::move(inputs), rtol, atol};
}

// A forward with a multi-line body (statements separated by ';' become lines).
Case S(std::string name, std::vector<std::string> ops, const std::string& body,
       std::vector<In> inputs, double rtol = 1e-4, double atol = 1e-5) {
  std::string code = "def forward(self" + arg_names(inputs.size()) + "):\n";
  std::istringstream lines(body);
  for (std::string line; std::getline(lines, line, ';');) {
    size_t b = line.find_first_not_of(' ');
    code += "    " + (b == std::string::npos ? line : line.substr(b)) + "\n";
  }
  return Case{std::move(name), std::move(ops), code, std::move(inputs), rtol, atol};
}

// A TorchScript IR graph (for nodes no source spells: NumToTensor, Scalar overloads, ...).
Case G(std::string name, std::vector<std::string> ops, std::string ir, std::vector<In> inputs,
       double rtol = 1e-4, double atol = 1e-5) {
  return Case{std::move(name), std::move(ops), std::move(ir), std::move(inputs), rtol, atol};
}

const In kX = F({3, 4, 5});
const In kXd = D({1, 4, 5}, {3, 4, 5}, {6, 4, 5});  // dynamic batch

std::vector<Case> activation_cases() {
  std::vector<Case> c;
  const std::pair<const char*, In> unary[] = {
      {"abs", kX},
      {"neg", kX},
      {"exp", kX},
      {"log", P({3, 4, 5})},
      {"log2", P({3, 4, 5})},
      {"log1p", P({3, 4, 5})},
      {"expm1", kX},
      {"sqrt", P({3, 4, 5})},
      {"rsqrt", P({3, 4, 5})},
      {"reciprocal", P({3, 4, 5})},
      {"sin", kX},
      {"cos", kX},
      {"tan", F({3, 4, 5}, Gen::kUnit)},
      {"atan", kX},
      {"asin", F({3, 4, 5}, Gen::kUnit)},
      {"acos", F({3, 4, 5}, Gen::kUnit)},
      {"sinh", kX},
      {"cosh", kX},
      {"tanh", kX},
      {"erf", kX},
      {"floor", kX},
      {"ceil", kX},
      {"round", F({3, 4, 5}, Gen::kTies)},
      {"sign", F({3, 4, 5}, Gen::kTies)},
      {"relu", kX},
      {"sigmoid", kX},
      {"silu", kX},
      {"mish", kX},
      {"hardsigmoid", F({3, 4, 5}, Gen::kTies)},
      {"hardswish", F({3, 4, 5}, Gen::kTies)},
      {"selu", kX},
      {"relu6", F({3, 4, 5}, Gen::kTies)},
  };
  for (const auto& [op, in] : unary) {
    c.push_back(
        C(op, {std::string("aten::") + op}, std::string("torch.") + op + "(x * 1.0)", {in}));
  }
  c.push_back(C("abs_int", {"aten::abs"}, "torch.abs(x)", {I({3, 4})}));
  c.push_back(C("neg_int", {"aten::neg"}, "torch.neg(x)", {I({3, 4}, -5, 5, at::kInt)}));
  c.push_back(C("exp_of_int_is_float", {"aten::exp"}, "torch.exp(x)", {I({3, 4})}));
  c.push_back(C("sqrt_of_int_is_float", {"aten::sqrt"}, "torch.sqrt(x)", {I({3, 4}, 0, 9)}));
  c.push_back(C("sigmoid_half", {"aten::sigmoid"}, "torch.sigmoid(x)", {H({3, 4})}, 1e-3, 1e-3));
  c.push_back(C("isnan", {"aten::isnan"}, "torch.isnan(torch.log(x))", {kX}));
  c.push_back(
      C("isinf", {"aten::isinf"}, "torch.isinf(torch.exp(x.abs() * 100.0) * torch.sign(x))", {kX}));
  c.push_back(C("hardtanh", {"aten::hardtanh"}, "torch.hardtanh(x, -0.5, 0.5)", {kX}));
  c.push_back(C("leaky_relu", {"aten::leaky_relu"}, "torch.leaky_relu(x, 0.2)", {kX}));
  c.push_back(C("elu", {"aten::elu"}, "torch.elu(x, 0.7)", {kX}));
  c.push_back(C("elu_scaled", {"aten::elu"}, "torch.elu(x, 0.7, 1.5, 0.5)", {kX}));
  c.push_back(C("softplus", {"aten::softplus"}, "torch.softplus(x * 4.0, 2.0, 5.0)", {kX}));
  c.push_back(C("gelu", {"aten::gelu"}, "torch.gelu(x)", {kXd}));
  c.push_back(C("gelu_tanh", {"aten::gelu"}, "torch.gelu(x, approximate='tanh')", {kX}));
  c.push_back(G("negative", {"aten::negative"},
                "graph(%x : Tensor):\n  %y : Tensor = aten::negative(%x)\n  return (%y)\n", {kX}));
  return c;
}

std::vector<Case> elementwise_cases() {
  std::vector<Case> c;
  const In y = F({4, 5}), xi = I({3, 4}), yi = NZ({3, 4});
  c.push_back(C("add_tensor", {"aten::add.Tensor"}, "x + y", {kX, y}));
  c.push_back(C("add_alpha", {"aten::add.Tensor"}, "torch.add(x, y, alpha=2.5)", {kX, y}));
  c.push_back(C("add_int_float_promotes", {"aten::add.Tensor"}, "x + y", {I({4, 5}), kX}));
  c.push_back(
      C("add_int32_int64", {"aten::add.Tensor"}, "x + y", {I({4, 5}, -5, 5, at::kInt), I({4, 5})}));
  c.push_back(C("add_scalar", {"aten::add.Scalar"}, "x + 2", {kXd}));
  c.push_back(C("add_float_scalar_to_int", {"aten::add.Scalar"}, "x + 2.5", {xi}));
  c.push_back(
      C("add_int_scalar_keeps_half", {"aten::add.Scalar"}, "x + 3", {H({3, 4})}, 1e-3, 1e-3));
  c.push_back(C("add_0d_tensor_keeps_dtype", {"aten::add.Tensor"}, "x + y.sum()",
                {H({3, 4}), F({3})}, 1e-3, 1e-3));
  c.push_back(C("sub_tensor", {"aten::sub.Tensor"}, "torch.sub(x, y, alpha=0.5)", {kX, y}));
  c.push_back(C("sub_scalar", {"aten::sub.Scalar"}, "x - 1.5", {kX}));
  c.push_back(C("rsub_scalar", {"aten::rsub.Scalar"}, "torch.rsub(x, 2.0)", {kX}));
  c.push_back(G("rsub_tensor", {"aten::rsub.Tensor"},
                "graph(%x : Tensor, %y : Tensor):\n  %a : int = prim::Constant[value=2]()\n"
                "  %r : Tensor = aten::rsub(%x, %y, %a)\n  return (%r)\n",
                {kX, y}));
  c.push_back(C("mul_tensor", {"aten::mul.Tensor"}, "x * y", {kXd, y}));
  c.push_back(C("mul_bool_int", {"aten::mul.Tensor"}, "x * y", {B({3, 4}), xi}));
  c.push_back(C("mul_scalar", {"aten::mul.Scalar"}, "x * 3", {kX}));
  c.push_back(C("div_tensor", {"aten::div.Tensor"}, "x / y", {kX, P({4, 5})}));
  c.push_back(C("div_ints_is_float", {"aten::div.Tensor"}, "x / y", {xi, yi}));
  c.push_back(C("div_scalar", {"aten::div.Scalar"}, "x / 4", {xi}));
  c.push_back(G("true_divide", {"aten::true_divide.Tensor"},
                "graph(%x : Tensor, %y : Tensor):\n  %r : Tensor = aten::true_divide(%x, %y)\n  "
                "return (%r)\n",
                {xi, yi}));
  c.push_back(C("div_floor_int", {"aten::div.Tensor_mode"},
                "torch.div(x, y, rounding_mode='floor')", {xi, yi}));
  c.push_back(C("div_trunc_int", {"aten::div.Tensor_mode"},
                "torch.div(x, y, rounding_mode='trunc')", {xi, yi}));
  c.push_back(C("div_floor_float", {"aten::div.Tensor_mode"},
                "torch.div(x, y, rounding_mode='floor')", {kX, P({4, 5})}));
  c.push_back(C("div_scalar_mode", {"aten::div.Scalar_mode"},
                "torch.div(x, 2.5, rounding_mode='trunc')", {kX}));
  c.push_back(C("floor_divide", {"aten::floor_divide"}, "torch.floor_divide(x, y)", {xi, yi}));
  c.push_back(
      C("floor_divide_scalar", {"aten::floor_divide.Scalar"}, "torch.floor_divide(x, 2)", {xi}));
  c.push_back(C("remainder", {"aten::remainder.Tensor"}, "torch.remainder(x, y)", {xi, yi}));
  c.push_back(C("remainder_scalar", {"aten::remainder.Scalar"}, "x % 1.5", {kX}));
  c.push_back(C("fmod", {"aten::fmod.Tensor"}, "torch.fmod(x, y)", {xi, yi}));
  c.push_back(C("fmod_scalar", {"aten::fmod.Scalar"}, "torch.fmod(x, 2)", {kX}));
  c.push_back(
      C("pow_tensor", {"aten::pow.Tensor_Tensor"}, "torch.pow(x, y)", {P({3, 4}), F({3, 4})}));
  c.push_back(C("pow_square", {"aten::pow.Tensor_Scalar"}, "x ** 2", {kXd}));
  c.push_back(C("pow_cube", {"aten::pow.Tensor_Scalar"}, "x ** 3", {kX}));
  c.push_back(C("pow_sqrt", {"aten::pow.Tensor_Scalar"}, "x ** 0.5", {P({3, 4})}));
  c.push_back(C("pow_int", {"aten::pow.Tensor_Scalar"}, "x ** 2", {xi}));
  c.push_back(C("pow_int_float_exp", {"aten::pow.Tensor_Scalar"}, "x ** 0.5", {I({3, 4}, 0, 9)}));
  c.push_back(C("pow_scalar_base", {"aten::pow.Scalar"}, "torch.pow(2.0, x)", {kX}));
  c.push_back(C("maximum", {"aten::maximum"}, "torch.maximum(x, y)", {kX, y}));
  c.push_back(C("max_other", {"aten::max.other"}, "torch.max(x, y)", {kX, y}));
  c.push_back(C("minimum", {"aten::minimum"}, "torch.minimum(x, y)", {xi, I({4})}));
  c.push_back(C("min_other", {"aten::min.other"}, "torch.min(x, y)", {kX, y}));
  const std::pair<const char*, const char*> cmps[] = {{"eq", "=="}, {"ne", "!="}, {"lt", "<"},
                                                      {"le", "<="}, {"gt", ">"},  {"ge", ">="}};
  for (const auto& [name, sym] : cmps) {
    c.push_back(C(std::string(name) + "_tensor", {std::string("aten::") + name + ".Tensor"},
                  std::string("x ") + sym + " y", {xi, I({4})}));
    c.push_back(C(std::string(name) + "_scalar", {std::string("aten::") + name + ".Scalar"},
                  std::string("x ") + sym + " 0.5", {F({3, 4}, Gen::kTies)}));
  }
  c.push_back(C("lt_int_tensor_float_scalar", {"aten::lt.Scalar"}, "x < 0.5", {xi}));
  c.push_back(C("gt_float_int_tensors", {"aten::gt.Tensor"}, "x > y", {F({3, 4}, Gen::kTies), xi}));
  const In b1 = B({3, 4}), b2 = B({4});
  c.push_back(C("logical_and", {"aten::logical_and"}, "torch.logical_and(x, y)",
                {kX, F({4, 5}, Gen::kTies)}));
  c.push_back(C("and_bool", {"aten::__and__.Tensor"}, "x & y", {b1, b2}));
  c.push_back(
      C("bitwise_and_bool", {"aten::bitwise_and.Tensor"}, "torch.bitwise_and(x, y)", {b1, b2}));
  c.push_back(C("logical_or", {"aten::logical_or"}, "torch.logical_or(x, y)", {b1, I({4}, 0, 2)}));
  c.push_back(C("or_bool", {"aten::__or__.Tensor"}, "x | y", {b1, b2}));
  c.push_back(
      C("bitwise_or_bool", {"aten::bitwise_or.Tensor"}, "torch.bitwise_or(x, y)", {b1, b2}));
  c.push_back(C("logical_xor", {"aten::logical_xor"}, "torch.logical_xor(x, y)", {b1, b2}));
  c.push_back(
      C("logical_not", {"aten::logical_not"}, "torch.logical_not(x)", {F({3, 4}, Gen::kTies)}));
  c.push_back(C("bitwise_not_bool", {"aten::bitwise_not"}, "~x", {b1}));
  c.push_back(C("where", {"aten::where.self"}, "torch.where(x, y, z)", {b1, F({3, 4}), I({4})}));
  c.push_back(C("where_scalar_other", {"aten::where.ScalarOther"}, "torch.where(x, y, 0.0)",
                {b1, F({3, 4})}));
  c.push_back(C("where_scalar_self", {"aten::where.ScalarSelf"}, "torch.where(x, 1.0, y)",
                {b1, F({3, 4})}));
  c.push_back(C("where_scalars", {"aten::where.Scalar"}, "torch.where(x, 1.0, 0.0)", {b1}));
  c.push_back(C("where_int_scalars", {"aten::where.Scalar"}, "torch.where(x, 1, 0)", {b1}));
  c.push_back(
      C("masked_fill", {"aten::masked_fill.Scalar"}, "x.masked_fill(y, -1e9)", {kXd, B({4, 5})}));
  c.push_back(C("masked_fill_min", {"aten::masked_fill.Scalar"},
                "x.masked_fill(y, -3.4028234663852886e+38)", {kX, B({1, 5})}));
  c.push_back(C("masked_fill_tensor", {"aten::masked_fill.Tensor"}, "x.masked_fill(y, z.sum())",
                {kX, B({4, 5}), F({2})}));
  c.push_back(C("clamp", {"aten::clamp"}, "torch.clamp(x, -0.5, 0.5)", {kX}));
  c.push_back(C("clamp_min_only", {"aten::clamp"}, "torch.clamp(x, min=0.1)", {kX}));
  c.push_back(C("clamp_int_float_bounds", {"aten::clamp"}, "torch.clamp(x, 0.5, 2.5)", {xi}));
  c.push_back(
      C("clamp_tensor", {"aten::clamp.Tensor"}, "torch.clamp(x, y, z)", {kX, F({5}), F({5})}));
  c.push_back(G("clip", {"aten::clip"},
                "graph(%x : Tensor):\n  %lo : float = prim::Constant[value=-1.]()\n  %hi : int = "
                "prim::Constant[value=1]()\n"
                "  %r : Tensor = aten::clip(%x, %lo, %hi)\n  return (%r)\n",
                {kX}));
  c.push_back(C("clamp_min", {"aten::clamp_min"}, "torch.clamp_min(x, 0.2)", {kX}));
  c.push_back(C("clamp_min_tensor", {"aten::clamp_min.Tensor"}, "torch.clamp_min(x, y)", {kX, y}));
  c.push_back(C("clamp_max", {"aten::clamp_max"}, "torch.clamp_max(x, 0.3)", {kX}));
  c.push_back(C("clamp_max_tensor", {"aten::clamp_max.Tensor"}, "torch.clamp_max(x, y)", {kX, y}));
  c.push_back(C("to_dtype", {"aten::to.dtype"}, "x.to(3)", {F({3, 4}, Gen::kTies)}));
  c.push_back(C("to_dtype_half", {"aten::to.dtype"}, "x.to(5)", {kX}));
  c.push_back(C("to_dtype_bool_to_float", {"aten::to.dtype"}, "x.to(6)", {b1}));
  c.push_back(C("to_copy", {"aten::_to_copy"}, "torch._to_copy(x, dtype=4)", {kX}));
  c.push_back(C("to_dtype_layout", {"aten::to.dtype_layout"}, "x.to(dtype=5, device=None)", {kX}));
  c.push_back(C("to_device", {"aten::to.device"}, "x.to(x.device, 4)", {F({3, 4}, Gen::kTies)}));
  c.push_back(C("to_other", {"aten::to.other"}, "x.to(y)", {kX, xi}));
  c.push_back(C("to_prim_device", {"aten::to.prim_Device"}, "x.to(x.device) * 2.0", {kX}));
  c.push_back(G("to_prim_other", {"aten::to.prim_other"},
                "graph(%x : Tensor):\n  %f : bool = prim::Constant[value=0]()\n  %r : Tensor = "
                "aten::to(%x, %f, %f)\n"
                "  %s : Tensor = aten::mul(%r, %r)\n  return (%s)\n",
                {kX}));
  c.push_back(C("type_as", {"aten::type_as"}, "x.type_as(y)", {kX, xi}));
  c.push_back(C("contiguous", {"aten::contiguous"}, "x.transpose(0, 1).contiguous()", {kX}));
  c.push_back(C("clone", {"aten::clone"}, "x.clone() * 2.0", {kX}));
  c.push_back(C("copy", {"aten::copy"}, "torch.copy(x, y)", {kX, I({5})}));
  c.push_back(C("copy_dynamic", {"aten::copy"}, "torch.copy(x, y)", {kXd, F({4, 1})}));
  return c;
}

std::vector<Case> reduction_cases() {
  std::vector<Case> c;
  const In xi = I({3, 4, 5});
  c.push_back(C("sum_dim", {"aten::sum.dim_IntList"}, "x.sum(1)", {kXd}));
  c.push_back(
      C("sum_dims_keepdim", {"aten::sum.dim_IntList"}, "x.sum([0, 2], keepdim=True)", {kX}));
  c.push_back(C("sum_int32_is_int64", {"aten::sum.dim_IntList"}, "x.sum(1)",
                {I({3, 4, 5}, -5, 5, at::kInt)}));
  c.push_back(C("sum_bool_is_int64", {"aten::sum.dim_IntList"}, "x.sum(-1)", {B({3, 4})}));
  c.push_back(C("sum_dtype", {"aten::sum.dim_IntList"}, "x.sum(1, dtype=6)", {xi}));
  c.push_back(C("sum_all", {"aten::sum"}, "x.sum()", {kX}));
  c.push_back(C("sum_all_int", {"aten::sum"}, "x.sum()", {xi}));
  c.push_back(C("mean_dim", {"aten::mean.dim"}, "x.mean(-1, keepdim=True)", {kXd}));
  c.push_back(C("mean_all", {"aten::mean"}, "x.mean()", {kX}));
  c.push_back(C("prod_dim", {"aten::prod.dim_int"}, "x.prod(1)", {F({3, 4, 5}, Gen::kUnit)}));
  c.push_back(
      C("prod_int_is_int64", {"aten::prod.dim_int"}, "x.prod(2)", {I({3, 4, 5}, -3, 3, at::kInt)}));
  c.push_back(C("prod_all", {"aten::prod"}, "x.prod()", {F({3, 4}, Gen::kUnit)}));
  c.push_back(C("prod_all_int", {"aten::prod"}, "x.prod()", {I({2, 3}, -2, 3, at::kInt)}));
  c.push_back(C("amax", {"aten::amax"}, "x.amax([1, 2])", {kX}));
  c.push_back(C("amin", {"aten::amin"}, "x.amin(1, keepdim=True)", {kXd}));
  c.push_back(C("max_dim", {"aten::max.dim"}, "torch.max(x, 1)", {kX}));
  c.push_back(S("max_dim_values_only", {"aten::max.dim"},
                "v, i = torch.max(x, -1, True); return v * 2.0", {kXd}));
  c.push_back(C("max_all", {"aten::max"}, "x.max()", {kX}));
  c.push_back(C("min_dim", {"aten::min.dim"}, "torch.min(x, 2, True)", {kX}));
  c.push_back(C("min_all", {"aten::min"}, "x.min()", {xi}));
  c.push_back(C("argmax", {"aten::argmax"}, "x.argmax(1)", {kXd}));
  c.push_back(C("argmax_flat", {"aten::argmax"}, "x.argmax()", {kX}));
  c.push_back(C("argmin_keepdim", {"aten::argmin"}, "x.argmin(1, True)", {kX}));
  c.push_back(
      C("var_correction", {"aten::var.correction"}, "torch.var(x, [1], correction=2)", {kX}));
  c.push_back(C("var_dim", {"aten::var.dim"}, "x.var(1)", {kXd}));
  c.push_back(C("var_all", {"aten::var"}, "x.var()", {kX}));
  c.push_back(C("std_correction", {"aten::std.correction"},
                "torch.std(x, [1], correction=0, keepdim=True)", {kX}));
  c.push_back(C("std_dim", {"aten::std.dim"}, "x.std(1, True, True)", {kX}));
  c.push_back(C("std_all_biased", {"aten::std"}, "x.std(False)", {kX}));
  c.push_back(C("any_all", {"aten::any"}, "x.any()", {B({3, 4})}));
  c.push_back(C("any_dim_float", {"aten::any.dim"}, "x.any(1)", {F({3, 4}, Gen::kTies)}));
  c.push_back(C("any_dims", {"aten::any.dims"}, "torch.any(x, [0, 1])", {B({3, 4, 2})}));
  c.push_back(C("all_all_uint8", {"aten::all"}, "x.all()", {I({3, 4}, 0, 3, at::kByte)}));
  c.push_back(C("all_dim", {"aten::all.dim"}, "x.all(1, True)", {B({3, 4}, Gen::kMask)}));
  c.push_back(C("all_dims", {"aten::all.dims"}, "torch.all(x, [0, 1], True)", {B({3, 4, 2})}));
  c.push_back(C("softmax", {"aten::softmax.int"}, "torch.softmax(x, -1)", {kXd}));
  c.push_back(C("softmax_dtype", {"aten::softmax.int"}, "torch.softmax(x, 1, dtype=6)", {H({3, 4})},
                1e-3, 1e-3));
  c.push_back(C("softmax_private", {"aten::_softmax"}, "torch._softmax(x, 1, False)", {kX}));
  c.push_back(C("log_softmax", {"aten::log_softmax.int"}, "torch.log_softmax(x, 1)", {kX}));
  c.push_back(
      C("log_softmax_private", {"aten::_log_softmax"}, "torch._log_softmax(x, -1, False)", {kX}));
  c.push_back(C("cumsum", {"aten::cumsum"}, "torch.cumsum(x, 1)", {kXd}));
  c.push_back(C("cumsum_int_is_int64", {"aten::cumsum"}, "torch.cumsum(x, 0)",
                {I({3, 4}, -5, 5, at::kInt)}));
  c.push_back(C("topk", {"aten::topk"}, "torch.topk(x, 3, 1)", {kX}));
  c.push_back(C("topk_smallest", {"aten::topk"}, "torch.topk(x, 2, -1, False, True)", {kX}));
  c.push_back(C("norm_2", {"aten::norm.ScalarOpt_dim"}, "torch.norm(x, 2, [1], False)", {kX}));
  c.push_back(
      C("norm_1_keepdim", {"aten::norm.ScalarOpt_dim"}, "torch.norm(x, 1, [1], True)", {kX}));
  c.push_back(C("vector_norm_2", {"aten::linalg_vector_norm"},
                "torch.linalg_vector_norm(x, 2.0, [-1], False)", {kXd}));
  c.push_back(C("vector_norm_inf", {"aten::linalg_vector_norm"},
                "torch.linalg_vector_norm(x, float('inf'), [1], True)", {kX}));
  c.push_back(C("vector_norm_3", {"aten::linalg_vector_norm"},
                "torch.linalg_vector_norm(x, 3.0, [1, 2], False)", {kX}));
  c.push_back(C("vector_norm_0_all", {"aten::linalg_vector_norm"},
                "torch.linalg_vector_norm(x, 0.0, None, False)", {F({3, 4}, Gen::kTies)}));
  return c;
}

std::vector<Case> normalization_cases() {
  std::vector<Case> c;
  const In x4 = F({2, 4, 3, 3}), ch = F({4}), pch = P({4});
  c.push_back(C("batch_norm", {"aten::batch_norm"},
                "torch.batch_norm(x, y, z, w, v, False, 0.1, 1e-5, False)", {x4, ch, ch, ch, pch}));
  c.push_back(C("batch_norm_no_affine", {"aten::batch_norm"},
                "torch.batch_norm(x, None, None, y, z, False, 0.1, 1e-3, False)",
                {D({1, 4, 3}, {2, 4, 3}, {5, 4, 3}), ch, pch}));
  c.push_back(C("native_batch_norm_no_training", {"aten::_native_batch_norm_legit_no_training"},
                "torch._native_batch_norm_legit_no_training(x, y, z, w, v, 0.1, 1e-5)[0]",
                {x4, ch, ch, ch, pch}));
  c.push_back(C("layer_norm", {"aten::layer_norm"}, "torch.layer_norm(x, [5], y, z, 1e-12)",
                {kXd, F({5}), F({5})}));
  c.push_back(C("layer_norm_2d_no_affine", {"aten::layer_norm"},
                "torch.layer_norm(x, [4, 5], None, None, 1e-5)", {kX}));
  c.push_back(C("native_layer_norm", {"aten::native_layer_norm"},
                "torch.native_layer_norm(x, [5], y, z, 1e-5)", {kX, F({5}), F({5})}));
  c.push_back(
      C("group_norm", {"aten::group_norm"}, "torch.group_norm(x, 2, y, z, 1e-5)", {x4, ch, ch}));
  c.push_back(C("native_group_norm", {"aten::native_group_norm"},
                "torch.native_group_norm(x, y, z, 2, 4, 9, 2, 1e-5)", {x4, ch, ch}));
  c.push_back(C("native_group_norm_dynamic_batch", {"aten::native_group_norm"},
                "torch.native_group_norm(x, y, z, x.size(0), 4, 9, 2, 1e-5)",
                {D({1, 4, 3, 3}, {2, 4, 3, 3}, {3, 4, 3, 3}), ch, ch}));
  c.push_back(C("instance_norm", {"aten::instance_norm"},
                "torch.instance_norm(x, y, z, None, None, True, 0.1, 1e-5, False)", {x4, ch, ch}));
  c.push_back(C("rms_norm", {"aten::rms_norm"}, "torch.rms_norm(x, [5], y, 1e-6)", {kXd, F({5})}));
  c.push_back(
      C("rms_norm_default_eps", {"aten::rms_norm"}, "torch.rms_norm(x, [4, 5], None, None)", {kX}));
  // T5 / Llama RMSNorm as traced: x * rsqrt(mean(x^2) + eps) * w.
  c.push_back(C("rms_norm_decomposed", {"aten::pow.Tensor_Scalar", "aten::mean.dim", "aten::rsqrt"},
                "y * (x * torch.rsqrt((x ** 2).mean(-1, keepdim=True) + 1e-6))", {kXd, F({5})}));
  return c;
}

std::vector<Case> attention_cases() {
  std::vector<Case> c;
  const In q = F({2, 4, 6, 8}), k = F({2, 4, 7, 8}), v = F({2, 4, 7, 5});
  const std::string sdpa = "aten::scaled_dot_product_attention";
  c.push_back(C("sdpa", {sdpa}, "torch.scaled_dot_product_attention(x, y, z)", {q, k, v}));
  c.push_back(C("sdpa_3d", {sdpa}, "torch.scaled_dot_product_attention(x, y, z)",
                {F({3, 6, 8}), F({3, 7, 8}), F({3, 7, 5})}));
  c.push_back(C("sdpa_bool_mask", {sdpa}, "torch.scaled_dot_product_attention(x, y, z, w)",
                {q, k, v, B({2, 1, 6, 7}, Gen::kMask)}));
  c.push_back(C("sdpa_float_mask", {sdpa}, "torch.scaled_dot_product_attention(x, y, z, w)",
                {q, k, v, F({1, 4, 6, 7})}));
  c.push_back(C("sdpa_float_mask_fully_masked_rows", {sdpa},
                "torch.scaled_dot_product_attention(x, y, z, torch.where(w, 0.0, float('-inf')))",
                {q, k, v, B({2, 1, 6, 7}, Gen::kMask)}));
  c.push_back(C("sdpa_key_padding_mask", {sdpa}, "torch.scaled_dot_product_attention(x, y, z, w)",
                {q, k, v, B({2, 1, 1, 7})}));
  c.push_back(C("sdpa_causal", {sdpa},
                "torch.scaled_dot_product_attention(x, y, z, is_causal=True)", {q, k, v}));
  c.push_back(
      C("sdpa_scale", {sdpa}, "torch.scaled_dot_product_attention(x, y, z, scale=0.3)", {q, k, v}));
  c.push_back(C("sdpa_gqa", {sdpa}, "torch.scaled_dot_product_attention(x, y, z, enable_gqa=True)",
                {F({2, 6, 5, 8}), F({2, 2, 7, 8}), F({2, 2, 7, 8})}));
  c.push_back(
      C("sdpa_gqa_causal_mask_dynamic", {sdpa},
        "torch.scaled_dot_product_attention(x, y, z, w, enable_gqa=True)",
        {D({1, 4, 1, 8}, {2, 4, 5, 8}, {3, 4, 9, 8}), D({1, 2, 1, 8}, {2, 2, 5, 8}, {3, 2, 9, 8}),
         D({1, 2, 1, 8}, {2, 2, 5, 8}, {3, 2, 9, 8}),
         D({1, 1, 1, 1}, {2, 1, 5, 5}, {3, 1, 9, 9}, at::kBool, Gen::kMask)}));
  c.push_back(
      C("sdpa_dynamic_seq_causal", {sdpa},
        "torch.scaled_dot_product_attention(x, y, z, is_causal=True)",
        {D({1, 2, 1, 8}, {2, 2, 6, 8}, {3, 2, 12, 8}), D({1, 2, 1, 8}, {2, 2, 6, 8}, {3, 2, 12, 8}),
         D({1, 2, 1, 8}, {2, 2, 6, 8}, {3, 2, 12, 8})}));
  // torch.export's CPU spelling of SDPA (the output is element 0 of its tuple).
  const std::string sdpa_cpu = "aten::_scaled_dot_product_flash_attention_for_cpu";
  const In kv = F({2, 4, 7, 8});
  c.push_back(C("sdpa_flash_for_cpu", {sdpa_cpu},
                "torch._scaled_dot_product_flash_attention_for_cpu(x, y, z, 0.0, False)[0]",
                {q, k, kv}));
  c.push_back(
      C("sdpa_flash_for_cpu_causal_scale", {sdpa_cpu},
        "torch._scaled_dot_product_flash_attention_for_cpu(x, y, z, 0.0, True, scale=0.2)[0]",
        {q, k, kv}));
  c.push_back(
      C("sdpa_flash_for_cpu_float_mask", {sdpa_cpu},
        "torch._scaled_dot_product_flash_attention_for_cpu(x, y, z, 0.0, False, attn_mask=w)[0]",
        {q, k, kv, F({2, 4, 6, 7})}));
  // BERT-style eager attention: scores, additive mask, softmax, context.
  c.push_back(
      C("eager_attention_pattern", {"aten::matmul", "aten::softmax.int"},
        "torch.matmul(torch.softmax(torch.matmul(x, y.transpose(-1, -2)) * 0.125 + w, -1), z)",
        {q, k, v, F({2, 1, 1, 7})}));
  c.push_back(C("baddbmm", {"aten::baddbmm"}, "torch.baddbmm(x, y, z, beta=0.5, alpha=2.0)",
                {F({3, 4, 6}), F({3, 4, 5}), F({3, 5, 6})}));
  c.push_back(C("baddbmm_broadcast_self", {"aten::baddbmm"}, "torch.baddbmm(x, y, z)",
                {F({6}), F({3, 4, 5}), F({3, 5, 6})}));
  c.push_back(C("baddbmm_beta0_ignores_nan", {"aten::baddbmm"},
                "torch.baddbmm(torch.log(x - 5.0), y, z, beta=0.0, alpha=0.5)",
                {P({3, 4, 6}), F({3, 4, 5}), F({3, 5, 6})}));
  return c;
}

// Evaluators: runtime ints (sizes of dynamic dims) and their arithmetic, comparisons, conversions.
std::vector<Case> evaluator_cases() {
  std::vector<Case> c;
  const In xd = D({2, 3}, {4, 6}, {6, 9});  // n = size(0), m = size(1): runtime ints
  c.push_back(S("int_arith",
                {"aten::size.int", "aten::add.int", "aten::sub.int", "aten::mul.int",
                 "aten::floordiv.int", "aten::remainder.int", "aten::div.int", "aten::neg.int",
                 "prim::abs.int", "prim::max.int", "prim::min.int", "aten::pow.int"},
                "n = x.size(0); m = x.size(1);"
                "return x * (n + m), x - (n - m), x + n * m, x + (m // n), x + ((n - 7) // m), x + "
                "(n % m), x + ((n - 7) % m),"
                " x + n / m, x + (-n), x + abs(n - 5), x + max(n, m), x + min(n, m), x + n ** 2",
                {xd}));
  c.push_back(S("float_arith",
                {"aten::add.float",
                 "aten::add.float_int",
                 "aten::add.int_float",
                 "aten::sub.float",
                 "aten::sub.float_int",
                 "aten::sub.int_float",
                 "aten::mul.float",
                 "aten::mul.float_int",
                 "aten::mul.int_float",
                 "aten::div.float",
                 "aten::div",
                 "aten::floordiv.float",
                 "aten::floordiv.float_int",
                 "aten::floordiv.int_float",
                 "aten::remainder.float",
                 "aten::remainder.float_int",
                 "aten::remainder.int_float",
                 "aten::neg.float",
                 "prim::abs.float",
                 "prim::max.float_int",
                 "prim::max.int_float",
                 "prim::min.float",
                 "prim::max.float",
                 "prim::min.float_int",
                 "prim::min.int_float",
                 "aten::pow.float",
                 "aten::pow.float_int",
                 "aten::pow.int_float"},
                "n = x.size(0); f = x.size(1) * 0.5; g = n * 0.25;"
                "return x * (f + g), x + (f + n), x + (n + f), x + (f - g), x + (f - n), x + (n - "
                "f), x * (f * g), x * (f * n),"
                " x + (f // g), x + (f // n), x + (n // f), x + (f % g), x + (f % n), x + (n % f), "
                "x + f / g, x + n / f,"
                " x + (-f), x + abs(g - f), x + max(f, n), x + max(n, f), x + min(f, g), x + "
                "max(f, g), x + min(f, n),"
                " x + min(n, f), x + f ** g, x + f ** 2, x + n ** 0.5",
                {xd}, 1e-4, 1e-4));
  c.push_back(
      S("int_comparisons",
        {"aten::eq.int", "aten::ne.int", "aten::lt.int", "aten::le.int", "aten::gt.int",
         "aten::ge.int", "aten::Float.bool", "aten::Int.bool", "aten::__and__.bool",
         "aten::__or__.bool", "aten::__xor__.bool", "aten::__not__", "aten::eq.bool",
         "aten::ne.bool"},
        "n = x.size(0); m = x.size(1);"
        "return x * float(n == 4), x * float(n != 4), x * float(n < m), x * float(n <= 4), x * "
        "int(m > 6), x * int(m >= 6),"
        " x * float((n > 2) & (m < 7)), x * float((n > 4) | (m < 4)), x * float((n > 2) ^ (m < 7)),"
        " x * float(not (n == m)), x * float((n == 4) == (m > 5)), x * float((n == 4) != (m > 5))",
        {xd}));
  c.push_back(
      S("float_comparisons",
        {"aten::eq.float", "aten::ne.float", "aten::lt.float", "aten::le.float", "aten::gt.float",
         "aten::ge.float", "aten::eq.int_float", "aten::ne.float_int", "aten::lt.int_float",
         "aten::le.float_int", "aten::gt.int_float", "aten::ge.float_int", "aten::eq.float_int",
         "aten::ne.int_float", "aten::lt.float_int", "aten::le.int_float", "aten::gt.float_int",
         "aten::ge.int_float"},
        "n = x.size(0); f = x.size(1) * 0.5; g = n * 1.0;"
        "return x * float(f == 3.0), x * float(f != g), x * float(f < g), x * float(f <= g), x * "
        "float(f > 2.0),"
        " x * float(f >= g), x * float(n == f), x * float(f != n), x * float(n < f), x * float(f "
        "<= n),"
        " x * float(n > f), x * float(f >= n), x * float(f == n), x * float(n != f), x * float(f < "
        "n), x * float(n <= f),"
        " x * float(f > n), x * float(n >= f)",
        {xd}));
  c.push_back(S("scalar_math",
                {"aten::floor.float", "aten::ceil.float", "aten::round.float", "aten::sqrt.float",
                 "aten::log.float", "aten::exp.float", "aten::sqrt.int", "aten::log.int",
                 "aten::exp.int", "aten::floor.int", "aten::round.int"},
                "n = x.size(0); f = x.size(1) * 0.75;"
                "return x + torch.floor(f), x + torch.ceil(f), x + torch.round(f), x + "
                "torch.round(n * 0.5), x + torch.sqrt(f),"
                " x + torch.log(f), x + torch.exp(f * 0.1), x + torch.sqrt(n), x + torch.log(n), x "
                "+ torch.exp(n - 3),"
                " x + torch.floor(n), x + torch.ceil(n), x + torch.round(n)",
                {xd}, 1e-4, 1e-4));
  c.push_back(S("lists",
                {"aten::size", "aten::__getitem__.t", "aten::len.t", "aten::add.t",
                 "aten::mul.left_t", "prim::max.self_int", "prim::min.self_int",
                 "prim::ListConstruct", "aten::numel", "aten::list.t"},
                "s = x.size(); l = s + [2]; r = s * 2; t = list(s);"
                "return x.view(s[-1], -1) + len(l) + len(r) + max(s) + min(t) + x.numel() + s[0]",
                {xd}));
  c.push_back(S(
      "list_slices", {"aten::slice.t"},
      "s = x.size(); t = s[1:]; u = s[::-1]; w = s[-5:1]; v = s[0:2:3];"
      "return x.view(t[0], -1) + u[0] * 10 + len(w) + s[0:2][1] * 100 + len(v) * 1000 + len(s[5:])",
      {xd}));
  c.push_back(
      S("float_lists", {"prim::max.self_float", "prim::min.self_float"},
        "s: List[float] = [x.size(0) * 0.5, 2.0, x.size(1) * 0.25]; return x * max(s) + min(s)",
        {xd}));
  c.push_back(S("list_unpack_and_tuples", {"prim::ListUnpack", "prim::TupleConstruct"},
                "a, b = torch.split(x, 2); n, m = x.size(); return a + b + n, a - m",
                {D({4, 3}, {4, 6}, {4, 9})}));
  c.push_back(
      S("int_list_equality", {"aten::eq.int_list", "aten::ne.int_list"},
        "return x * float(x.size() == [4, 6]) + float(x.size() != [4, 6]) + float(x.size() == [4])",
        {xd}));
  c.push_back(S("tensor_to_number",
                {"aten::Int.Tensor", "aten::Float.Tensor", "aten::Bool.Tensor", "aten::Int.float",
                 "aten::item"},
                "n = x.size(0);"
                "return x * int(x.sum()), x + float(x.mean()), x + float(bool(x.sum() > 0)), x + "
                "int(n * 1.5), x + float(n),"
                " x + x.max().item()",
                {xd}, 1e-4, 1e-4));
  c.push_back(C("views_passthrough", {"aten::alias", "aten::lift_fresh"},
                "torch.alias(x) * 2.0 + torch.lift_fresh(x)", {kX}));

  c.push_back(C("sym_size", {"aten::sym_size.int", "aten::sym_size", "aten::sym_numel"},
                "x.view(torch.sym_size(x, 0), -1) * torch.sym_size(x)[1] + torch.sym_numel(x)",
                {xd}));
  // Overloads on Scalar (number) values and prim::NumToTensor: written as IR.
  c.push_back(G("num_to_tensor", {"prim::NumToTensor.Scalar", "aten::Int.Tensor"},
                R"IR(graph(%x : Tensor):
  %c0 : int = prim::Constant[value=0]()
  %c1 : int = prim::Constant[value=1]()
  %c2 : int = prim::Constant[value=2]()
  %n : int = aten::size(%x, %c0)
  %t : Tensor = prim::NumToTensor(%n)
  %h : Tensor = aten::floor_divide(%t, %c2)
  %hi : int = aten::Int(%h)
  %a : Tensor = aten::slice(%x, %c0, %c0, %hi, %c1)
  %b : Tensor = aten::mul(%a, %t)
  return (%b))IR",
                {D({2, 3}, {4, 3}, {8, 3})}));
  c.push_back(G("scalar_overloads",
                {"aten::ScalarImplicit",
                 "aten::add",
                 "aten::sub",
                 "aten::mul",
                 "aten::floordiv",
                 "aten::remainder",
                 "aten::eq",
                 "aten::ne",
                 "aten::lt",
                 "aten::le",
                 "aten::gt",
                 "aten::ge",
                 "prim::max",
                 "prim::min",
                 "aten::pow.Scalar_Scalar",
                 "aten::neg.Scalar",
                 "prim::abs.Scalar",
                 "aten::floor.Scalar",
                 "aten::ceil.Scalar",
                 "aten::round.Scalar",
                 "aten::sqrt.Scalar",
                 "aten::log.Scalar",
                 "aten::exp.Scalar",
                 "aten::FloatImplicit",
                 "aten::Float.Scalar"},
                R"IR(graph(%x : Tensor, %t1 : Tensor, %u1 : Tensor):
  %none : NoneType = prim::Constant()
  %t : Tensor = aten::sum(%t1, %none)
  %u : Tensor = aten::sum(%u1, %none)
  %a : Scalar = aten::ScalarImplicit(%t)
  %b : Scalar = aten::ScalarImplicit(%u)
  %r0 : Scalar = aten::add(%a, %b)
  %r1 : Scalar = aten::sub(%a, %b)
  %r2 : Scalar = aten::mul(%a, %b)
  %r3 : Scalar = aten::floordiv(%a, %b)
  %r4 : Scalar = aten::remainder(%a, %b)
  %r5 : Scalar = prim::max(%a, %b)
  %r6 : Scalar = prim::min(%a, %b)
  %r7 : Scalar = aten::neg(%a)
  %r8 : Scalar = prim::abs(%a)
  %r9 : Scalar = aten::floor(%a)
  %r10 : Scalar = aten::ceil(%a)
  %r11 : Scalar = aten::round(%a)
  %r12 : Scalar = aten::sqrt(%b)
  %r13 : Scalar = aten::log(%b)
  %r14 : Scalar = aten::exp(%a)
  %r15 : float = aten::pow(%b, %a)
  %e0 : bool = aten::eq(%a, %b)
  %e1 : bool = aten::ne(%a, %b)
  %e2 : bool = aten::lt(%a, %b)
  %e3 : bool = aten::le(%a, %b)
  %e4 : bool = aten::gt(%a, %b)
  %e5 : bool = aten::ge(%a, %b)
  %f0 : float = aten::Float(%e0)
  %f1 : float = aten::Float(%e1)
  %f2 : float = aten::Float(%e2)
  %f3 : float = aten::Float(%e3)
  %f4 : float = aten::Float(%e4)
  %f5 : float = aten::Float(%e5)
  %fr : float = aten::FloatImplicit(%t)
  %fs : float = aten::Float(%r0)
  %o0 : Tensor = aten::mul(%x, %r0)
  %o1 : Tensor = aten::mul(%x, %r1)
  %o2 : Tensor = aten::mul(%x, %r2)
  %o3 : Tensor = aten::mul(%x, %r3)
  %o4 : Tensor = aten::mul(%x, %r4)
  %o5 : Tensor = aten::mul(%x, %r5)
  %o6 : Tensor = aten::mul(%x, %r6)
  %o7 : Tensor = aten::mul(%x, %r7)
  %o8 : Tensor = aten::mul(%x, %r8)
  %o9 : Tensor = aten::mul(%x, %r9)
  %o10 : Tensor = aten::mul(%x, %r10)
  %o11 : Tensor = aten::mul(%x, %r11)
  %o12 : Tensor = aten::mul(%x, %r12)
  %o13 : Tensor = aten::mul(%x, %r13)
  %o14 : Tensor = aten::mul(%x, %r14)
  %o15 : Tensor = aten::mul(%x, %r15)
  %p0 : Tensor = aten::mul(%x, %f0)
  %p1 : Tensor = aten::mul(%x, %f1)
  %p2 : Tensor = aten::mul(%x, %f2)
  %p3 : Tensor = aten::mul(%x, %f3)
  %p4 : Tensor = aten::mul(%x, %f4)
  %p5 : Tensor = aten::mul(%x, %f5)
  %p6 : Tensor = aten::mul(%x, %fr)
  %p7 : Tensor = aten::mul(%x, %fs)
  %out : (Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor) = prim::TupleConstruct(%o0, %o1, %o2, %o3, %o4, %o5, %o6, %o7, %o8, %o9, %o10, %o11, %o12, %o13, %o14, %o15, %p0, %p1, %p2, %p3, %p4, %p5, %p6, %p7)
  return (%out))IR",
                {F({3, 4}), P({1}), P({1})}, 1e-4, 1e-4));
  c.push_back(G("int_scalar_overloads",
                {"aten::Int.Scalar", "aten::Bool.int", "aten::Bool.float", "aten::neg.float"},
                R"IR(graph(%x : Tensor, %t1 : Tensor):
  %none : NoneType = prim::Constant()
  %t : Tensor = aten::sum(%t1, %none)
  %c0 : int = prim::Constant[value=0]()
  %c2 : int = prim::Constant[value=2]()
  %a : Scalar = aten::ScalarImplicit(%t)
  %i : int = aten::Int(%a)
  %n : int = aten::size(%x, %c0)
  %p : float = aten::pow(%n, %c2)
  %q : float = aten::neg(%p)
  %d : int = aten::sub(%n, %c2)
  %b0 : bool = aten::Bool(%d)
  %fl : float = aten::Float(%n)
  %b1 : bool = aten::Bool(%fl)
  %f0 : float = aten::Float(%b0)
  %f1 : float = aten::Float(%b1)
  %o0 : Tensor = aten::mul(%x, %i)
  %o1 : Tensor = aten::add(%x, %q, %c2)
  %o2 : Tensor = aten::mul(%x, %f0)
  %o3 : Tensor = aten::mul(%x, %f1)
  %out : (Tensor, Tensor, Tensor, Tensor) = prim::TupleConstruct(%o0, %o1, %o2, %o3)
  return (%out))IR",
                {D({1, 4}, {2, 4}, {5, 4}), I({1}, -5, 5)}));
  c.push_back(G("list_repeat_right", {"aten::mul.right_"},
                R"IR(graph(%x : Tensor):
  %c0 : int = prim::Constant[value=0]()
  %c1 : int = prim::Constant[value=1]()
  %m1 : int = prim::Constant[value=-1]()
  %n : int = aten::size(%x, %c0)
  %l : int[] = prim::ListConstruct(%n)
  %r : int[] = aten::mul(%c1, %l)
  %s : int[] = aten::add(%r, %l)
  %k : int = aten::len(%s)
  %v : int[] = prim::ListConstruct(%n, %m1)
  %y : Tensor = aten::view(%x, %v)
  %z : Tensor = aten::mul(%y, %k)
  return (%z))IR",
                {D({1, 4}, {2, 4}, {5, 4})}));
  c.push_back(G("float_int_conversions",
                {"aten::Float.Scalar", "aten::IntImplicit", "aten::list.t"},
                R"IR(graph(%x : Tensor, %t1 : Tensor):
  %none : NoneType = prim::Constant()
  %t : Tensor = aten::sum(%t1, %none)
  %c0 : int = prim::Constant[value=0]()
  %i : int = aten::IntImplicit(%t)
  %f : float = aten::Float(%i)
  %n : int = aten::size(%x, %c0)
  %m1 : int = prim::Constant[value=-1]()
  %l : int[] = prim::ListConstruct(%n, %m1)
  %l2 : int[] = aten::list(%l)
  %y : Tensor = aten::view(%x, %l2)
  %z : Tensor = aten::mul(%y, %f)
  return (%z))IR",
                {D({1, 4}, {2, 4}, {5, 4}), I({1}, -5, 5)}));
  return c;
}

const std::vector<Case>& all_cases() {
  static const std::vector<Case> cases = [] {
    std::vector<Case> all;
    for (auto f : {activation_cases, elementwise_cases, reduction_cases, normalization_cases,
                   attention_cases, evaluator_cases}) {
      auto v = f();
      all.insert(all.end(), v.begin(), v.end());
    }
    return all;
  }();
  return cases;
}

// Ops registered by these families that no TorchScript graph reaching a converter can hold.
const std::map<std::string, std::string>& exempt_ops() {
  static const std::map<std::string, std::string> m = {
      {"aten::clone.default", "FX spelling (tested through the FX frontend)"},
      {"aten::dropout",
       "removed by the importer in eval mode; training mode falls back "
       "(DropoutInTrainingFallsBack)"},
      {"aten::feature_dropout", "removed by the importer in eval mode; training mode falls back"},
      {"aten::alpha_dropout", "removed by the importer in eval mode; training mode falls back"},
      {"aten::feature_alpha_dropout",
       "removed by the importer in eval mode; training mode falls back"},
      {"aten::dim", "always folded: the input specs fix every rank"},
      {"aten::_scaled_dot_product_flash_attention",
       "CUDA-only kernel (no CPU eager reference): GPU zoo run, bench/zoo.py --device cuda"},
      {"aten::_scaled_dot_product_efficient_attention",
       "CUDA-only kernel (no CPU eager reference): GPU zoo run"},
      {"aten::_scaled_dot_product_cudnn_attention",
       "CUDA-only kernel (no CPU eager reference): GPU zoo run (vit_b_16 exports it)"},
      {"prim::shape", "no TorchScript operator (FX frontend spelling)"},
      {"prim::NumToTensor", "TorchScript names it prim::NumToTensor.Scalar"},
      {"prim::TupleUnpack", "lowered away by the importer (LowerSimpleTuples)"},
      {"prim::TupleIndex", "lowered away by the importer (LowerSimpleTuples)"},
      {"prim::abs", "TorchScript names it prim::abs.int / .float / .Scalar"},
      {"aten::__is__", "folded by the importer (tensor inputs are never None)"},
      {"aten::__isnot__", "folded by the importer (tensor inputs are never None)"},
      {"aten::eq.str", "constants only: folded by TorchScript's constant propagation"},
      {"aten::ne.str", "constants only: folded by TorchScript's constant propagation"},
      {"aten::eq.device", "constants only: folded by TorchScript's constant propagation"},
      {"aten::ne.device", "constants only: folded by TorchScript's constant propagation"},
      {"aten::eq.float_list", "float lists only hold constants in these graphs: folded"},
      {"aten::ne.float_list", "float lists only hold constants in these graphs: folded"},
      {"aten::eq.bool_list", "bool lists only hold constants in these graphs: folded"},
      {"aten::ne.bool_list", "bool lists only hold constants in these graphs: folded"},
      {"aten::ceil.int", "TorchScript drops ceil / floor of an int"},
      {"aten::pow.int_to_int", "TorchScript resolves int ** int to aten::pow.int (a float)"},
      {"prim::dtype", "folded by the importer: the input specs fix every dtype"},
      {"prim::device", "folded by the importer: the target device is fixed"},
      {"aten::to.prim_dtype", "folded by the importer into aten::to.dtype (dtypes are constants)"},
      {"prim::unchecked_cast", "removed by the importer's peephole pass"},
      {"aten::Float.int", "TorchScript resolves float(int) to aten::Float.Scalar"},
      {"aten::detach", "removed by the importer's passes (inference graphs)"},
      {"aten::_local_scalar_dense",
       "FX spelling of aten::item (tests/python/test_core_aten_gaps.py, through the FX frontend)"},
      {"prim::DictConstruct", "only evaluated by PyTorch"},
      {"prim::RaiseException", "only evaluated by PyTorch"},
      {"aten::warn", "only evaluated by PyTorch"},
      {"prim::Uninitialized", "only evaluated by PyTorch"},
  };
  return m;
}

// The ops registered by the families under test.
std::set<std::string> registered_ops() {
  bridge::ConverterRegistry r;
  bridge::register_evaluators(r);
  bridge::register_elementwise_converters(r);
  bridge::register_activation_converters(r);
  bridge::register_normalization_converters(r);
  bridge::register_reduction_converters(r);
  bridge::register_attention_converters(r);
  auto ops = r.ops();
  return {ops.begin(), ops.end()};
}

// ---- running a case ----

torch::jit::Module module_from_ir(const std::string& ir) {
  auto g = std::make_shared<torch::jit::Graph>();
  torch::jit::parseIR(ir, g.get());
  torch::jit::Module m("TestIrModule");
  torch::jit::Value* self = g->insertInput(0, "self");
  self->setType(m.type());
  auto* fn = m._ivalue()->compilation_unit()->create_function(
      c10::QualifiedName(*m.type()->name(), "forward"), g);
  m.type()->addMethod(fn);
  m.eval();
  return m;
}

// "  aten::abs: 1 in Kiln" lines of the support report, by op.
std::map<std::string, std::string> report_lines(const std::string& report) {
  std::map<std::string, std::string> out;
  std::istringstream lines(report);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("  ", 0) != 0) continue;
    size_t colon = line.find(": ");
    if (colon == std::string::npos) continue;
    out[line.substr(2, colon - 2)] = line.substr(colon + 2);
  }
  return out;
}

class NlpConverterTest : public ::testing::TestWithParam<Case> {};

TEST_P(NlpConverterTest, MatchesEager) {
  const Case& c = GetParam();
  torch::jit::Module m =
      c.code.rfind("graph(", 0) == 0 ? module_from_ir(c.code) : testing::module_from_source(c.code);
  torchscript::CompileSpec spec;
  bool dynamic = false;
  for (const In& in : c.inputs) {
    spec.inputs.emplace_back(in.min, in.opt, in.max, in.dtype);
    dynamic |= in.dynamic();
  }
  spec.device.type = torchscript::DeviceType::kCPU;
  spec.min_block_size = 1;
  spec.require_full_compilation = true;
  auto report = torchscript::check_method_support(m, "forward", spec);
  ASSERT_TRUE(report.ok()) << report.status().to_string() << "\n" << c.code;
  auto lines = report_lines(*report);
  for (const std::string& op : c.ops) {
    auto it = lines.find(op);
    ASSERT_NE(it, lines.end()) << op << " is not in the imported graph of\n"
                               << c.code << "\n"
                               << *report;
    EXPECT_EQ(it->second.find("in PyTorch"), std::string::npos) << op << ": " << it->second;
  }
  auto compiled = torchscript::compile(m, spec);
  ASSERT_TRUE(compiled.ok()) << compiled.status().to_string() << "\n" << c.code;
  EXPECT_LE(testing::count_engines(*compiled), 1);
  at::NoGradGuard no_grad;
  std::vector<int> which = dynamic ? std::vector<int>{0, 1, 2} : std::vector<int>{1};
  for (int w : which) {
    at::manual_seed(static_cast<uint64_t>(17 + w));
    std::vector<c10::IValue> inputs;
    for (const In& in : c.inputs)
      inputs.emplace_back(make_input(in, w == 0 ? in.min : w == 1 ? in.opt : in.max));
    c10::IValue want = m.forward(inputs);
    c10::IValue got = compiled->forward(inputs);
    EXPECT_TRUE(testing::outputs_match(got, want, c.rtol, c.atol)) << c.code << "\nat "
                                                                   << (w == 0   ? "min"
                                                                       : w == 1 ? "opt"
                                                                                : "max")
                                                                   << " shapes";
  }
}

INSTANTIATE_TEST_SUITE_P(Ops, NlpConverterTest, ::testing::ValuesIn(all_cases()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return info.param.name;
                         });

TEST(NlpConverters, EveryRegisteredOpHasACase) {
  std::set<std::string> covered;
  std::set<std::string> names;
  for (const Case& c : all_cases()) {
    covered.insert(c.ops.begin(), c.ops.end());
    EXPECT_TRUE(names.insert(c.name).second) << "duplicate case name " << c.name;
  }
  std::vector<std::string> missing;
  for (const std::string& op : registered_ops()) {
    if (covered.count(op) || exempt_ops().count(op)) continue;
    missing.push_back(op);
  }
  std::string list;
  for (const auto& op : missing) list += "\n  " + op;
  EXPECT_TRUE(missing.empty()) << missing.size() << " registered ops have no test case:" << list;
  for (const auto& [op, why] : exempt_ops())
    EXPECT_FALSE(covered.count(op)) << op << " is exempt (" << why << ") but also covered";
}

// Dropout in training mode is random: it must stay in PyTorch (and eval-mode dropout disappears).
TEST(NlpConverters, DropoutInTrainingFallsBack) {
  auto m = testing::module_from_source(
      "def forward(self, x):\n    return torch.dropout(torch.relu(x), 0.5, True) + 1.0\n");
  auto spec = testing::cpu_spec({{{4, 5}, at::kFloat}}, false);
  auto report = torchscript::check_method_support(m, "forward", spec);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_NE(report->find("aten::dropout: 1 in PyTorch (dropout in training mode)"),
            std::string::npos)
      << *report;
  auto eval = testing::module_from_source(
      "def forward(self, x):\n    return torch.dropout(torch.relu(x), 0.5, False) + 1.0\n");
  testing::expect_compiles_and_matches(eval, testing::cpu_spec({{{4, 5}, at::kFloat}}),
                                       {at::randn({4, 5})});
}

// Argument combinations a converter refuses fall back to PyTorch instead of failing the compile.
TEST(NlpConverters, UnsupportedArgumentsFallBack) {
  auto m = testing::module_from_source(R"(
def forward(self, q, k, v, m):
    a = torch.scaled_dot_product_attention(q, k, v, m, 0.1)
    b = torch.scaled_dot_product_attention(q, k, v, None, 0.0, True)
    return a.shape[0] + b
)");
  at::Tensor q = at::randn({2, 3, 4}), k = at::randn({2, 5, 4}), v = at::randn({2, 5, 4}),
             mask = at::ones({2, 3, 5}, at::kBool);
  auto spec = testing::cpu_spec({{{2, 3, 4}, at::kFloat},
                                 {{2, 5, 4}, at::kFloat},
                                 {{2, 5, 4}, at::kFloat},
                                 {{2, 3, 5}, at::kBool}},
                                false);
  auto report = torchscript::check_method_support(m, "forward", spec);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_NE(report->find("1 in Kiln, 1 in PyTorch (dropout_p must be a constant 0)"),
            std::string::npos)
      << *report;
  auto c = torchscript::compile(m, spec);
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  at::NoGradGuard no_grad;
  // dropout in sdpa is random in eager too: compare the deterministic part only.
  auto out = c->forward({q, k, v, mask}).toTensor();
  auto want = torch::jit::Module(m).forward({q, k, v, mask}).toTensor();
  EXPECT_TRUE(testing::outputs_match(out, want));
}

}  // namespace
}  // namespace kiln
