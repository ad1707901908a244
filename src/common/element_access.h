// Reading and writing single elements of any DataType as double / int64 (slow path: text IR,
// constant folding checks, tests). Hot loops use typed kernels instead.
#pragma once

#include <cstdint>
#include <cstring>

#include "kiln/types.h"

namespace kiln {

inline double load_as_double(const void* base, DataType dt, int64_t i) {
  const auto* p = static_cast<const uint8_t*>(base);
  switch (dt) {
    case DataType::kFloat32: {
      float v;
      std::memcpy(&v, p + i * 4, 4);
      return v;
    }
    case DataType::kFloat16: {
      uint16_t v;
      std::memcpy(&v, p + i * 2, 2);
      return half_to_float(v);
    }
    case DataType::kBFloat16: {
      uint16_t v;
      std::memcpy(&v, p + i * 2, 2);
      return bfloat16_to_float(v);
    }
    case DataType::kInt32: {
      int32_t v;
      std::memcpy(&v, p + i * 4, 4);
      return v;
    }
    case DataType::kInt64: {
      int64_t v;
      std::memcpy(&v, p + i * 8, 8);
      return static_cast<double>(v);
    }
    case DataType::kInt8:
      return static_cast<int8_t>(p[i]);
    case DataType::kUInt8:
      return p[i];
    case DataType::kBool:
      return p[i] != 0 ? 1.0 : 0.0;
    case DataType::kFloat8E4M3:
      return fp8e4m3_to_float(p[i]);
    case DataType::kFloat64: {
      double v;
      std::memcpy(&v, p + i * 8, 8);
      return v;
    }
    case DataType::kInt16: {
      int16_t v;
      std::memcpy(&v, p + i * 2, 2);
      return v;
    }
  }
  return 0.0;
}

inline int64_t load_as_int64(const void* base, DataType dt, int64_t i) {
  const auto* p = static_cast<const uint8_t*>(base);
  switch (dt) {
    case DataType::kInt64: {
      int64_t v;
      std::memcpy(&v, p + i * 8, 8);
      return v;
    }
    case DataType::kInt32: {
      int32_t v;
      std::memcpy(&v, p + i * 4, 4);
      return v;
    }
    default:
      return static_cast<int64_t>(load_as_double(base, dt, i));
  }
}

inline void store_from_double(void* base, DataType dt, int64_t i, double v) {
  auto* p = static_cast<uint8_t*>(base);
  switch (dt) {
    case DataType::kFloat32: {
      auto x = static_cast<float>(v);
      std::memcpy(p + i * 4, &x, 4);
      break;
    }
    case DataType::kFloat16: {
      uint16_t x = float_to_half(static_cast<float>(v));
      std::memcpy(p + i * 2, &x, 2);
      break;
    }
    case DataType::kBFloat16: {
      uint16_t x = float_to_bfloat16(static_cast<float>(v));
      std::memcpy(p + i * 2, &x, 2);
      break;
    }
    case DataType::kInt32: {
      auto x = static_cast<int32_t>(v);
      std::memcpy(p + i * 4, &x, 4);
      break;
    }
    case DataType::kInt64: {
      auto x = static_cast<int64_t>(v);
      std::memcpy(p + i * 8, &x, 8);
      break;
    }
    case DataType::kInt8:
      p[i] = static_cast<uint8_t>(static_cast<int8_t>(v));
      break;
    case DataType::kUInt8:
      p[i] = static_cast<uint8_t>(v);
      break;
    case DataType::kBool:
      p[i] = v != 0.0 ? 1 : 0;
      break;
    case DataType::kFloat8E4M3:
      p[i] = float_to_fp8e4m3(static_cast<float>(v));
      break;
    case DataType::kFloat64:
      std::memcpy(p + i * 8, &v, 8);
      break;
    case DataType::kInt16: {
      auto x = static_cast<int16_t>(v);
      std::memcpy(p + i * 2, &x, 2);
      break;
    }
  }
}

inline void store_from_int64(void* base, DataType dt, int64_t i, int64_t v) {
  auto* p = static_cast<uint8_t*>(base);
  switch (dt) {
    case DataType::kInt64:
      std::memcpy(p + i * 8, &v, 8);
      break;
    case DataType::kInt32: {
      auto x = static_cast<int32_t>(v);
      std::memcpy(p + i * 4, &x, 4);
      break;
    }
    default:
      store_from_double(base, dt, i, static_cast<double>(v));
      break;
  }
}

}  // namespace kiln
