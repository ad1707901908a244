// Data types and dimensions shared by every part of the engine API.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kiln {

/// Element types a tensor can hold. Values are stored in plans: never reorder, only append.
enum class DataType : uint8_t {
  kFloat32 = 0,
  kFloat16 = 1,
  kBFloat16 = 2,
  kInt32 = 3,
  kInt64 = 4,
  kInt8 = 5,
  kUInt8 = 6,
  kBool = 7,
  kFloat8E4M3 = 8,  ///< float8 e4m3fn (no infinities, max 448), as torch.float8_e4m3fn
  kFloat64 = 9,     ///< CPU backend only (the CUDA backend refuses layers that touch it)
  kInt16 = 10,      ///< CPU backend only (the CUDA backend refuses layers that touch it)
};
inline constexpr int kNumDataTypes = 11;

/// Precisions the builder may choose for float layers (BuilderConfig; recorded in plans). fp32 is
/// always allowed.
enum class Precision : uint8_t { kFP32, kTF32, kFP16, kBF16, kINT8, kFP8 };

/// Bytes per element.
size_t dtype_size(DataType t);
/// Short name used by the text IR and in messages: f32 f16 bf16 i32 i64 i8 u8 bool f8e4m3 f64
/// i16.
std::string_view dtype_name(DataType t);
std::optional<DataType> parse_dtype(std::string_view name);
bool is_floating(DataType t);
bool is_integer(DataType t);  ///< int32, int64, int8, uint8, int16 (not bool)
/// The 8-bit types quantize layers produce and dequantize layers read: int8, uint8, float8 e4m3.
/// float8 is neither floating (no arithmetic runs on it) nor integer.
bool is_quantized_storage(DataType t);

/// Maximum tensor rank the engine supports.
inline constexpr int kMaxRank = 8;
/// A dimension whose extent is only known at run time.
inline constexpr int64_t kDynamic = -1;
/// Largest tensor the engine accepts, in bytes (2^48 = 256 TiB); larger shapes are refused as
/// absurd.
inline constexpr int64_t kMaxTensorBytes = int64_t{1} << 48;

/// Tensor extents. A value of -1 (kDynamic) marks a dimension known only at run time.
class Dims {
 public:
  Dims() = default;
  Dims(std::initializer_list<int64_t> dims);
  explicit Dims(std::span<const int64_t> dims);

  int rank() const { return rank_; }
  int64_t operator[](int i) const { return d_[static_cast<size_t>(i)]; }
  int64_t& operator[](int i) { return d_[static_cast<size_t>(i)]; }
  const int64_t* begin() const { return d_.data(); }
  const int64_t* end() const { return d_.data() + rank_; }
  std::vector<int64_t> to_vector() const { return {begin(), end()}; }

  /// Appends a dimension; returns false (and leaves the dims alone) when rank would exceed
  /// kMaxRank.
  bool push_back(int64_t d);
  /// True when every dimension is >= 0.
  bool is_static() const;
  /// Product of the extents (1 for rank 0); -1 if any is dynamic; INT64_MAX if it overflows.
  int64_t volume() const;
  /// "[2,3,-1]".
  std::string to_string() const;

  friend bool operator==(const Dims& a, const Dims& b);
  friend bool operator!=(const Dims& a, const Dims& b) { return !(a == b); }

 private:
  int rank_ = 0;
  std::array<int64_t, kMaxRank> d_{};
};

/// A tensor's element type and dims.
struct TensorType {
  DataType dtype = DataType::kFloat32;
  Dims dims;
  friend bool operator==(const TensorType& a, const TensorType& b) {
    return a.dtype == b.dtype && a.dims == b.dims;
  }
};

/// Converts between float and the 16-bit float formats (round to nearest even).
uint16_t float_to_half(float f);
float half_to_float(uint16_t h);
uint16_t float_to_bfloat16(float f);
float bfloat16_to_float(uint16_t b);
/// float8 e4m3fn, bit for bit as torch.float8_e4m3fn: round to nearest even; values that round
/// past 448 (|f| > 464), infinities and NaN give NaN (0x7f / 0xff).
uint8_t float_to_fp8e4m3(float f);
float fp8e4m3_to_float(uint8_t b);

}  // namespace kiln
