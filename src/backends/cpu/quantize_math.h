// The scalar quantize step of the CPU reference, shared by the quantize layer and the quantized
// layers' epilogue: float32 math exactly as PyTorch's quantize_per_tensor / per_channel and float8
// casts compute it.
#pragma once

#include <cmath>
#include <cstdint>

#include "backends/backend.h"
#include "common/element_access.h"

namespace kiln::cpu {

/// o[i] = quantize(v) with inv = 1 / scale (computed by the caller as 1.0f / scale):
///   integer o: clamp(round_half_even(v * inv) + zero_point, qmin, qmax); NaN becomes qmin (what
///              PyTorch's cast gives on x86, an unspecified value)
///   float8 o:  fp8(clamp(v * inv, qmin, qmax)); NaN stays NaN
inline void store_quantized(const backend::TensorView& o, int64_t i, float v, float inv,
                            float zero_point, float qmin, float qmax) {
  float s = v * inv;
  if (o.dtype == DataType::kFloat8E4M3) {
    if (!std::isnan(s)) s = std::fmin(std::fmax(s, qmin), qmax);
    static_cast<uint8_t*>(o.data)[i] = float_to_fp8e4m3(s);
    return;
  }
  float r = std::nearbyint(s) + zero_point;
  r = r != r ? qmin : std::fmin(std::fmax(r, qmin), qmax);
  store_from_int64(o.data, o.dtype, i, static_cast<int64_t>(r));
}

}  // namespace kiln::cpu
