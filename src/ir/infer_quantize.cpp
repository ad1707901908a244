// Inference for quantize and dequantize: the quantized side is int8, uint8, int32 or float8 e4m3;
// the scale is float32 with one element (per tensor) or x.dims[axis] elements (per channel).
#include <cstdint>
#include <string>

#include "ir/infer_fns.h"

namespace kiln::ir {
namespace {

// The scale (input 1) and zero point (input 2, optional) of a layer over `x`.
Status check_qparams(std::span<const InferInput> in, const TensorType& x, int64_t axis,
                     const char* op) {
  const TensorType& scale = *in[1].type;
  if (scale.dtype != DataType::kFloat32)
    return type_error(std::string(op) + " scale must be f32, got " +
                      std::string(dtype_name(scale.dtype)));
  if (scale.dims.rank() > 1)
    return shape_error(std::string(op) + " scale must have rank 0 or 1, got " +
                       dims_str(scale.dims));
  int64_t n = scale.dims.volume();
  if (n < 0) return shape_error(std::string(op) + " scale must have a static size");
  if (n != 1) {  // per channel
    auto ax = normalize_axis(axis, x.dims.rank(), "axis");
    if (!ax) return ax.status();
    int64_t c = x.dims[*ax];
    if (c >= 0 && c != n)
      return shape_error(std::string(op) + " per-channel scale has " + s(n) +
                         " elements but axis " + s(*ax) + " of the input has " + s(c));
    if (c < 0)
      return shape_error(std::string(op) + " per-channel axis " + s(*ax) +
                         " must have a static extent");
  }
  if (in.size() > 2 && in[2].present()) {
    const TensorType& zp = *in[2].type;
    if (!is_integer(zp.dtype))
      return type_error(std::string(op) + " zero point must be an integer tensor, got " +
                        std::string(dtype_name(zp.dtype)));
    if (zp.dims.volume() != n)
      return shape_error(std::string(op) + " zero point has " + s(zp.dims.volume()) +
                         " elements, the scale " + s(n));
  }
  return {};
}

}  // namespace

Status infer_quantize(const Layer& layer, std::span<const InferInput> in, InferResult& out) {
  const auto& p = std::get<QuantizeParams>(layer.params);
  const TensorType& x = *in[0].type;
  if (!is_floating(x.dtype))
    return type_error("quantize input must be a float tensor, got " +
                      std::string(dtype_name(x.dtype)));
  if (p.to != DataType::kInt8 && p.to != DataType::kUInt8 && p.to != DataType::kInt32 &&
      p.to != DataType::kFloat8E4M3)
    return type_error("quantize produces i8, u8, i32 or f8e4m3, not " +
                      std::string(dtype_name(p.to)));
  if (p.quant_min > p.quant_max)
    return shape_error("quant_min " + s(p.quant_min) + " is above quant_max " + s(p.quant_max));
  if (p.to == DataType::kFloat8E4M3) {
    if (p.quant_min < -448 || p.quant_max > 448)
      return shape_error("float8 e4m3 quant range must lie within [-448, 448]");
    if (in.size() > 2 && in[2].present())
      return type_error("float8 quantization has no zero point");
  } else {
    int64_t lo = p.to == DataType::kInt8 ? -128 : p.to == DataType::kUInt8 ? 0 : INT32_MIN;
    int64_t hi = p.to == DataType::kInt8 ? 127 : p.to == DataType::kUInt8 ? 255 : INT32_MAX;
    if (p.quant_min < lo || p.quant_max > hi)
      return shape_error("quant range [" + s(p.quant_min) + ", " + s(p.quant_max) +
                         "] does not fit " + std::string(dtype_name(p.to)));
  }
  KILN_RETURN_IF_ERROR(check_qparams(in, x, p.axis, "quantize"));
  out.types = {TensorType{p.to, x.dims}};
  return {};
}

Status infer_dequantize(const Layer& layer, std::span<const InferInput> in, InferResult& out) {
  const auto& p = std::get<DequantizeParams>(layer.params);
  const TensorType& q = *in[0].type;
  if (!is_quantized_storage(q.dtype) && q.dtype != DataType::kInt32)
    return type_error("dequantize input must be i8, u8, i32 or f8e4m3, got " +
                      std::string(dtype_name(q.dtype)));
  if (!is_floating(p.to))
    return type_error("dequantize produces a float type, not " + std::string(dtype_name(p.to)));
  if (q.dtype == DataType::kFloat8E4M3 && in.size() > 2 && in[2].present())
    return type_error("float8 dequantization has no zero point");
  KILN_RETURN_IF_ERROR(check_qparams(in, q, p.axis, "dequantize"));
  out.types = {TensorType{p.to, q.dims}};
  return {};
}

}  // namespace kiln::ir
