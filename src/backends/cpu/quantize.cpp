// CPU kernels: quantize and dequantize (per tensor or per channel), in float32 as PyTorch computes
// them: inv = 1 / scale; integer q = clamp(nearbyint(x * inv) + zero_point, qmin, qmax); float8
// q = fp8(clamp(x * inv, qmin, qmax)); dequantize (float(q) - zero_point) * scale.
#include <cmath>

#include "backends/cpu/cpu_kernels.h"
#include "backends/cpu/dtype_dispatch.h"
#include "common/element_access.h"

namespace kiln::cpu {
namespace {

// Where element i's scale and zero point are: per tensor (one element) or along the axis.
struct Channels {
  int64_t inner = 1, count = 1;
  int64_t of(int64_t i) const { return count == 1 ? 0 : (i / inner) % count; }
};

Channels channels_of(const TensorView& x, const TensorView& scale, int64_t axis) {
  Channels c;
  c.count = scale.numel();
  if (c.count == 1) return c;
  int rank = x.dims.rank();
  int ax = static_cast<int>(axis < 0 ? axis + rank : axis);
  for (int d = ax + 1; d < rank; ++d) c.inner *= x.dims[d];
  return c;
}

int64_t zero_point_at(const TensorView& zp, int64_t c) {
  return zp.data == nullptr ? 0 : load_as_int64(zp.data, zp.dtype, c);
}

}  // namespace

Status run_quantize(const CpuArgs& a) {
  const auto& p = std::get<QuantizeParams>(a.layer.params);
  const TensorView &x = a.in[0], &scale = a.in[1], &zp = a.in[2], &o = a.out[0];
  Channels ch = channels_of(x, scale, p.axis);
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
        float v = to_float(px[i]) * inv;
        if (p.to == DataType::kFloat8E4M3) {
          if (!std::isnan(v)) v = std::fmin(std::fmax(v, qmin), qmax);  // NaN stays NaN
          static_cast<uint8_t*>(o.data)[i] = float_to_fp8e4m3(v);
          continue;
        }
        // NaN quantizes as PyTorch's cast does on x86 (an unspecified value): here to qmin.
        float r = std::nearbyint(v) + static_cast<float>(zero_point_at(zp, c));
        r = r != r ? qmin : std::fmin(std::fmax(r, qmin), qmax);
        store_from_int64(o.data, o.dtype, i, static_cast<int64_t>(r));
      }
    }
  });
  return {};
}

Status run_dequantize(const CpuArgs& a) {
  const auto& p = std::get<DequantizeParams>(a.layer.params);
  const TensorView &q = a.in[0], &scale = a.in[1], &zp = a.in[2], &o = a.out[0];
  Channels ch = channels_of(q, scale, p.axis);
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
