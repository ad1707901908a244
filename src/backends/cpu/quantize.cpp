// CPU kernels: quantize and dequantize (per tensor or per channel), in float32 as PyTorch computes
// them: inv = 1 / scale; integer q = clamp(nearbyint(x * inv) + zero_point, qmin, qmax); float8
// q = fp8(clamp(x * inv, qmin, qmax)); dequantize (float(q) - zero_point) * scale.
#include <cmath>

#include "backends/cpu/cpu_kernels.h"
#include "backends/cpu/dtype_dispatch.h"
#include "backends/cpu/quantize_math.h"
#include "common/element_access.h"
#include "common/quant_channels.h"

namespace kiln::cpu {
namespace {

int64_t zero_point_at(const TensorView& zp, int64_t c) {
  return zp.data == nullptr ? 0 : load_as_int64(zp.data, zp.dtype, c);
}

}  // namespace

Status run_quantize(const CpuArgs& a) {
  const auto& p = std::get<QuantizeParams>(a.layer.params);
  const TensorView &x = a.in[0], &scale = a.in[1], &zp = a.in[2], &o = a.out[0];
  const QuantChannels ch = quant_channels(x.dims, scale.numel(), p.axis);
  const auto* ps = static_cast<const float*>(scale.data);
  int64_t n = o.numel();
  const auto qmin = static_cast<float>(p.quant_min), qmax = static_cast<float>(p.quant_max);
  visit_dtype(x.dtype, [&](auto in_tag) {
    using TI = typename decltype(in_tag)::type;
    if constexpr (kIsFloat<TI>) {
      const TI* px = static_cast<const TI*>(x.data);
      for (int64_t i = 0; i < n; ++i) {
        int64_t c = ch.of(i);
        float inv = 1.0f / ps[c];
        store_quantized(o, i, to_float(px[i]), inv, static_cast<float>(zero_point_at(zp, c)), qmin,
                        qmax);
      }
    }
  });
  return {};
}

Status run_dequantize(const CpuArgs& a) {
  const auto& p = std::get<DequantizeParams>(a.layer.params);
  const TensorView &q = a.in[0], &scale = a.in[1], &zp = a.in[2], &o = a.out[0];
  const QuantChannels ch = quant_channels(q.dims, scale.numel(), p.axis);
  const auto* ps = static_cast<const float*>(scale.data);
  int64_t n = o.numel();
  for (int64_t i = 0; i < n; ++i) {
    int64_t c = ch.of(i);
    float v = q.dtype == DataType::kFloat8E4M3
                  ? fp8e4m3_to_float(static_cast<const uint8_t*>(q.data)[i])
                  : static_cast<float>(load_as_int64(q.data, q.dtype, i) - zero_point_at(zp, c));
    store_from_double(o.data, o.dtype, i, static_cast<double>(v * ps[c]));
  }
  return {};
}

}  // namespace kiln::cpu
