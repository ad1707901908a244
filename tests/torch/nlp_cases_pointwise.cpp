// Converter cases of the activation and elementwise families (run by test_converters_nlp.cpp).
#include "nlp_cases.h"

namespace kiln::nlp_cases {

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

}  // namespace kiln::nlp_cases
