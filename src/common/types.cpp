// DataType tables, Dims and 16-bit float conversions.
#include "kiln/types.h"

#include <algorithm>
#include <array>
#include <bit>
#include <climits>
#include <cmath>
#include <cstring>

namespace kiln {
namespace {

struct DTypeInfo {
  std::string_view name;
  size_t size;
  bool floating;
  bool integer;
};
constexpr std::array<DTypeInfo, kNumDataTypes> kDTypes = {{
    {"f32", 4, true, false},
    {"f16", 2, true, false},
    {"bf16", 2, true, false},
    {"i32", 4, false, true},
    {"i64", 8, false, true},
    {"i8", 1, false, true},
    {"u8", 1, false, true},
    {"bool", 1, false, false},
    {"f8e4m3", 1, false, false},
    {"f64", 8, true, false},
    {"i16", 2, false, true},
}};

const DTypeInfo& info(DataType t) {
  auto i = static_cast<size_t>(t);
  return kDTypes[i < kDTypes.size() ? i : 0];
}

}  // namespace

size_t dtype_size(DataType t) { return info(t).size; }
std::string_view dtype_name(DataType t) { return info(t).name; }
bool is_floating(DataType t) { return info(t).floating; }
bool is_integer(DataType t) { return info(t).integer; }
bool is_quantized_storage(DataType t) {
  return t == DataType::kInt8 || t == DataType::kUInt8 || t == DataType::kFloat8E4M3;
}

std::optional<DataType> parse_dtype(std::string_view name) {
  for (size_t i = 0; i < kDTypes.size(); ++i)
    if (kDTypes[i].name == name) return static_cast<DataType>(i);
  return std::nullopt;
}

Dims::Dims(std::initializer_list<int64_t> dims) {
  for (int64_t d : dims) push_back(d);
}

Dims::Dims(std::span<const int64_t> dims) {
  for (int64_t d : dims) push_back(d);
}

bool Dims::push_back(int64_t d) {
  if (rank_ >= kMaxRank) return false;
  d_[static_cast<size_t>(rank_++)] = d;
  return true;
}

bool Dims::is_static() const {
  return std::all_of(begin(), end(), [](int64_t d) { return d >= 0; });
}

int64_t Dims::volume() const {
  int64_t v = 1;
  for (int64_t d : *this) {
    if (d < 0) return -1;
    if (__builtin_mul_overflow(v, d, &v))
      return INT64_MAX;  // saturates: callers refuse it as too large
  }
  return v;
}

std::string Dims::to_string() const {
  std::string s = "[";
  for (int i = 0; i < rank_; ++i) {
    if (i) s += ',';
    s += std::to_string(d_[static_cast<size_t>(i)]);
  }
  return s + "]";
}

bool operator==(const Dims& a, const Dims& b) {
  return a.rank_ == b.rank_ && std::equal(a.begin(), a.end(), b.begin());
}

uint16_t float_to_half(float f) {
  uint32_t x = std::bit_cast<uint32_t>(f);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t mag = x & 0x7fffffffu;
  if (mag >= 0x7f800000u) {  // inf or nan
    return static_cast<uint16_t>(sign | 0x7c00u | (mag > 0x7f800000u ? 0x200u : 0u));
  }
  if (mag >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to inf
  if (mag < 0x38800000u) {                                               // subnormal half (or zero)
    // value = mag_float; half subnormal unit = 2^-24
    float a = std::bit_cast<float>(mag);
    float scaled = a * 16777216.0f;  // / 2^-24
    // round to nearest even
    auto r = static_cast<uint32_t>(scaled);
    float frac = scaled - static_cast<float>(r);
    if (frac > 0.5f || (frac == 0.5f && (r & 1u))) ++r;
    return static_cast<uint16_t>(sign | r);
  }
  uint32_t exp = ((mag >> 23) - 112u) << 10;
  uint32_t mant = (mag >> 13) & 0x3ffu;
  uint32_t h = exp | mant;
  uint32_t rem = mag & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;
  return static_cast<uint16_t>(sign | h);
}

float half_to_float(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t x;
  if (exp == 0) {
    if (mant == 0) {
      x = sign;
    } else {
      float v = static_cast<float>(mant) * (1.0f / 16777216.0f);
      x = sign | std::bit_cast<uint32_t>(v);
    }
  } else if (exp == 31) {
    x = sign | 0x7f800000u | (mant << 13);
  } else {
    x = sign | ((exp + 112u) << 23) | (mant << 13);
  }
  return std::bit_cast<float>(x);
}

uint8_t float_to_fp8e4m3(float f) {
  uint32_t x = std::bit_cast<uint32_t>(f);
  auto sign = static_cast<uint8_t>((x >> 24) & 0x80u);
  uint32_t mag = x & 0x7fffffffu;
  if (mag > 0x43e80000u) return sign | 0x7fu;  // > 464 (rounds past 448), inf, nan
  if (mag < 0x3c800000u) {                     // below 2^-6: subnormal, unit 2^-9
    float scaled = std::bit_cast<float>(mag) * 512.0f;
    auto r = static_cast<uint32_t>(scaled);
    float frac = scaled - static_cast<float>(r);
    if (frac > 0.5f || (frac == 0.5f && (r & 1u))) ++r;  // r == 8 is 2^-6, the first normal
    return static_cast<uint8_t>(sign | r);
  }
  uint32_t h = (((mag >> 23) - 120u) << 3) | ((mag >> 20) & 7u);
  uint32_t rem = mag & 0xfffffu;
  if (rem > 0x80000u || (rem == 0x80000u && (h & 1u))) ++h;
  return static_cast<uint8_t>(sign | h);
}

float fp8e4m3_to_float(uint8_t b) {
  float sign = (b & 0x80u) ? -1.0f : 1.0f;
  uint32_t e = (b >> 3) & 0xfu, m = b & 7u;
  if (e == 15 && m == 7) return std::bit_cast<float>(0x7fc00000u) * sign;
  if (e == 0) return sign * static_cast<float>(m) * (1.0f / 512.0f);
  return sign * std::ldexp(1.0f + static_cast<float>(m) / 8.0f, static_cast<int>(e) - 7);
}

uint16_t float_to_bfloat16(float f) {
  uint32_t x = std::bit_cast<uint32_t>(f);
  if ((x & 0x7fffffffu) > 0x7f800000u)
    return static_cast<uint16_t>((x >> 16) | 0x40u);  // quiet nan
  uint32_t rounding = 0x7fffu + ((x >> 16) & 1u);
  return static_cast<uint16_t>((x + rounding) >> 16);
}

float bfloat16_to_float(uint16_t b) { return std::bit_cast<float>(static_cast<uint32_t>(b) << 16); }

}  // namespace kiln
