// Typed access for CPU reference kernels: storage types per DataType, a visitor over dtypes, and
// element conversion to the compute domains (double for floats, int64 for ints and bool).
#pragma once

#include <cstdint>
#include <limits>
#include <type_traits>

#include "kiln/types.h"

namespace kiln::cpu {

struct f16_t {
  uint16_t bits;
};
struct bf16_t {
  uint16_t bits;
};
struct f8e4m3_t {
  uint8_t bits;
};

template <class T>
struct TypeTag {
  using type = T;
};

template <class T>
inline constexpr bool kIsFloat =
    std::is_same_v<T, float> || std::is_same_v<T, double> || std::is_same_v<T, f16_t> ||
    std::is_same_v<T, bf16_t> || std::is_same_v<T, f8e4m3_t>;

/// Calls f(TypeTag<T>{}) with T the storage type of dt.
template <class F>
decltype(auto) visit_dtype(DataType dt, F&& f) {
  switch (dt) {
    case DataType::kFloat32:
      return f(TypeTag<float>{});
    case DataType::kFloat16:
      return f(TypeTag<f16_t>{});
    case DataType::kBFloat16:
      return f(TypeTag<bf16_t>{});
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
    case DataType::kFloat8E4M3:
      return f(TypeTag<f8e4m3_t>{});
    case DataType::kFloat64:
      return f(TypeTag<double>{});
    case DataType::kInt16:
      return f(TypeTag<int16_t>{});
  }
  return f(TypeTag<float>{});
}

template <class T>
inline double to_double(T v) {
  if constexpr (std::is_same_v<T, f16_t>) {
    return half_to_float(v.bits);
  } else if constexpr (std::is_same_v<T, bf16_t>) {
    return bfloat16_to_float(v.bits);
  } else if constexpr (std::is_same_v<T, f8e4m3_t>) {
    return fp8e4m3_to_float(v.bits);
  } else {
    return static_cast<double>(v);
  }
}

template <class T>
inline float to_float(T v) {
  if constexpr (std::is_same_v<T, f16_t>) {
    return half_to_float(v.bits);
  } else if constexpr (std::is_same_v<T, bf16_t>) {
    return bfloat16_to_float(v.bits);
  } else if constexpr (std::is_same_v<T, f8e4m3_t>) {
    return fp8e4m3_to_float(v.bits);
  } else {
    return static_cast<float>(v);
  }
}

/// Double -> storage (round to nearest for 16-bit floats; C++ conversion for ints, bool: != 0).
template <class T>
inline T from_double(double v) {
  if constexpr (std::is_same_v<T, f16_t>) {
    return f16_t{float_to_half(static_cast<float>(v))};
  } else if constexpr (std::is_same_v<T, bf16_t>) {
    return bf16_t{float_to_bfloat16(static_cast<float>(v))};
  } else if constexpr (std::is_same_v<T, f8e4m3_t>) {
    return f8e4m3_t{float_to_fp8e4m3(static_cast<float>(v))};
  } else if constexpr (std::is_same_v<T, bool>) {
    return v != 0.0;
  } else if constexpr (std::is_floating_point_v<T>) {
    return static_cast<T>(v);
  } else {
    // Saturate out-of-range and NaN instead of undefined behaviour.
    if (v != v) return T(0);
    if (v >= static_cast<double>(std::numeric_limits<T>::max()))
      return std::numeric_limits<T>::max();
    if (v <= static_cast<double>(std::numeric_limits<T>::lowest()))
      return std::numeric_limits<T>::lowest();
    return static_cast<T>(v);
  }
}

template <class T>
inline int64_t to_int64(T v) {
  if constexpr (kIsFloat<T>) {
    return static_cast<int64_t>(to_double(v));
  } else {
    return static_cast<int64_t>(v);
  }
}

template <class T>
inline T from_int64(int64_t v) {
  if constexpr (kIsFloat<T>) {
    return from_double<T>(static_cast<double>(v));
  } else if constexpr (std::is_same_v<T, bool>) {
    return v != 0;
  } else {
    return static_cast<T>(v);
  }
}

}  // namespace kiln::cpu
