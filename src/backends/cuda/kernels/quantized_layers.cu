// CUDA kernels of the quantized convolution and linear layers (QuantizedEpilogue in
// kiln/layers.h), computed as the CPU reference (src/backends/cpu/quantized_layers.cpp) does:
//   - the direct kernel: one thread per output, exact accumulation (int32 for int8 operands,
//   float32
//     for float8), then the epilogue. The untuned path, the fallback, and the reference the tuned
//     GEMM path is checked against at build time.
//   - im2col for the implicit-GEMM convolution (cublaslt/quantized_gemm.cpp): int8 / float8
//     columns [N*OH*OW, Kp] with padding positions at the input zero point (they add nothing after
//     the zero-point correction) and columns k >= K zero.
//   - the requantizing epilogue over a GEMM's int32 / float32 accumulators [M, Cout].
#include <cuda_fp8.h>

#include "backends/cuda/kernels/device_utils.cuh"
#include "backends/cuda/kernels/unary_ops.cuh"
#include "backends/cuda/quantized_layout.h"

namespace kiln::cuda {
namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ float fp8_value(uint8_t b) {
  return __half2float(__half(__nv_cvt_fp8_to_halfraw(b, __NV_E4M3)));
}

__device__ __forceinline__ float load_float(const void* p, DataType dt, int64_t i) {
  switch (dt) {
    case DataType::kFloat16:
      return __half2float(static_cast<const __half*>(p)[i]);
    case DataType::kBFloat16:
      return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]);
    default:
      return static_cast<const float*>(p)[i];
  }
}

// y = f32(acc) * f32(x_scale * w_scale[c]) + bias[c] + residual[o] -> activation -> out[o].
__device__ __forceinline__ void store_output(const QuantizedEpilogueArgs& e, int64_t o, int64_t c,
                                             float acc) {
  const float alpha = e.x_scale[0] * e.w_scale[e.w_scale_count == 1 ? 0 : c];
  float y = acc * alpha;
  if (e.bias != nullptr) y += load_float(e.bias, e.bias_dtype, c);
  if (e.residual != nullptr) y += load_float(e.residual, e.residual_dtype, o);
  if (e.activation != UnaryOp::kIdentity)
    y = unary_f(e.activation, y, e.activation_alpha, e.activation_beta);
  switch (e.out_dtype) {
    case DataType::kFloat32:
      static_cast<float*>(e.out)[o] = y;
      return;
    case DataType::kFloat16:
      static_cast<__half*>(e.out)[o] = __float2half_rn(y);
      return;
    case DataType::kBFloat16:
      static_cast<__nv_bfloat16*>(e.out)[o] = __float2bfloat16_rn(y);
      return;
    case DataType::kFloat8E4M3: {
      float s = y * (1.0f / e.out_scale[0]);
      if (!isnan(s)) s = fminf(fmaxf(s, e.quant_min), e.quant_max);
      static_cast<__nv_fp8_storage_t*>(e.out)[o] =
          __nv_cvt_float_to_fp8(s, __NV_SATFINITE, __NV_E4M3);
      return;
    }
    default: {  // int8 / uint8: as the quantize layer
      float r = nearbyintf(y * (1.0f / e.out_scale[0])) + e.out_zero_point;
      r = r != r ? e.quant_min : fminf(fmaxf(r, e.quant_min), e.quant_max);
      if (e.out_dtype == DataType::kInt8) {
        static_cast<int8_t*>(e.out)[o] = static_cast<int8_t>(r);
      } else {
        static_cast<uint8_t*>(e.out)[o] = static_cast<uint8_t>(r);
      }
    }
  }
}

// One thread per output element; conv geometry with spatial dims right-aligned to 3 (linear: a
// 1x1x1 "convolution" over [M, K] with M as the batch). kNhwc: x [N, ..., C], w [K, ..., C/g],
// y [N, ..., K] (outputs numbered in y's order, so neighbouring threads write neighbours).
template <bool kFp8, bool kNhwc>
__global__ void direct_kernel(QuantizedGeometry g, const void* x, const void* w,
                              QuantizedEpilogueArgs e) {
  const int64_t total = g.batch * g.cout * g.out_vol();
  KILN_GRID_STRIDE_LOOP(o, total) {
    int64_t p, oc, n;
    if constexpr (kNhwc) {
      oc = o % g.cout;
      p = (o / g.cout) % g.out_vol();
      n = o / (g.out_vol() * g.cout);
    } else {
      p = o % g.out_vol();
      oc = (o / g.out_vol()) % g.cout;
      n = o / (g.out_vol() * g.cout);
    }
    const int64_t ox = p % g.out[2], oy = (p / g.out[2]) % g.out[1], oz = p / (g.out[2] * g.out[1]);
    const int64_t cin_g = g.cin / g.groups, grp = oc / (g.cout / g.groups);
    const int64_t k_vol = g.k[0] * g.k[1] * g.k[2];
    // Element strides of a channel and of a spatial position in x and w.
    const int64_t x_c = kNhwc ? 1 : g.in_vol(), x_p = kNhwc ? g.cin : 1;
    const int64_t w_c = kNhwc ? 1 : k_vol, w_p = kNhwc ? cin_g : 1;
    int32_t acc_i = 0;
    float acc_f = 0.0f;
    for (int64_t ic = 0; ic < cin_g; ++ic) {
      const int64_t xc = n * g.cin * g.in_vol() + (grp * cin_g + ic) * x_c;
      for (int64_t kz = 0; kz < g.k[0]; ++kz) {
        const int64_t iz = oz * g.stride[0] - g.pad[0] + kz * g.dil[0];
        if (iz < 0 || iz >= g.in[0]) continue;
        for (int64_t ky = 0; ky < g.k[1]; ++ky) {
          const int64_t iy = oy * g.stride[1] - g.pad[1] + ky * g.dil[1];
          if (iy < 0 || iy >= g.in[1]) continue;
          for (int64_t kx = 0; kx < g.k[2]; ++kx) {
            const int64_t ix = ox * g.stride[2] - g.pad[2] + kx * g.dil[2];
            if (ix < 0 || ix >= g.in[2]) continue;
            const int64_t xi = xc + ((iz * g.in[1] + iy) * g.in[2] + ix) * x_p;
            const int64_t wi =
                oc * cin_g * k_vol + ic * w_c + ((kz * g.k[1] + ky) * g.k[2] + kx) * w_p;
            if constexpr (kFp8) {
              acc_f += fp8_value(static_cast<const uint8_t*>(x)[xi]) *
                       fp8_value(static_cast<const uint8_t*>(w)[wi]);
            } else {
              const int32_t xv = g.x_unsigned
                                     ? static_cast<int32_t>(static_cast<const uint8_t*>(x)[xi])
                                     : static_cast<int32_t>(static_cast<const int8_t*>(x)[xi]);
              acc_i += (xv - static_cast<int32_t>(e.x_zero_point)) *
                       static_cast<int32_t>(static_cast<const int8_t*>(w)[wi]);
            }
          }
        }
      }
    }
    // Linear outputs are [M, N] (channel last); convolution outputs NCHW or NHWC (o itself).
    const int64_t out_index = g.linear ? n * g.cout + oc : o;
    store_output(e, out_index, oc, kFp8 ? acc_f : static_cast<float>(acc_i));
  }
}

// cols[m, k] for m = (n, oz, oy, ox), k = (ic, kz, ky, kx) < K (kNhwc: k = (kz, ky, kx, ic));
// k in [K, Kp) zero; positions in the padding hold `pad_value` (the input zero point).
template <bool kNhwc>
__global__ void im2col_kernel(QuantizedGeometry g, const uint8_t* __restrict__ x,
                              uint8_t* __restrict__ cols, int64_t kp, uint8_t pad_value) {
  const int64_t k_vol = g.k[0] * g.k[1] * g.k[2], kk = g.cin * k_vol;
  const int64_t total = g.batch * g.out_vol() * kp;
  KILN_GRID_STRIDE_LOOP(i, total) {
    const int64_t k = i % kp, m = i / kp;
    if (k >= kk) {
      cols[i] = 0;
      continue;
    }
    const int64_t p = m % g.out_vol(), n = m / g.out_vol();
    const int64_t ox = p % g.out[2], oy = (p / g.out[2]) % g.out[1], oz = p / (g.out[2] * g.out[1]);
    const int64_t ic = kNhwc ? k % g.cin : k / k_vol, r = kNhwc ? k / g.cin : k % k_vol;
    const int64_t kx = r % g.k[2], ky = (r / g.k[2]) % g.k[1], kz = r / (g.k[2] * g.k[1]);
    const int64_t iz = oz * g.stride[0] - g.pad[0] + kz * g.dil[0];
    const int64_t iy = oy * g.stride[1] - g.pad[1] + ky * g.dil[1];
    const int64_t ix = ox * g.stride[2] - g.pad[2] + kx * g.dil[2];
    const bool inside =
        iz >= 0 && iz < g.in[0] && iy >= 0 && iy < g.in[1] && ix >= 0 && ix < g.in[2];
    const int64_t pos = (iz * g.in[1] + iy) * g.in[2] + ix;
    const int64_t xi =
        kNhwc ? (n * g.in_vol() + pos) * g.cin + ic : (n * g.cin + ic) * g.in_vol() + pos;
    cols[i] = inside ? x[xi] : pad_value;
  }
}

// acc [M, Cout] (row-major, int32 or float32) -> outputs; the int32 path subtracts
// x_zero_point * sum_k w[c, k] (the GEMM ran on raw x).
template <class Acc, bool kNhwc>
__global__ void epilogue_kernel(QuantizedGeometry g, const Acc* __restrict__ acc,
                                const int32_t* __restrict__ w_sums, QuantizedEpilogueArgs e) {
  const int64_t m_total = g.batch * g.out_vol();
  KILN_GRID_STRIDE_LOOP(i, m_total * g.cout) {
    const int64_t c = i % g.cout, m = i / g.cout;
    float a;
    if constexpr (std::is_same_v<Acc, int32_t>) {
      a = static_cast<float>(acc[i] - static_cast<int32_t>(e.x_zero_point) * w_sums[c]);
    } else {
      a = acc[i];
    }
    const int64_t o =
        g.linear || kNhwc ? i : ((m / g.out_vol()) * g.cout + c) * g.out_vol() + m % g.out_vol();
    store_output(e, o, c, a);
  }
}

}  // namespace

Status launch_quantized_direct_kernel(const QuantizedGeometry& g, QuantizedLayout layout,
                                      const void* x, const void* w, const QuantizedEpilogueArgs& e,
                                      cudaStream_t stream) {
  const int64_t total = g.batch * g.cout * g.out_vol();
  if (total == 0) return {};
  const unsigned blocks = grid_for(total, kThreads);
  const bool nhwc = layout == QuantizedLayout::kChannelsLast && !g.linear;
  if (g.fp8) {
    if (nhwc)
      direct_kernel<true, true><<<blocks, kThreads, 0, stream>>>(g, x, w, e);
    else
      direct_kernel<true, false><<<blocks, kThreads, 0, stream>>>(g, x, w, e);
  } else {
    if (nhwc)
      direct_kernel<false, true><<<blocks, kThreads, 0, stream>>>(g, x, w, e);
    else
      direct_kernel<false, false><<<blocks, kThreads, 0, stream>>>(g, x, w, e);
  }
  KILN_CUDA_LAUNCH_CHECK();
  return {};
}

Status launch_quantized_direct_kernel(const QuantizedGeometry& g, const void* x, const void* w,
                                      const QuantizedEpilogueArgs& e, cudaStream_t stream) {
  return launch_quantized_direct_kernel(g, QuantizedLayout::kChannelsFirst, x, w, e, stream);
}

Status launch_quantized_im2col(const QuantizedGeometry& g, QuantizedLayout layout, const void* x,
                               void* cols, int64_t kp, cudaStream_t stream) {
  const int64_t total = g.batch * g.out_vol() * kp;
  if (total == 0) return {};
  const auto pad = static_cast<uint8_t>(g.fp8 ? 0 : g.x_zero_point);
  const auto* xb = static_cast<const uint8_t*>(x);
  auto* cb = static_cast<uint8_t*>(cols);
  if (layout == QuantizedLayout::kChannelsLast)
    im2col_kernel<true><<<grid_for(total, kThreads), kThreads, 0, stream>>>(g, xb, cb, kp, pad);
  else
    im2col_kernel<false><<<grid_for(total, kThreads), kThreads, 0, stream>>>(g, xb, cb, kp, pad);
  KILN_CUDA_LAUNCH_CHECK();
  return {};
}

Status launch_quantized_im2col(const QuantizedGeometry& g, const void* x, void* cols, int64_t kp,
                               cudaStream_t stream) {
  return launch_quantized_im2col(g, QuantizedLayout::kChannelsFirst, x, cols, kp, stream);
}

Status launch_quantized_epilogue(const QuantizedGeometry& g, QuantizedLayout layout,
                                 const void* acc, const int32_t* w_sums,
                                 const QuantizedEpilogueArgs& e, cudaStream_t stream) {
  const int64_t total = g.batch * g.out_vol() * g.cout;
  if (total == 0) return {};
  const unsigned blocks = grid_for(total, kThreads);
  const bool nhwc = layout == QuantizedLayout::kChannelsLast;
  const auto* af = static_cast<const float*>(acc);
  const auto* ai = static_cast<const int32_t*>(acc);
  if (g.fp8 && nhwc)
    epilogue_kernel<float, true><<<blocks, kThreads, 0, stream>>>(g, af, w_sums, e);
  else if (g.fp8)
    epilogue_kernel<float, false><<<blocks, kThreads, 0, stream>>>(g, af, w_sums, e);
  else if (nhwc)
    epilogue_kernel<int32_t, true><<<blocks, kThreads, 0, stream>>>(g, ai, w_sums, e);
  else
    epilogue_kernel<int32_t, false><<<blocks, kThreads, 0, stream>>>(g, ai, w_sums, e);
  KILN_CUDA_LAUNCH_CHECK();
  return {};
}

Status launch_quantized_epilogue(const QuantizedGeometry& g, const void* acc, const int32_t* w_sums,
                                 const QuantizedEpilogueArgs& e, cudaStream_t stream) {
  return launch_quantized_epilogue(g, QuantizedLayout::kChannelsFirst, acc, w_sums, e, stream);
}

}  // namespace kiln::cuda
