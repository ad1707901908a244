// Quantization: PT2E's quantized_decomposed quantize / dequantize (per tensor and per channel, as
// convert_pt2e emits them), fake quantization (fake_quantize_per_{tensor,channel}_affine as QAT and
// FakeQuantize modules run it, and the _cachemask forms torch.export decomposes them into) -> the
// engine's quantize and dequantize layers, which compute exactly what PyTorch does (float32,
// x * (1 / scale), round half to even, clamp). float8 e4m3 reaches the engine through casts
// (aten::_to_copy to torch.float8_e4m3fn) and through dequantize_per_tensor.
#include <climits>

#include "converters/families.h"

namespace kiln::bridge {
namespace {

// Integer storage for a quant range: the narrowest of int8, uint8, int32 that holds it.
std::optional<DataType> storage_for(int64_t qmin, int64_t qmax) {
  if (qmin >= -128 && qmax <= 127) return DataType::kInt8;
  if (qmin >= 0 && qmax <= 255) return DataType::kUInt8;
  if (qmin >= INT32_MIN && qmax <= INT32_MAX) return DataType::kInt32;
  return std::nullopt;
}

// The scale as a float32 tensor (a Python float, or a tensor of any float type).
Expected<kiln::Tensor> scale_of(ConversionCtx& ctx, const Node& n, size_t i) {
  KILN_ASSIGN_OR_RETURN(auto s, ctx.tensor(n, i));
  return ctx.cast(s, DataType::kFloat32);
}

// The zero point as an int32 tensor (a Python int or an integer tensor); invalid when None.
Expected<kiln::Tensor> zero_point_of(ConversionCtx& ctx, const Node& n, size_t i) {
  if (ctx.is_none(n, i)) return kiln::Tensor{};
  KILN_ASSIGN_OR_RETURN(auto z, ctx.tensor(n, i));
  if (!is_integer(ctx.dtype(z)))
    return ctx.error(n,
                     "a float zero point (learnable fake quantization) is not supported; "
                     "Kiln reads integer zero points");
  return ctx.cast(z, DataType::kInt32);
}

// Capability: constant quant range (and axis, and dtype) and an integer or float8 dtype.
bool qdq_supported(const OpGraph& g, const Node& n, std::initializer_list<size_t> const_args,
                   std::optional<size_t> dtype_arg, bool float8_ok, std::string* why) {
  for (size_t i : const_args) {
    if (!input_value(g, n, i).constant) {
      *why = "quant range, axis and dtype must be known when compiling";
      return false;
    }
  }
  if (dtype_arg) {
    const Value& v = input_value(g, n, *dtype_arg);
    if (!v.constant || !v.constant->isInt()) {
      *why = "the quantized dtype must be a constant";
      return false;
    }
    auto t = static_cast<at::ScalarType>(v.constant->toInt());
    bool ok =
        t == at::kChar || t == at::kByte || t == at::kInt || (float8_ok && t == at::kFloat8_e4m3fn);
    if (!ok) {
      *why = std::string("quantized dtype ") + c10::toString(t) +
             (t == at::kFloat8_e4m3fn ? " (quantized_decomposed rounds float8 to integers; "
                                        "cast with .to(torch.float8_e4m3fn) instead)"
                                      : " is not supported (int8, uint8, int32)");
      return false;
    }
  }
  return true;
}

Expected<DataType> quant_dtype(ConversionCtx& ctx, const Node& n, size_t i) {
  KILN_ASSIGN_OR_RETURN(auto dt, ctx.const_dtype(n, i));
  if (!dt) return ctx.error(n, "quantized dtype is None");
  auto k = to_kiln_dtype(*dt);
  if (!k) return ctx.error(n, std::string("quantized dtype ") + c10::toString(*dt));
  return *k;
}

// quantize_per_tensor[.tensor](x, scale, zero_point, quant_min, quant_max, dtype) and
// quantize_per_channel(x, scales, zero_points, axis, quant_min, quant_max, dtype).
Status quantize(ConversionCtx& ctx, const Node& n, bool per_channel) {
  size_t base = per_channel ? 4 : 3;
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  KILN_ASSIGN_OR_RETURN(auto s, scale_of(ctx, n, 1));
  KILN_ASSIGN_OR_RETURN(auto z, zero_point_of(ctx, n, 2));
  QuantizeParams p;
  KILN_ASSIGN_OR_RETURN(p.quant_min, ctx.const_int(n, base));
  KILN_ASSIGN_OR_RETURN(p.quant_max, ctx.const_int(n, base + 1));
  KILN_ASSIGN_OR_RETURN(p.to, quant_dtype(ctx, n, base + 2));
  if (per_channel) {
    KILN_ASSIGN_OR_RETURN(p.axis, ctx.const_int(n, 3));
  }
  return set_output_tensor(ctx, n, ctx.net.add_quantize(x, s, z, p));
}

// dequantize_per_tensor[.tensor](q, scale, zero_point, quant_min, quant_max, dtype, out_dtype) and
// dequantize_per_channel(q, scales, zero_points?, axis, quant_min, quant_max, dtype, out_dtype).
Status dequantize(ConversionCtx& ctx, const Node& n, bool per_channel) {
  size_t base = per_channel ? 4 : 3;
  KILN_ASSIGN_OR_RETURN(auto q, ctx.tensor(n, 0));
  KILN_ASSIGN_OR_RETURN(auto s, scale_of(ctx, n, 1));
  KILN_ASSIGN_OR_RETURN(auto z, zero_point_of(ctx, n, 2));
  DequantizeParams p;
  if (n.inputs.size() > base + 3 && !ctx.is_none(n, base + 3)) {
    KILN_ASSIGN_OR_RETURN(auto od, ctx.const_dtype(n, base + 3));
    auto k = od ? to_kiln_dtype(*od) : std::nullopt;
    if (!k || !is_floating(*k))
      return ctx.error(n, std::string("dequantize to ") + (od ? c10::toString(*od) : "None") +
                              " (f32, f16 or bf16 expected)");
    p.to = *k;
  }
  if (per_channel) {
    KILN_ASSIGN_OR_RETURN(p.axis, ctx.const_int(n, 3));
  }
  if (ctx.dtype(q) == DataType::kFloat8E4M3) z = kiln::Tensor{};  // float8: zero point is 0
  return set_output_tensor(ctx, n, ctx.net.add_dequantize(q, s, z, p));
}

// fake_quantize_per_{tensor,channel}_affine[_cachemask]: dequantize(quantize(x)) in x's dtype;
// the _cachemask forms also return the mask of elements inside the quant range.
Status fake_quantize(ConversionCtx& ctx, const Node& n, bool per_channel, bool cachemask,
                     bool enabled_arg) {
  size_t base = per_channel ? 4 : 3;
  if (enabled_arg) ++base;  // _fake_quantize_per_tensor_affine_cachemask_tensor_qparams
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  KILN_ASSIGN_OR_RETURN(auto s, scale_of(ctx, n, 1));
  KILN_ASSIGN_OR_RETURN(auto z, zero_point_of(ctx, n, 2));
  KILN_ASSIGN_OR_RETURN(int64_t qmin, ctx.const_int(n, base));
  KILN_ASSIGN_OR_RETURN(int64_t qmax, ctx.const_int(n, base + 1));
  auto storage = storage_for(qmin, qmax);
  if (!storage)
    return ctx.error(n, "quant range [" + std::to_string(qmin) + ", " + std::to_string(qmax) +
                            "] exceeds int32");
  QuantizeParams qp;
  qp.to = *storage;
  qp.quant_min = qmin;
  qp.quant_max = qmax;
  DequantizeParams dp;
  dp.to = ctx.dtype(x);
  if (per_channel) {
    KILN_ASSIGN_OR_RETURN(qp.axis, ctx.const_int(n, 3));
    dp.axis = qp.axis;
  }
  bool enabled = true;
  if (enabled_arg) {
    const Value& v = input_value(ctx.graph, n, 3);
    enabled = !(v.constant && v.constant->isTensor() && v.constant->toTensor().numel() == 1 &&
                v.constant->toTensor().item<double>() == 0.0);
  }
  if (!enabled) {
    KILN_RETURN_IF_ERROR(set_output_tensor(ctx, n, ctx.net.add_identity(x)));
  } else {
    KILN_ASSIGN_OR_RETURN(auto q, ctx.check(n, ctx.net.add_quantize(x, s, z, qp)));
    KILN_RETURN_IF_ERROR(set_output_tensor(ctx, n, ctx.net.add_dequantize(q, s, z, dp)));
  }
  if (!cachemask) return {};
  // mask = quant_min <= round(x / scale) + zero_point <= quant_max (all true when disabled).
  QuantizeParams wide;
  wide.to = DataType::kInt32;
  wide.axis = qp.axis;
  wide.quant_min = INT32_MIN;
  wide.quant_max = INT32_MAX;
  KILN_ASSIGN_OR_RETURN(auto r, ctx.check(n, ctx.net.add_quantize(x, s, z, wide)));
  KILN_ASSIGN_OR_RETURN(
      auto lo, ctx.scalar(enabled ? static_cast<double>(qmin) : INT32_MIN, DataType::kInt32));
  KILN_ASSIGN_OR_RETURN(
      auto hi, ctx.scalar(enabled ? static_cast<double>(qmax) : INT32_MAX, DataType::kInt32));
  KILN_ASSIGN_OR_RETURN(auto ge,
                        ctx.check(n, ctx.net.add_elementwise(r, lo, BinaryOp::kGreaterEqual)));
  KILN_ASSIGN_OR_RETURN(auto le,
                        ctx.check(n, ctx.net.add_elementwise(r, hi, BinaryOp::kLessEqual)));
  return set_output_tensor(ctx, n, ctx.net.add_elementwise(ge, le, BinaryOp::kAnd), 1);
}

}  // namespace

void register_quantization_converters(ConverterRegistry& r) {
  add_converter(
      r,
      {"quantized_decomposed::quantize_per_tensor",
       "quantized_decomposed::quantize_per_tensor.tensor"},
      [](ConversionCtx& c, const Node& n) { return quantize(c, n, false); },
      [](const OpGraph& g, const Node& n, std::string* why) {
        return qdq_supported(g, n, {3, 4}, 5, false, why);
      });
  add_converter(
      r, {"quantized_decomposed::quantize_per_channel"},
      [](ConversionCtx& c, const Node& n) { return quantize(c, n, true); },
      [](const OpGraph& g, const Node& n, std::string* why) {
        return qdq_supported(g, n, {3, 4, 5}, 6, false, why);
      });
  add_converter(
      r,
      {"quantized_decomposed::dequantize_per_tensor",
       "quantized_decomposed::dequantize_per_tensor.tensor"},
      [](ConversionCtx& c, const Node& n) { return dequantize(c, n, false); },
      [](const OpGraph& g, const Node& n, std::string* why) {
        return qdq_supported(g, n, {3, 4}, 5, true, why);
      });
  add_converter(
      r, {"quantized_decomposed::dequantize_per_channel"},
      [](ConversionCtx& c, const Node& n) { return dequantize(c, n, true); },
      [](const OpGraph& g, const Node& n, std::string* why) {
        return qdq_supported(g, n, {3, 4, 5}, 6, false, why);
      });
  add_converter(
      r,
      {"aten::fake_quantize_per_tensor_affine",
       "aten::fake_quantize_per_tensor_affine.tensor_qparams"},
      [](ConversionCtx& c, const Node& n) { return fake_quantize(c, n, false, false, false); },
      [](const OpGraph& g, const Node& n, std::string* why) {
        return qdq_supported(g, n, {3, 4}, std::nullopt, false, why);
      });
  add_converter(
      r, {"aten::fake_quantize_per_tensor_affine_cachemask"},
      [](ConversionCtx& c, const Node& n) { return fake_quantize(c, n, false, true, false); },
      [](const OpGraph& g, const Node& n, std::string* why) {
        return qdq_supported(g, n, {3, 4}, std::nullopt, false, why);
      });
  add_converter(
      r, {"aten::_fake_quantize_per_tensor_affine_cachemask_tensor_qparams"},
      [](ConversionCtx& c, const Node& n) { return fake_quantize(c, n, false, true, true); },
      [](const OpGraph& g, const Node& n, std::string* why) {
        return qdq_supported(g, n, {3, 4, 5}, std::nullopt, false, why);
      });
  add_converter(
      r, {"aten::fake_quantize_per_channel_affine"},
      [](ConversionCtx& c, const Node& n) { return fake_quantize(c, n, true, false, false); },
      [](const OpGraph& g, const Node& n, std::string* why) {
        return qdq_supported(g, n, {3, 4, 5}, std::nullopt, false, why);
      });
  add_converter(
      r, {"aten::fake_quantize_per_channel_affine_cachemask"},
      [](ConversionCtx& c, const Node& n) { return fake_quantize(c, n, true, true, false); },
      [](const OpGraph& g, const Node& n, std::string* why) {
        return qdq_supported(g, n, {3, 4, 5}, std::nullopt, false, why);
      });
}

}  // namespace kiln::bridge
