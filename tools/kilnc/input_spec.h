// kilnc's input specs: Kiln's "1x3x224x224" / "MIN;OPT;MAX" and torchtrtc's grammar,
//   "(1,3,224,224)"  or  "[(1,3,224,224);(8,3,224,224);(32,3,224,224)]"
// either followed by "@DTYPE" and then "%FORMAT" (each optional). No torch: tested on its own.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "kiln/status.h"
#include "kiln/types.h"

namespace kiln::kilnc {

enum class InputFormat { kContiguous, kChannelsLast };

struct InputSpec {
  std::vector<int64_t> min_shape, opt_shape, max_shape;
  DataType dtype = DataType::kFloat32;
  InputFormat format = InputFormat::kContiguous;
};

/// Parses one input spec; the error (kInvalidArgument) quotes the spec and says what was expected.
Expected<InputSpec> parse_input_spec(std::string_view spec);

/// Tensor dtype names: Kiln's (f32 f16 bf16 i32 i64 i8 u8 bool) and torchtrtc's (float float32 fp32
/// half float16 fp16 int int32 char int8 bool b, ...), case-insensitive.
Expected<DataType> parse_spec_dtype(std::string_view name);

/// torchtrtc's formats: contiguous linear nchw chw | channels_last channel_last nhwc hwc.
Expected<InputFormat> parse_spec_format(std::string_view name);

}  // namespace kiln::kilnc
