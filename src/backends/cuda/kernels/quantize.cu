// CUDA kernels: quantize and dequantize (per tensor or per channel), computed in float32 exactly as
// the CPU reference (src/backends/cpu/quantize.cpp) and PyTorch do. float8 e4m3 conversions use
// cuda_fp8.h (round to nearest even; values are clamped to the quant range first).
#include <cuda_fp8.h>

#include "backends/cuda/cuda_kernels.h"
#include "backends/cuda/kernels/device_utils.cuh"
#include "common/quant_channels.h"

namespace kiln::cuda {
namespace {

constexpr int kThreads = 256;

struct QArgs {
  const float* scale;
  const void* zero_point;  // nullptr: 0
  DataType zp_dtype;
  QuantChannels channels;
};

__device__ __forceinline__ int64_t channel_of(int64_t i, const QArgs& q) {
  return q.channels.of(i);
}

__device__ __forceinline__ float zero_point_at(const QArgs& q, int64_t c) {
  if (q.zero_point == nullptr) return 0.0f;
  switch (q.zp_dtype) {
    case DataType::kInt64:
      return static_cast<float>(static_cast<const int64_t*>(q.zero_point)[c]);
    case DataType::kInt32:
      return static_cast<float>(static_cast<const int32_t*>(q.zero_point)[c]);
    case DataType::kInt8:
      return static_cast<float>(static_cast<const int8_t*>(q.zero_point)[c]);
    default:
      return static_cast<float>(static_cast<const uint8_t*>(q.zero_point)[c]);
  }
}

template <class TI, class TO>
__global__ void quantize_int_kernel(const TI* __restrict__ x, TO* __restrict__ o, int64_t n,
                                    QArgs q, float qmin, float qmax) {
  KILN_GRID_STRIDE_LOOP(i, n) {
    int64_t c = channel_of(i, q);
    float v = to_f32(x[i]) * (1.0f / q.scale[c]);
    float r = nearbyintf(v) + zero_point_at(q, c);
    r = r != r ? qmin : fminf(fmaxf(r, qmin), qmax);
    o[i] = static_cast<TO>(r);
  }
}

template <class TI>
__global__ void quantize_fp8_kernel(const TI* __restrict__ x, __nv_fp8_storage_t* __restrict__ o,
                                    int64_t n, QArgs q, float qmin, float qmax) {
  KILN_GRID_STRIDE_LOOP(i, n) {
    float v = to_f32(x[i]) * (1.0f / q.scale[channel_of(i, q)]);
    if (!isnan(v)) v = fminf(fmaxf(v, qmin), qmax);  // NaN stays NaN (as torch.clamp)
    o[i] = __nv_cvt_float_to_fp8(v, __NV_SATFINITE, __NV_E4M3);
  }
}

template <class TQ, class TO>
__global__ void dequantize_kernel(const TQ* __restrict__ x, TO* __restrict__ o, int64_t n,
                                  QArgs q) {
  KILN_GRID_STRIDE_LOOP(i, n) {
    int64_t c = channel_of(i, q);
    float v;
    if constexpr (std::is_same_v<TQ, __nv_fp8_storage_t>) {
      __half_raw h = __nv_cvt_fp8_to_halfraw(x[i], __NV_E4M3);
      v = __half2float(__half(h));
    } else {
      v = static_cast<float>(x[i]) - zero_point_at(q, c);
    }
    o[i] = from_f32<TO>(v * q.scale[c]);
  }
}

QArgs qargs(const TensorView& x, const TensorView& scale, const TensorView& zp, int64_t axis) {
  return QArgs{static_cast<const float*>(scale.data), zp.data, zp.dtype,
               quant_channels(x.dims, scale.numel(), axis)};
}

template <class T>
__global__ void cast_to_fp8_kernel(const T* __restrict__ x, __nv_fp8_storage_t* __restrict__ o,
                                   int64_t n) {
  // As torch's .to(float8_e4m3fn): no saturation, values past 464 become NaN.
  KILN_GRID_STRIDE_LOOP(i, n) { o[i] = __nv_cvt_float_to_fp8(to_f32(x[i]), __NV_NOSAT, __NV_E4M3); }
}

template <class T>
__global__ void cast_from_fp8_kernel(const __nv_fp8_storage_t* __restrict__ x, T* __restrict__ o,
                                     int64_t n) {
  KILN_GRID_STRIDE_LOOP(i, n) {
    o[i] = from_f32<T>(__half2float(__half(__nv_cvt_fp8_to_halfraw(x[i], __NV_E4M3))));
  }
}

}  // namespace

Status launch_cast_float8(const LaunchArgs& a) {
  const TensorView &x = a.in[0], &o = a.out[0];
  int64_t n = o.numel();
  if (n == 0) return {};
  unsigned g = grid_for(n, kThreads);
  bool to_fp8 = o.dtype == DataType::kFloat8E4M3;
  if (x.dtype == o.dtype) {
    KILN_CUDA_RETURN(
        cudaMemcpyAsync(o.data, x.data, o.bytes(), cudaMemcpyDeviceToDevice, a.stream));
    return {};
  }
  bool ok = visit_float_dtype(to_fp8 ? x.dtype : o.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (to_fp8) {
      cast_to_fp8_kernel<T><<<g, kThreads, 0, a.stream>>>(
          static_cast<const T*>(x.data), static_cast<__nv_fp8_storage_t*>(o.data), n);
    } else {
      cast_from_fp8_kernel<T><<<g, kThreads, 0, a.stream>>>(
          static_cast<const __nv_fp8_storage_t*>(x.data), static_cast<T*>(o.data), n);
    }
  });
  if (!ok)
    return layer_error(a.layer, StatusCode::kUnsupported,
                       "float8 e4m3 casts run to and from f32, f16 and bf16 only");
  KILN_CUDA_LAUNCH_CHECK();
  return {};
}

Status launch_quantize(const LaunchArgs& a) {
  const auto& p = std::get<QuantizeParams>(a.layer.params);
  const TensorView &x = a.in[0], &o = a.out[0];
  int64_t n = o.numel();
  if (n == 0) return {};
  QArgs q = qargs(x, a.in[1], a.in[2], p.axis);
  auto qmin = static_cast<float>(p.quant_min), qmax = static_cast<float>(p.quant_max);
  unsigned g = grid_for(n, kThreads);
  bool ok = visit_float_dtype(x.dtype, [&](auto ti) {
    using TI = typename decltype(ti)::type;
    const TI* px = static_cast<const TI*>(x.data);
    switch (o.dtype) {
      case DataType::kInt8:
        quantize_int_kernel<TI, int8_t>
            <<<g, kThreads, 0, a.stream>>>(px, static_cast<int8_t*>(o.data), n, q, qmin, qmax);
        break;
      case DataType::kUInt8:
        quantize_int_kernel<TI, uint8_t>
            <<<g, kThreads, 0, a.stream>>>(px, static_cast<uint8_t*>(o.data), n, q, qmin, qmax);
        break;
      case DataType::kInt32:
        quantize_int_kernel<TI, int32_t>
            <<<g, kThreads, 0, a.stream>>>(px, static_cast<int32_t*>(o.data), n, q, qmin, qmax);
        break;
      default:  // float8 e4m3 (shape inference admits nothing else)
        quantize_fp8_kernel<TI><<<g, kThreads, 0, a.stream>>>(
            px, static_cast<__nv_fp8_storage_t*>(o.data), n, q, qmin, qmax);
        break;
    }
  });
  if (!ok) return layer_error(a.layer, StatusCode::kUnsupported, "quantize of a non-float input");
  KILN_CUDA_LAUNCH_CHECK();
  return {};
}

Status launch_dequantize(const LaunchArgs& a) {
  const auto& p = std::get<DequantizeParams>(a.layer.params);
  const TensorView &x = a.in[0], &o = a.out[0];
  int64_t n = o.numel();
  if (n == 0) return {};
  QArgs q = qargs(x, a.in[1], a.in[2], p.axis);
  unsigned g = grid_for(n, kThreads);
  bool ok = visit_float_dtype(o.dtype, [&](auto to) {
    using TO = typename decltype(to)::type;
    TO* po = static_cast<TO*>(o.data);
    switch (x.dtype) {
      case DataType::kInt8:
        dequantize_kernel<int8_t, TO>
            <<<g, kThreads, 0, a.stream>>>(static_cast<const int8_t*>(x.data), po, n, q);
        break;
      case DataType::kUInt8:
        dequantize_kernel<uint8_t, TO>
            <<<g, kThreads, 0, a.stream>>>(static_cast<const uint8_t*>(x.data), po, n, q);
        break;
      case DataType::kInt32:
        dequantize_kernel<int32_t, TO>
            <<<g, kThreads, 0, a.stream>>>(static_cast<const int32_t*>(x.data), po, n, q);
        break;
      default:  // float8 e4m3
        dequantize_kernel<__nv_fp8_storage_t, TO><<<g, kThreads, 0, a.stream>>>(
            static_cast<const __nv_fp8_storage_t*>(x.data), po, n, q);
        break;
    }
  });
  if (!ok) return layer_error(a.layer, StatusCode::kUnsupported, "dequantize to a non-float type");
  KILN_CUDA_LAUNCH_CHECK();
  return {};
}

}  // namespace kiln::cuda
