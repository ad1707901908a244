// Unary math and activations: one table from aten op to Kiln UnaryOp (with parameters).
#include <cmath>
#include <limits>

#include "converters/families.h"

namespace kiln::bridge {
namespace {

Status unary(ConversionCtx& ctx, const Node& n, UnaryOp op, double alpha, double beta,
             bool float_result) {
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  kiln::Tensor t = x;
  if (float_result && !is_floating(ctx.dtype(t))) {
    KILN_ASSIGN_OR_RETURN(auto c, ctx.cast(t, kDefaultFloat));
    t = c;
  }
  KILN_ASSIGN_OR_RETURN(auto r, ctx.check(n, ctx.net.add_unary(t, op, alpha, beta)));
  ctx.set_output(n, 0, r);
  return {};
}

struct UnaryEntry {
  std::initializer_list<const char*> ops;
  UnaryOp op;
  bool float_result;  // int inputs promote to float (torch.exp(int) is float)
};

double arg_or(ConversionCtx& ctx, const Node& n, size_t i, double def) {
  if (i >= n.inputs.size() || ctx.is_none(n, i)) return def;
  auto v = ctx.const_double(n, i);
  return v ? *v : def;
}

}  // namespace

void register_activation_converters(ConverterRegistry& r) {
  const UnaryEntry table[] = {
      {{"aten::abs"}, UnaryOp::kAbs, false},
      {{"aten::neg", "aten::negative"}, UnaryOp::kNeg, false},
      {{"aten::exp"}, UnaryOp::kExp, true},
      {{"aten::log"}, UnaryOp::kLog, true},
      {{"aten::log2"}, UnaryOp::kLog2, true},
      {{"aten::log1p"}, UnaryOp::kLog1p, true},
      {{"aten::expm1"}, UnaryOp::kExpm1, true},
      {{"aten::sqrt"}, UnaryOp::kSqrt, true},
      {{"aten::rsqrt"}, UnaryOp::kRsqrt, true},
      {{"aten::reciprocal"}, UnaryOp::kReciprocal, true},
      {{"aten::sin"}, UnaryOp::kSin, true},
      {{"aten::cos"}, UnaryOp::kCos, true},
      {{"aten::tan"}, UnaryOp::kTan, true},
      {{"aten::atan"}, UnaryOp::kAtan, true},
      {{"aten::asin"}, UnaryOp::kAsin, true},
      {{"aten::acos"}, UnaryOp::kAcos, true},
      {{"aten::sinh"}, UnaryOp::kSinh, true},
      {{"aten::cosh"}, UnaryOp::kCosh, true},
      {{"aten::tanh"}, UnaryOp::kTanh, true},
      {{"aten::erf"}, UnaryOp::kErf, true},
      {{"aten::floor"}, UnaryOp::kFloor, false},
      {{"aten::ceil"}, UnaryOp::kCeil, false},
      {{"aten::round"}, UnaryOp::kRound, false},
      {{"aten::sign"}, UnaryOp::kSign, false},
      {{"aten::relu"}, UnaryOp::kRelu, false},
      {{"aten::sigmoid"}, UnaryOp::kSigmoid, true},
      {{"aten::silu"}, UnaryOp::kSilu, true},
      {{"aten::mish"}, UnaryOp::kMish, true},
      {{"aten::hardsigmoid"}, UnaryOp::kHardSigmoid, true},
      {{"aten::hardswish"}, UnaryOp::kHardSwish, true},
      {{"aten::selu"}, UnaryOp::kSelu, true},
      {{"aten::isnan"}, UnaryOp::kIsNan, false},
  };
  for (const auto& e : table) {
    UnaryOp op = e.op;
    bool fr = e.float_result;
    for (const char* name : e.ops)
      r.add(ConverterInfo{
          name,
          [op, fr](ConversionCtx& c, const Node& n) { return unary(c, n, op, 0, 0, fr); },
          {},
          true,
          false});
  }
  // isinf(x) = |x| == inf (T5 guards its fp16 activations with it).
  add_converter(
      r, {"aten::isinf"},
      [](ConversionCtx& c, const Node& n) -> Status {
        KILN_ASSIGN_OR_RETURN(auto x, c.tensor(n, 0));
        KILN_ASSIGN_OR_RETURN(auto a, c.net.add_unary(x, UnaryOp::kAbs));
        KILN_ASSIGN_OR_RETURN(auto inf,
                              c.scalar(std::numeric_limits<double>::infinity(), c.dtype(x)));
        return set_output_tensor(c, n, c.net.add_elementwise(a, inf, BinaryOp::kEqual));
      },
      [](const OpGraph& g, const Node& n, std::string* why) {
        const Value& v = g.values[static_cast<size_t>(n.inputs[0])];
        if (v.meta && !at::isFloatingType(v.meta->dtype)) {
          *why = "isinf of a non-float tensor";
          return false;
        }
        return true;
      });
  add_converter(r, {"aten::relu6"}, [](ConversionCtx& c, const Node& n) {
    return unary(c, n, UnaryOp::kClamp, 0, 6, false);
  });
  add_converter(r, {"aten::hardtanh"}, [](ConversionCtx& c, const Node& n) {
    return unary(c, n, UnaryOp::kClamp, arg_or(c, n, 1, -1), arg_or(c, n, 2, 1), false);
  });
  add_converter(r, {"aten::leaky_relu"}, [](ConversionCtx& c, const Node& n) {
    return unary(c, n, UnaryOp::kLeakyRelu, arg_or(c, n, 1, 0.01), 0, true);
  });
  add_converter(
      r, {"aten::elu"},
      [](ConversionCtx& c, const Node& n) {
        // elu(x, alpha, scale, input_scale): only the common scale == input_scale == 1 form
        return unary(c, n, UnaryOp::kElu, arg_or(c, n, 1, 1.0), 0, true);
      },
      [](const OpGraph& g, const Node& n, std::string* why) {
        for (size_t i = 2; i < 4 && i < n.inputs.size(); ++i) {
          const Value& v = g.values[static_cast<size_t>(n.inputs[i])];
          if (v.constant && (v.constant->isDouble() || v.constant->isInt()) &&
              v.constant->toScalar().toDouble() != 1.0) {
            *why = "elu with scale != 1";
            return false;
          }
        }
        return true;
      });
  add_converter(r, {"aten::softplus"}, [](ConversionCtx& c, const Node& n) {
    return unary(c, n, UnaryOp::kSoftplus, arg_or(c, n, 1, 1.0), arg_or(c, n, 2, 20.0), true);
  });
  add_converter(r, {"aten::gelu"}, [](ConversionCtx& c, const Node& n) {
    bool tanh = false;
    if (n.inputs.size() > 1) {
      const Arg& a = c.arg(n, 1);
      tanh = a.is_constant() && a.ivalue().isString() && a.ivalue().toStringRef() == "tanh";
    }
    return unary(c, n, tanh ? UnaryOp::kGeluTanh : UnaryOp::kGelu, 0, 0, true);
  });
}

}  // namespace kiln::bridge
