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

// elu with scale / input_scale (selu's decomposition): where(x > 0, x, elu(input_scale * x)) *
// scale.
Status scaled_elu(ConversionCtx& ctx, const Node& n, double alpha, double scale, double in_scale) {
  auto x = ctx.tensor(n, 0);
  if (!x) return x.status();
  kiln::Tensor t = *x;
  if (!is_floating(ctx.dtype(t))) {
    auto c = ctx.cast(t, kDefaultFloat);
    if (!c) return c.status();
    t = *c;
  }
  DataType dt = ctx.dtype(t);
  auto is = ctx.scalar(in_scale, dt);
  auto sc = ctx.scalar(scale, dt);
  auto zero = ctx.scalar(0.0, dt);
  if (!is || !sc || !zero) return ctx.error(n, "elu: constants");
  auto xs = ctx.net.add_elementwise(t, *is, BinaryOp::kMul);
  if (!xs) return xs.status();
  auto e = ctx.net.add_unary(*xs, UnaryOp::kElu, alpha);
  if (!e) return e.status();
  auto pos = ctx.net.add_elementwise(t, *zero, BinaryOp::kGreater);
  if (!pos) return pos.status();
  auto w = ctx.net.add_where(*pos, t, *e);
  if (!w) return w.status();
  return set_output_tensor(ctx, n, ctx.net.add_elementwise(*w, *sc, BinaryOp::kMul));
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
        // elu(x, alpha, scale, input_scale) = scale * (x > 0 ? x : alpha * expm1(input_scale * x))
        double alpha = arg_or(c, n, 1, 1.0), scale = arg_or(c, n, 2, 1.0),
               in_scale = arg_or(c, n, 3, 1.0);
        if (scale == 1.0 && in_scale == 1.0) return unary(c, n, UnaryOp::kElu, alpha, 0, true);
        return scaled_elu(c, n, alpha, scale, in_scale);
      },
      [](const OpGraph& g, const Node& n, std::string* why) {
        for (size_t i = 1; i < 4 && i < n.inputs.size(); ++i) {
          if (!g.is_constant(n.inputs[i])) {
            *why = "elu's alpha, scale and input_scale must be constants";
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
