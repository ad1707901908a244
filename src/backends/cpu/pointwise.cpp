// CPU kernels: binary (broadcasting), unary, where, cast and copies. Floats compute in double,
// integers in int64 with wrap-around (no UB) and division by zero yielding 0.
#include <cmath>
#include <cstring>

#include "backends/cpu/cpu_kernels.h"
#include "backends/cpu/dtype_dispatch.h"

namespace kiln::cpu {
namespace {

int64_t wrap_add(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
}
int64_t wrap_sub(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) - static_cast<uint64_t>(b));
}
int64_t wrap_mul(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
}

int64_t trunc_div(int64_t a, int64_t b) {
  if (b == 0) return 0;
  if (b == -1) return wrap_sub(0, a);
  return a / b;
}
int64_t floor_div(int64_t a, int64_t b) {
  if (b == 0) return 0;
  int64_t q = trunc_div(a, b);
  if (b != -1 && (a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

double binary_f(BinaryOp op, double a, double b) {
  switch (op) {
    case BinaryOp::kAdd:
      return a + b;
    case BinaryOp::kSub:
      return a - b;
    case BinaryOp::kMul:
      return a * b;
    case BinaryOp::kDiv:
      return a / b;
    case BinaryOp::kPow:
      return std::pow(a, b);
    case BinaryOp::kMax:
      return (std::isnan(a) || std::isnan(b)) ? NAN : std::max(a, b);
    case BinaryOp::kMin:
      return (std::isnan(a) || std::isnan(b)) ? NAN : std::min(a, b);
    case BinaryOp::kFloorDiv:
      return std::floor(a / b);
    case BinaryOp::kTruncDiv:
      return std::trunc(a / b);
    case BinaryOp::kMod: {
      double m = std::fmod(a, b);
      if (m != 0 && ((m < 0) != (b < 0))) m += b;
      return m;
    }
    case BinaryOp::kFmod:
      return std::fmod(a, b);
    case BinaryOp::kEqual:
      return a == b;
    case BinaryOp::kNotEqual:
      return a != b;
    case BinaryOp::kLess:
      return a < b;
    case BinaryOp::kLessEqual:
      return a <= b;
    case BinaryOp::kGreater:
      return a > b;
    case BinaryOp::kGreaterEqual:
      return a >= b;
    case BinaryOp::kAnd:
      return (a != 0) && (b != 0);
    case BinaryOp::kOr:
      return (a != 0) || (b != 0);
    case BinaryOp::kXor:
      return (a != 0) != (b != 0);
    case BinaryOp::kBitAnd:  // integer-only (shape inference refuses floats)
    case BinaryOp::kBitOr:
    case BinaryOp::kBitXor:
      return NAN;
  }
  return 0;
}

int64_t binary_i(BinaryOp op, int64_t a, int64_t b) {
  switch (op) {
    case BinaryOp::kAdd:
      return wrap_add(a, b);
    case BinaryOp::kSub:
      return wrap_sub(a, b);
    case BinaryOp::kMul:
      return wrap_mul(a, b);
    case BinaryOp::kDiv:
    case BinaryOp::kTruncDiv:
      return trunc_div(a, b);
    case BinaryOp::kFloorDiv:
      return floor_div(a, b);
    case BinaryOp::kMod:
      return b == 0 ? 0 : wrap_sub(a, wrap_mul(floor_div(a, b), b));
    case BinaryOp::kFmod:
      return (b == 0 || b == -1) ? 0 : a % b;
    case BinaryOp::kPow: {
      if (b < 0) return a == 1 ? 1 : (a == -1 ? ((b & 1) ? -1 : 1) : 0);
      int64_t r = 1, base = a;
      for (int64_t e = b; e > 0; e >>= 1) {
        if (e & 1) r = wrap_mul(r, base);
        base = wrap_mul(base, base);
      }
      return r;
    }
    case BinaryOp::kMax:
      return std::max(a, b);
    case BinaryOp::kMin:
      return std::min(a, b);
    case BinaryOp::kEqual:
      return a == b;
    case BinaryOp::kNotEqual:
      return a != b;
    case BinaryOp::kLess:
      return a < b;
    case BinaryOp::kLessEqual:
      return a <= b;
    case BinaryOp::kGreater:
      return a > b;
    case BinaryOp::kGreaterEqual:
      return a >= b;
    case BinaryOp::kAnd:
      return (a != 0) && (b != 0);
    case BinaryOp::kOr:
      return (a != 0) || (b != 0);
    case BinaryOp::kXor:
      return (a != 0) != (b != 0);
    case BinaryOp::kBitAnd:
      return a & b;
    case BinaryOp::kBitOr:
      return a | b;
    case BinaryOp::kBitXor:
      return a ^ b;
  }
  return 0;
}

double softplus(double v, double beta, double threshold) {
  if (beta == 0) beta = 1;
  if (threshold == 0) threshold = 20;
  return v * beta > threshold ? v : std::log1p(std::exp(beta * v)) / beta;
}

double unary_f(const UnaryParams& p, double v) {
  constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
  constexpr double kSeluScale = 1.0507009873554804934193349852946;
  switch (p.op) {
    case UnaryOp::kIdentity:
      return v;
    case UnaryOp::kAbs:
      return std::fabs(v);
    case UnaryOp::kNeg:
      return -v;
    case UnaryOp::kExp:
      return std::exp(v);
    case UnaryOp::kLog:
      return std::log(v);
    case UnaryOp::kSqrt:
      return std::sqrt(v);
    case UnaryOp::kRsqrt:
      return 1.0 / std::sqrt(v);
    case UnaryOp::kReciprocal:
      return 1.0 / v;
    case UnaryOp::kSin:
      return std::sin(v);
    case UnaryOp::kCos:
      return std::cos(v);
    case UnaryOp::kTan:
      return std::tan(v);
    case UnaryOp::kTanh:
      return std::tanh(v);
    case UnaryOp::kErf:
      return std::erf(v);
    case UnaryOp::kFloor:
      return std::floor(v);
    case UnaryOp::kCeil:
      return std::ceil(v);
    case UnaryOp::kRound:
      return std::nearbyint(v);
    case UnaryOp::kSign:
      return std::isnan(v) ? v : static_cast<double>((v > 0) - (v < 0));
    case UnaryOp::kNot:
      return v == 0;
    case UnaryOp::kRelu:
      return std::isnan(v) ? v : (v > 0 ? v : 0.0);
    case UnaryOp::kLeakyRelu:
      return v > 0 ? v : v * p.alpha;
    case UnaryOp::kElu:
      return v > 0 ? v : p.alpha * std::expm1(v);
    case UnaryOp::kSelu:
      return kSeluScale * (v > 0 ? v : kSeluAlpha * std::expm1(v));
    case UnaryOp::kGelu:
      return 0.5 * v * (1.0 + std::erf(v * M_SQRT1_2));
    case UnaryOp::kGeluTanh: {
      double k = std::sqrt(2.0 / M_PI);
      return 0.5 * v * (1.0 + std::tanh(k * (v + 0.044715 * v * v * v)));
    }
    case UnaryOp::kSilu:
      return v / (1.0 + std::exp(-v));
    case UnaryOp::kSigmoid:
      return 1.0 / (1.0 + std::exp(-v));
    case UnaryOp::kHardSigmoid:
      return std::min(std::max(v + 3.0, 0.0), 6.0) / 6.0;
    case UnaryOp::kHardSwish:
      return v * std::min(std::max(v + 3.0, 0.0), 6.0) / 6.0;
    case UnaryOp::kSoftplus:
      return softplus(v, p.alpha, p.beta);
    case UnaryOp::kMish:
      return v * std::tanh(softplus(v, 1.0, 20.0));
    case UnaryOp::kClamp: {
      if (std::isnan(v)) return v;
      if (!std::isnan(p.alpha) && v < p.alpha) v = p.alpha;
      if (!std::isnan(p.beta) && v > p.beta) v = p.beta;
      return v;
    }
    case UnaryOp::kLog1p:
      return std::log1p(v);
    case UnaryOp::kExpm1:
      return std::expm1(v);
    case UnaryOp::kAtan:
      return std::atan(v);
    case UnaryOp::kAsin:
      return std::asin(v);
    case UnaryOp::kAcos:
      return std::acos(v);
    case UnaryOp::kSinh:
      return std::sinh(v);
    case UnaryOp::kCosh:
      return std::cosh(v);
    case UnaryOp::kLog2:
      return std::log2(v);
    case UnaryOp::kIsNan:
      return std::isnan(v) ? 1.0 : 0.0;
  }
  return v;
}

int64_t unary_i(const UnaryParams& p, int64_t v) {
  switch (p.op) {
    case UnaryOp::kAbs:
      return v < 0 ? wrap_sub(0, v) : v;
    case UnaryOp::kNeg:
      return wrap_sub(0, v);
    case UnaryOp::kSign:
      return (v > 0) - (v < 0);
    case UnaryOp::kNot:
      return v == 0;
    case UnaryOp::kRelu:
      return v > 0 ? v : 0;
    case UnaryOp::kClamp:
      if (!std::isnan(p.alpha) && static_cast<double>(v) < p.alpha)
        v = static_cast<int64_t>(std::ceil(p.alpha));
      if (!std::isnan(p.beta) && static_cast<double>(v) > p.beta)
        v = static_cast<int64_t>(std::floor(p.beta));
      return v;
    case UnaryOp::kIsNan:
      return 0;
    default:
      return v;  // identity, floor, ceil, round
  }
}

}  // namespace

double unary_value(const UnaryParams& p, double v) { return unary_f(p, v); }

Status run_binary(const CpuArgs& a) {
  BinaryOp op = std::get<BinaryParams>(a.layer.params).op;
  const TensorView &x = a.in[0], &y = a.in[1], &o = a.out[0];
  std::vector<int64_t> strides[2] = {broadcast_strides(x.dims, o.dims),
                                     broadcast_strides(y.dims, o.dims)};
  visit_dtype(x.dtype, [&](auto in_tag) {
    using TI = typename decltype(in_tag)::type;
    visit_dtype(o.dtype, [&](auto out_tag) {
      using TO = typename decltype(out_tag)::type;
      const TI* px = static_cast<const TI*>(x.data);
      const TI* py = static_cast<const TI*>(y.data);
      TO* po = static_cast<TO*>(o.data);
      for_each_broadcast(o.dims, strides, [&](int64_t i, const std::vector<int64_t>& off) {
        if constexpr (kIsFloat<TI>) {
          po[i] = from_double<TO>(binary_f(op, to_double(px[off[0]]), to_double(py[off[1]])));
        } else {
          po[i] = from_int64<TO>(binary_i(op, to_int64(px[off[0]]), to_int64(py[off[1]])));
        }
      });
    });
  });
  return {};
}

Status run_unary(const CpuArgs& a) {
  const auto& p = std::get<UnaryParams>(a.layer.params);
  const TensorView &x = a.in[0], &o = a.out[0];
  int64_t n = o.numel();
  visit_dtype(x.dtype, [&](auto in_tag) {
    using TI = typename decltype(in_tag)::type;
    visit_dtype(o.dtype, [&](auto out_tag) {
      using TO = typename decltype(out_tag)::type;
      const TI* px = static_cast<const TI*>(x.data);
      TO* po = static_cast<TO*>(o.data);
      for (int64_t i = 0; i < n; ++i) {
        if constexpr (kIsFloat<TI>) {
          po[i] = from_double<TO>(unary_f(p, to_double(px[i])));
        } else {
          po[i] = from_int64<TO>(unary_i(p, to_int64(px[i])));
        }
      }
    });
  });
  return {};
}

Status run_where(const CpuArgs& a) {
  const TensorView &c = a.in[0], &x = a.in[1], &y = a.in[2], &o = a.out[0];
  std::vector<int64_t> strides[3] = {broadcast_strides(c.dims, o.dims),
                                     broadcast_strides(x.dims, o.dims),
                                     broadcast_strides(y.dims, o.dims)};
  size_t es = dtype_size(o.dtype);
  const auto* pc = static_cast<const uint8_t*>(c.data);
  const auto* px = static_cast<const uint8_t*>(x.data);
  const auto* py = static_cast<const uint8_t*>(y.data);
  auto* po = static_cast<uint8_t*>(o.data);
  for_each_broadcast(o.dims, strides, [&](int64_t i, const std::vector<int64_t>& off) {
    const uint8_t* src = pc[off[0]] ? px + off[1] * static_cast<int64_t>(es)
                                    : py + off[2] * static_cast<int64_t>(es);
    std::memcpy(po + i * static_cast<int64_t>(es), src, es);
  });
  return {};
}

Status run_cast(const CpuArgs& a) {
  const TensorView &x = a.in[0], &o = a.out[0];
  int64_t n = o.numel();
  visit_dtype(x.dtype, [&](auto in_tag) {
    using TI = typename decltype(in_tag)::type;
    visit_dtype(o.dtype, [&](auto out_tag) {
      using TO = typename decltype(out_tag)::type;
      const TI* px = static_cast<const TI*>(x.data);
      TO* po = static_cast<TO*>(o.data);
      for (int64_t i = 0; i < n; ++i) {
        if constexpr (kIsFloat<TI> || kIsFloat<TO>) {
          po[i] = from_double<TO>(to_double(px[i]));
        } else {
          po[i] = from_int64<TO>(to_int64(px[i]));
        }
      }
    });
  });
  return {};
}

Status run_copy(const CpuArgs& a) {
  const TensorView &x = a.in[0], &o = a.out[0];
  if (o.data != x.data && o.bytes() > 0) std::memmove(o.data, x.data, o.bytes());
  return {};
}

}  // namespace kiln::cpu
