// Inference for pointwise ops: binary, unary, where, cast, identity.
#include <cmath>
#include <string>

#include "ir/dim_math.h"
#include "ir/infer_fns.h"

namespace kiln::ir {
namespace {

bool is_comparison(BinaryOp op) { return op >= BinaryOp::kEqual && op <= BinaryOp::kGreaterEqual; }
bool is_logical(BinaryOp op) { return op >= BinaryOp::kAnd && op <= BinaryOp::kXor; }
bool is_bitwise(BinaryOp op) { return op >= BinaryOp::kBitAnd && op <= BinaryOp::kBitXor; }

bool float_only(UnaryOp op) {
  switch (op) {
    case UnaryOp::kExp:
    case UnaryOp::kLog:
    case UnaryOp::kSqrt:
    case UnaryOp::kRsqrt:
    case UnaryOp::kReciprocal:
    case UnaryOp::kSin:
    case UnaryOp::kCos:
    case UnaryOp::kTan:
    case UnaryOp::kTanh:
    case UnaryOp::kErf:
    case UnaryOp::kElu:
    case UnaryOp::kSelu:
    case UnaryOp::kGelu:
    case UnaryOp::kGeluTanh:
    case UnaryOp::kSilu:
    case UnaryOp::kSigmoid:
    case UnaryOp::kHardSigmoid:
    case UnaryOp::kHardSwish:
    case UnaryOp::kSoftplus:
    case UnaryOp::kMish:
    case UnaryOp::kLog1p:
    case UnaryOp::kExpm1:
    case UnaryOp::kAtan:
    case UnaryOp::kAsin:
    case UnaryOp::kAcos:
    case UnaryOp::kSinh:
    case UnaryOp::kCosh:
    case UnaryOp::kLog2:
    case UnaryOp::kLeakyRelu:
      return true;
    default:
      return false;
  }
}

// Element i of a tracked value broadcast to `n` elements (value of size 1 repeats).
int64_t at(const ShapeValue& v, size_t i) { return v.size() == 1 ? v[0] : v[i]; }

int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

}  // namespace

Status infer_binary(const Layer& layer, std::span<const InferInput> in, InferResult& out) {
  auto op = std::get<BinaryParams>(layer.params).op;
  const TensorType& a = *in[0].type;
  const TensorType& b = *in[1].type;
  if (a.dtype != b.dtype) {
    return type_error("input dtypes differ: " + std::string(dtype_name(a.dtype)) + " vs " +
                      std::string(dtype_name(b.dtype)) + " (insert a cast)");
  }
  if (is_bitwise(op) && is_floating(a.dtype)) {
    return type_error("bitwise '" + std::string(enum_names(op)[static_cast<size_t>(op)]) +
                      "' on float inputs");
  }
  if (a.dtype == DataType::kBool && !is_comparison(op) && !is_logical(op) && !is_bitwise(op) &&
      op != BinaryOp::kMax && op != BinaryOp::kMin) {
    return type_error("arithmetic '" + std::string(enum_names(op)[static_cast<size_t>(op)]) +
                      "' on bool inputs");
  }
  KILN_ASSIGN_OR_RETURN(auto dims, broadcast_dims(a.dims, b.dims));
  DataType dt = (is_comparison(op) || is_logical(op)) ? DataType::kBool : a.dtype;
  out.types = {TensorType{dt, dims}};
  return {};
}

void value_binary(const Layer& layer, std::span<const InferInput> in, InferResult& out) {
  if (!in[0].value || !in[1].value) return;
  auto op = std::get<BinaryParams>(layer.params).op;
  const ShapeValue& a = *in[0].value;
  const ShapeValue& b = *in[1].value;
  size_t n = static_cast<size_t>(out.types[0].dims.volume());
  ShapeValue r(n, kUnknownValue);
  for (size_t i = 0; i < n; ++i) {
    int64_t x = at(a, i), y = at(b, i);
    if (x == kUnknownValue || y == kUnknownValue) continue;
    switch (op) {
      case BinaryOp::kAdd:
        r[i] = wrap_add(x, y);
        break;
      case BinaryOp::kSub:
        r[i] = wrap_sub(x, y);
        break;
      case BinaryOp::kMul:
        r[i] = wrap_mul(x, y);
        break;
      case BinaryOp::kDiv:
      case BinaryOp::kTruncDiv:
        if (y != 0 && y != -1) r[i] = x / y;
        break;
      case BinaryOp::kFloorDiv:
        if (y != 0 && y != -1) r[i] = floor_div(x, y);
        break;
      case BinaryOp::kMod:
        if (y != 0 && y != -1) r[i] = wrap_sub(x, wrap_mul(floor_div(x, y), y));
        break;
      case BinaryOp::kFmod:
        if (y != 0 && y != -1) r[i] = x % y;
        break;
      case BinaryOp::kMax:
        r[i] = std::max(x, y);
        break;
      case BinaryOp::kMin:
        r[i] = std::min(x, y);
        break;
      case BinaryOp::kEqual:
        r[i] = x == y;
        break;
      case BinaryOp::kNotEqual:
        r[i] = x != y;
        break;
      case BinaryOp::kLess:
        r[i] = x < y;
        break;
      case BinaryOp::kLessEqual:
        r[i] = x <= y;
        break;
      case BinaryOp::kGreater:
        r[i] = x > y;
        break;
      case BinaryOp::kGreaterEqual:
        r[i] = x >= y;
        break;
      case BinaryOp::kAnd:
        r[i] = (x != 0) && (y != 0);
        break;
      case BinaryOp::kOr:
        r[i] = (x != 0) || (y != 0);
        break;
      case BinaryOp::kXor:
        r[i] = (x != 0) != (y != 0);
        break;
      case BinaryOp::kBitAnd:
        r[i] = x & y;
        break;
      case BinaryOp::kBitOr:
        r[i] = x | y;
        break;
      case BinaryOp::kBitXor:
        r[i] = x ^ y;
        break;
      case BinaryOp::kPow: {
        if (y < 0) break;
        int64_t p = 1;
        for (int64_t k = 0; k < y && k < 64; ++k) p = wrap_mul(p, x);
        r[i] = p;
        break;
      }
    }
  }
  out.values[0] = std::move(r);
}

Status infer_unary(const Layer& layer, std::span<const InferInput> in, InferResult& out) {
  const auto& p = std::get<UnaryParams>(layer.params);
  const TensorType& x = *in[0].type;
  if (float_only(p.op) && !is_floating(x.dtype)) {
    return type_error("unary '" + std::string(enum_names(p.op)[static_cast<size_t>(p.op)]) +
                      "' needs a float input, got " + std::string(dtype_name(x.dtype)));
  }
  if (x.dtype == DataType::kBool && p.op != UnaryOp::kNot && p.op != UnaryOp::kIdentity) {
    return type_error("unary '" + std::string(enum_names(p.op)[static_cast<size_t>(p.op)]) +
                      "' on a bool input");
  }
  DataType dt = (p.op == UnaryOp::kNot || p.op == UnaryOp::kIsNan) ? DataType::kBool : x.dtype;
  out.types = {TensorType{dt, x.dims}};
  return {};
}

void value_unary(const Layer& layer, std::span<const InferInput> in, InferResult& out) {
  if (!in[0].value) return;
  const auto& p = std::get<UnaryParams>(layer.params);
  ShapeValue r = *in[0].value;
  for (int64_t& v : r) {
    if (v == kUnknownValue) continue;
    switch (p.op) {
      case UnaryOp::kIdentity:
      case UnaryOp::kFloor:
      case UnaryOp::kCeil:
      case UnaryOp::kRound:
        break;
      case UnaryOp::kNeg:
        v = wrap_sub(0, v);
        break;
      case UnaryOp::kAbs:
        v = v < 0 ? wrap_sub(0, v) : v;
        break;
      case UnaryOp::kSign:
        v = (v > 0) - (v < 0);
        break;
      case UnaryOp::kNot:
        v = v == 0;
        break;
      case UnaryOp::kRelu:
        v = v < 0 ? 0 : v;
        break;
      case UnaryOp::kClamp:
        if (!std::isnan(p.alpha)) v = std::max(v, static_cast<int64_t>(std::ceil(p.alpha)));
        if (!std::isnan(p.beta)) v = std::min(v, static_cast<int64_t>(std::floor(p.beta)));
        break;
      default:
        v = kUnknownValue;
        break;
    }
  }
  out.values[0] = std::move(r);
}

Status infer_where(const Layer&, std::span<const InferInput> in, InferResult& out) {
  const TensorType& c = *in[0].type;
  const TensorType& a = *in[1].type;
  const TensorType& b = *in[2].type;
  if (c.dtype != DataType::kBool)
    return type_error("condition must be bool, got " + std::string(dtype_name(c.dtype)));
  if (a.dtype != b.dtype) {
    return type_error("value dtypes differ: " + std::string(dtype_name(a.dtype)) + " vs " +
                      std::string(dtype_name(b.dtype)));
  }
  KILN_ASSIGN_OR_RETURN(auto ab, broadcast_dims(a.dims, b.dims));
  KILN_ASSIGN_OR_RETURN(auto all, broadcast_dims(c.dims, ab));
  out.types = {TensorType{a.dtype, all}};
  return {};
}

void value_where(const Layer&, std::span<const InferInput> in, InferResult& out) {
  if (!in[0].value || !in[1].value || !in[2].value) return;
  size_t n = static_cast<size_t>(out.types[0].dims.volume());
  ShapeValue r(n, kUnknownValue);
  for (size_t i = 0; i < n; ++i) {
    int64_t c = at(*in[0].value, i);
    if (c == kUnknownValue) continue;
    r[i] = c != 0 ? at(*in[1].value, i) : at(*in[2].value, i);
  }
  out.values[0] = std::move(r);
}

Status infer_cast(const Layer& layer, std::span<const InferInput> in, InferResult& out) {
  out.types = {TensorType{std::get<CastParams>(layer.params).to, in[0].type->dims}};
  return {};
}

void value_cast(const Layer& layer, std::span<const InferInput> in, InferResult& out) {
  if (!in[0].value) return;
  DataType to = std::get<CastParams>(layer.params).to;
  ShapeValue r = *in[0].value;
  if (to == DataType::kBool) {
    for (int64_t& v : r)
      if (v != kUnknownValue) v = v != 0;
  } else if (to == DataType::kInt32) {
    for (int64_t& v : r)
      if (v != kUnknownValue) v = static_cast<int32_t>(v);
  }
  out.values[0] = std::move(r);
}

Status infer_identity(const Layer&, std::span<const InferInput> in, InferResult& out) {
  out.types = {*in[0].type};
  return {};
}

void value_passthrough(const Layer&, std::span<const InferInput> in, InferResult& out) {
  if (in[0].value) out.values[0] = *in[0].value;
}

}  // namespace kiln::ir
