// Kiln DataType <-> torch ScalarType.
#include "converters/dtype_map.h"

namespace kiln::bridge {

std::optional<DataType> to_kiln_dtype(at::ScalarType t) {
  switch (t) {
    case at::kFloat:
      return DataType::kFloat32;
    case at::kHalf:
      return DataType::kFloat16;
    case at::kBFloat16:
      return DataType::kBFloat16;
    case at::kInt:
      return DataType::kInt32;
    case at::kLong:
      return DataType::kInt64;
    case at::kChar:
      return DataType::kInt8;
    case at::kByte:
      return DataType::kUInt8;
    case at::kBool:
      return DataType::kBool;
    case at::kFloat8_e4m3fn:
      return DataType::kFloat8E4M3;
    case at::kDouble:
      return DataType::kFloat64;
    case at::kShort:
      return DataType::kInt16;
    default:
      return std::nullopt;
  }
}

at::ScalarType to_torch_dtype(DataType t) {
  switch (t) {
    case DataType::kFloat32:
      return at::kFloat;
    case DataType::kFloat16:
      return at::kHalf;
    case DataType::kBFloat16:
      return at::kBFloat16;
    case DataType::kInt32:
      return at::kInt;
    case DataType::kInt64:
      return at::kLong;
    case DataType::kInt8:
      return at::kChar;
    case DataType::kUInt8:
      return at::kByte;
    case DataType::kBool:
      return at::kBool;
    case DataType::kFloat8E4M3:
      return at::kFloat8_e4m3fn;
    case DataType::kFloat64:
      return at::kDouble;
    case DataType::kInt16:
      return at::kShort;
  }
  return at::kFloat;
}

}  // namespace kiln::bridge
