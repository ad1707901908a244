// Device-side helpers for Kiln's CUDA kernels: storage types per DataType, conversion to the float
// compute type, a host-side dtype visitor, and index math for broadcasting/strided access.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <limits>
#include <type_traits>

#include "backends/cuda/cuda_common.h"
#include "backends/cuda/fast_div.h"

namespace kiln::cuda {

template <class T>
struct TypeTag {
  using type = T;
};

template <class T>
inline constexpr bool kIsFloat =
    std::is_same_v<T, float> || std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16>;

/// Calls f(TypeTag<T>{}) with T the device storage type of dt.
template <class F>
decltype(auto) visit_dtype(DataType dt, F&& f) {
  switch (dt) {
    case DataType::kFloat32:
      return f(TypeTag<float>{});
    case DataType::kFloat16:
      return f(TypeTag<__half>{});
    case DataType::kBFloat16:
      return f(TypeTag<__nv_bfloat16>{});
    case DataType::kInt32:
      return f(TypeTag<int32_t>{});
    case DataType::kInt64:
      return f(TypeTag<int64_t>{});
    case DataType::kInt8:
      return f(TypeTag<int8_t>{});
    case DataType::kUInt8:
      return f(TypeTag<uint8_t>{});
    case DataType::kBool:
      return f(TypeTag<bool>{});
    case DataType::kFloat8E4M3:  // bytes only: the backend admits float8 just where bytes move
      return f(TypeTag<uint8_t>{});
    case DataType::kFloat64:  // CPU backend only: CudaBackend::supports refuses every layer that
    case DataType::kInt16:    // touches them, so no kernel is instantiated for them
      break;
  }
  return f(TypeTag<float>{});
}

/// Visits only float dtypes (f32, f16, bf16); returns false for others without calling f.
template <class F>
bool visit_float_dtype(DataType dt, F&& f) {
  switch (dt) {
    case DataType::kFloat32:
      f(TypeTag<float>{});
      return true;
    case DataType::kFloat16:
      f(TypeTag<__half>{});
      return true;
    case DataType::kBFloat16:
      f(TypeTag<__nv_bfloat16>{});
      return true;
    default:
      return false;
  }
}

template <class T>
__device__ __forceinline__ float to_f32(T v) {
  if constexpr (std::is_same_v<T, __half>) {
    return __half2float(v);
  } else if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    return __bfloat162float(v);
  } else {
    return static_cast<float>(v);
  }
}

template <class T>
__device__ __forceinline__ T from_f32(float v) {
  if constexpr (std::is_same_v<T, __half>) {
    return __float2half_rn(v);
  } else if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    return __float2bfloat16_rn(v);
  } else if constexpr (std::is_same_v<T, bool>) {
    return v != 0.0f;
  } else if constexpr (std::is_floating_point_v<T>) {
    return static_cast<T>(v);
  } else {
    // Saturating, NaN -> 0 (no UB, matches the CPU reference).
    if (v != v) return T(0);
    if (v >= static_cast<float>(std::numeric_limits<T>::max()))
      return std::numeric_limits<T>::max();
    if (v <= static_cast<float>(std::numeric_limits<T>::lowest()))
      return std::numeric_limits<T>::lowest();
    return static_cast<T>(v);
  }
}

/// Up to kMaxRank dims passed by value to kernels.
struct DimsArg {
  int rank;
  int64_t d[kMaxRank];
};

inline DimsArg dims_arg(const Dims& dims) {
  DimsArg a{};
  a.rank = dims.rank();
  for (int i = 0; i < dims.rank(); ++i) a.d[i] = dims[i];
  return a;
}

/// Element strides of an input broadcast to an output of rank out.rank (0 along broadcast dims).
struct StridesArg {
  int64_t s[kMaxRank];
};

inline StridesArg broadcast_strides_arg(const Dims& in, const Dims& out) {
  StridesArg a{};
  int lead = out.rank() - in.rank();
  int64_t stride = 1;
  for (int i = in.rank() - 1; i >= 0; --i) {
    a.s[i + lead] = (in[i] == 1 && out[i + lead] != 1) ? 0 : stride;
    stride *= in[i];
  }
  return a;
}

/// Division by a run-time constant (FastDiv, make_fastdiv: fast_div.h).
__device__ __forceinline__ uint32_t fdiv(uint32_t n, const FastDiv& f) {
  return (__umulhi(n, f.m) + n) >> f.s;
}

/// Offset into a broadcast input for linear output index `i`.
__device__ __forceinline__ int64_t broadcast_offset(int64_t i, const DimsArg& out,
                                                    const StridesArg& st) {
  int64_t off = 0;
  for (int d = out.rank - 1; d >= 0; --d) {
    int64_t c = i % out.d[d];
    i /= out.d[d];
    off += c * st.s[d];
  }
  return off;
}

/// Grid-stride loop over [0, n).
#define KILN_GRID_STRIDE_LOOP(i, n)                                                      \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)

}  // namespace kiln::cuda
