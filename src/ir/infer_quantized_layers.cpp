// Inference for the quantized convolution and linear layers (QuantizedEpilogue in kiln/layers.h):
// the geometry is the float layer's (checked by its own inference on float stand-ins), the
// operands and the epilogue are checked here.
#include <string>

#include "ir/infer_fns.h"

namespace kiln::ir {
namespace {

bool is_8bit(DataType t) {
  return t == DataType::kInt8 || t == DataType::kUInt8 || t == DataType::kFloat8E4M3;
}

Status check_scale(const InferInput& in, int64_t want, const char* what) {
  if (!in.present()) return type_error(std::string(what) + " is required");
  const TensorType& t = *in.type;
  if (t.dtype != DataType::kFloat32)
    return type_error(std::string(what) + " must be f32, got " + std::string(dtype_name(t.dtype)));
  const int64_t n = t.dims.volume();
  if (t.dims.rank() > 1 || (n != 1 && n != want))
    return shape_error(std::string(what) + " must have 1" +
                       (want == 1 ? std::string() : " or " + s(want)) + " elements, got " +
                       dims_str(t.dims));
  return {};
}

// Operands and epilogue of a layer whose float form has output `y` with channel count `cout`.
Status check_quantized(const Layer& layer, std::span<const InferInput> in, const TensorType& y,
                       int64_t cout, InferResult& out) {
  const auto& p = layer.op == OpKind::kQuantizedConvolution
                      ? static_cast<const QuantizedEpilogue&>(
                            std::get<QuantizedConvolutionParams>(layer.params))
                      : std::get<QuantizedLinearParams>(layer.params);
  const TensorType &x = *in[0].type, &w = *in[1].type;
  const bool fp8 = x.dtype == DataType::kFloat8E4M3;
  if (!is_8bit(x.dtype))
    return type_error("x must be i8, u8 or f8e4m3, got " + std::string(dtype_name(x.dtype)));
  if (w.dtype != (fp8 ? DataType::kFloat8E4M3 : DataType::kInt8))
    return type_error(std::string("weight must be ") + (fp8 ? "f8e4m3" : "i8") + " with a " +
                      std::string(dtype_name(x.dtype)) + " input, got " +
                      std::string(dtype_name(w.dtype)));
  if (fp8 && p.x_zero_point != 0) return type_error("float8 input has no zero point");
  KILN_RETURN_IF_ERROR(check_scale(in[2], 1, "x_scale"));
  KILN_RETURN_IF_ERROR(check_scale(in[3], cout < 0 ? 1 : cout, "w_scale"));
  const bool quantized_out = is_8bit(p.to);
  if (!quantized_out && !is_floating(p.to))
    return type_error("output must be i8, u8, f8e4m3 or a float type, not " +
                      std::string(dtype_name(p.to)));
  if (in.size() > 4 && in[4].present()) {
    const TensorType& b = *in[4].type;
    if (!is_floating(b.dtype) || b.dims.rank() != 1 || known_and_differ(b.dims[0], cout))
      return shape_error("bias must be a float [" + s(cout) + "], got " +
                         std::string(dtype_name(b.dtype)) + dims_str(b.dims));
  }
  if (in.size() > 5 && in[5].present()) {
    const TensorType& r = *in[5].type;
    bool same = is_floating(r.dtype) && r.dims.rank() == y.dims.rank();
    for (int d = 0; same && d < r.dims.rank(); ++d) same = !known_and_differ(r.dims[d], y.dims[d]);
    if (!same)
      return shape_error("residual must be a float tensor of the output's dims " +
                         dims_str(y.dims) + ", got " + dims_str(r.dims));
  }
  const bool has_out_scale = in.size() > 6 && in[6].present();
  if (quantized_out != has_out_scale)
    return type_error(quantized_out ? "a quantized output needs out_scale"
                                    : "a float output takes no out_scale");
  if (has_out_scale) KILN_RETURN_IF_ERROR(check_scale(in[6], 1, "out_scale"));
  if (p.quant_min > p.quant_max)
    return shape_error("quant_min " + s(p.quant_min) + " is above quant_max " + s(p.quant_max));
  if (p.to == DataType::kFloat8E4M3 &&
      (p.quant_min < -448 || p.quant_max > 448 || p.out_zero_point != 0))
    return shape_error("float8 output: quant range within [-448, 448] and no zero point");
  if (p.to == DataType::kInt8 && (p.quant_min < -128 || p.quant_max > 127))
    return shape_error("quant range does not fit i8");
  if (p.to == DataType::kUInt8 && (p.quant_min < 0 || p.quant_max > 255))
    return shape_error("quant range does not fit u8");
  out.types = {TensorType{p.to, y.dims}};
  return {};
}

// Float stand-ins for x and w (same dims) so the float layer's inference checks the geometry.
std::vector<InferInput> float_operands(std::span<const InferInput> in, TensorType& xf,
                                       TensorType& wf) {
  xf = TensorType{DataType::kFloat32, in[0].type->dims};
  wf = TensorType{DataType::kFloat32, in[1].type->dims};
  return {InferInput{&xf, nullptr}, InferInput{&wf, nullptr}};
}

}  // namespace

Status infer_quantized_convolution(const Layer& layer, std::span<const InferInput> in,
                                   InferResult& out) {
  const auto& p = std::get<QuantizedConvolutionParams>(layer.params);
  if (p.transposed) return shape_error("a quantized convolution is not transposed");
  // channels_last (the layout pass's NHWC form): x [N, H, W, C], w [K, R, S, C], y [N, OH, OW, K].
  if (p.channels_last && in[0].type->dims.rank() != 4)
    return shape_error("a channels-last quantized convolution is 2-D");
  Layer conv;
  conv.op = OpKind::kConvolution;
  conv.params = static_cast<const ConvolutionParams&>(p);
  TensorType xf, wf;
  auto fin = float_operands(in, xf, wf);
  InferResult fo;
  KILN_RETURN_IF_ERROR(infer_convolution(conv, fin, fo));
  return check_quantized(layer, in, fo.types[0], in[1].type->dims[0], out);
}

Status infer_quantized_linear(const Layer& layer, std::span<const InferInput> in,
                              InferResult& out) {
  Layer lin;
  lin.op = OpKind::kLinear;
  lin.params = LinearParams{};
  TensorType xf, wf;
  auto fin = float_operands(in, xf, wf);
  InferResult fo;
  KILN_RETURN_IF_ERROR(infer_linear(lin, fin, fo));
  return check_quantized(layer, in, fo.types[0], in[1].type->dims[0], out);
}

}  // namespace kiln::ir
