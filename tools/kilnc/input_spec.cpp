#include "input_spec.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <string>

namespace kiln::kilnc {
namespace {

constexpr std::string_view kGrammar =
    "expected SHAPE[@DTYPE][%FORMAT] where SHAPE is \"(N,C,H,W)\", \"[(MIN);(OPT);(MAX)]\", "
    "\"NxCxHxW\" or "
    "\"MIN;OPT;MAX\"";

Status bad(std::string_view spec, const std::string& what) {
  return make_error(StatusCode::kInvalidArgument, "kilnc",
                    "bad input spec '" + std::string(spec) + "': " + what);
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// "1,3,224,224" (separator ',') or "1x3x224x224" (separator 'x'): non-negative integers.
Expected<std::vector<int64_t>> parse_dims(std::string_view spec, std::string_view text, char sep) {
  std::vector<int64_t> dims;
  size_t start = 0;
  while (true) {
    size_t end = text.find(sep, start);
    std::string_view part =
        trim(text.substr(start, end == std::string_view::npos ? text.size() - start : end - start));
    int64_t v = -1;
    auto [ptr, ec] = std::from_chars(part.data(), part.data() + part.size(), v);
    if (part.empty() || ec != std::errc() || ptr != part.data() + part.size() || v < 0)
      return bad(spec, "'" + std::string(part) + "' is not a dimension (a non-negative integer)");
    dims.push_back(v);
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  if (dims.size() > static_cast<size_t>(kMaxRank))
    return bad(spec, "rank " + std::to_string(dims.size()) + " is above Kiln's maximum " +
                         std::to_string(kMaxRank));
  return dims;
}

// "(1,3,224,224)"
Expected<std::vector<int64_t>> parse_paren_shape(std::string_view spec, std::string_view text) {
  text = trim(text);
  if (text.size() < 2 || text.front() != '(' || text.back() != ')')
    return bad(spec,
               "'" + std::string(text) + "' is not a shape in parentheses like (1,3,224,224)");
  return parse_dims(spec, text.substr(1, text.size() - 2), ',');
}

Expected<std::vector<std::vector<int64_t>>> parse_shapes(std::string_view spec,
                                                         std::string_view text) {
  text = trim(text);
  std::vector<std::vector<int64_t>> shapes;
  if (text.empty()) return bad(spec, "no shape; " + std::string(kGrammar));
  if (text.front() == '[') {  // torchtrtc's range: [(MIN);(OPT);(MAX)]
    if (text.back() != ']') return bad(spec, "a range opened with '[' must end with ']'");
    std::string_view inner = text.substr(1, text.size() - 2);
    size_t start = 0;
    while (true) {
      size_t end = inner.find(';', start);
      KILN_ASSIGN_OR_RETURN(
          auto s, parse_paren_shape(
                      spec, inner.substr(start, end == std::string_view::npos ? inner.size() - start
                                                                              : end - start)));
      shapes.push_back(std::move(s));
      if (end == std::string_view::npos) break;
      start = end + 1;
    }
    if (shapes.size() != 3)
      return bad(spec, "a range needs three shapes [(MIN);(OPT);(MAX)], got " +
                           std::to_string(shapes.size()));
  } else if (text.front() == '(') {
    KILN_ASSIGN_OR_RETURN(auto s, parse_paren_shape(spec, text));
    shapes.push_back(std::move(s));
  } else {  // Kiln's 1x3x224x224 or MIN;OPT;MAX
    size_t start = 0;
    while (true) {
      size_t end = text.find(';', start);
      KILN_ASSIGN_OR_RETURN(
          auto s, parse_dims(spec,
                             text.substr(start, end == std::string_view::npos ? text.size() - start
                                                                              : end - start),
                             'x'));
      shapes.push_back(std::move(s));
      if (end == std::string_view::npos) break;
      start = end + 1;
    }
    if (shapes.size() != 1 && shapes.size() != 3)
      return bad(spec,
                 "give one shape or three (MIN;OPT;MAX), got " + std::to_string(shapes.size()));
  }
  return shapes;
}

}  // namespace

Expected<DataType> parse_spec_dtype(std::string_view name) {
  std::string n = lower(trim(name));
  struct Alias {
    std::string_view name;
    DataType dtype;
  };
  static constexpr Alias kAliases[] = {
      {"f32", DataType::kFloat32},     {"float", DataType::kFloat32},
      {"float32", DataType::kFloat32}, {"fp32", DataType::kFloat32},
      {"f16", DataType::kFloat16},     {"half", DataType::kFloat16},
      {"float16", DataType::kFloat16}, {"fp16", DataType::kFloat16},
      {"bf16", DataType::kBFloat16},   {"bfloat16", DataType::kBFloat16},
      {"i32", DataType::kInt32},       {"int", DataType::kInt32},
      {"int32", DataType::kInt32},     {"i64", DataType::kInt64},
      {"long", DataType::kInt64},      {"int64", DataType::kInt64},
      {"i8", DataType::kInt8},         {"char", DataType::kInt8},
      {"int8", DataType::kInt8},       {"u8", DataType::kUInt8},
      {"uint8", DataType::kUInt8},     {"bool", DataType::kBool},
      {"b", DataType::kBool},
  };
  for (const Alias& a : kAliases)
    if (a.name == n) return a.dtype;
  if (auto dt = parse_dtype(n)) return *dt;  // the engine's own names (f8e4m3, ...)
  return make_error(
      StatusCode::kInvalidArgument, "kilnc",
      "unknown dtype '" + std::string(name) +
          "' (f32|float|fp32, f16|half|fp16, bf16, i32|int, i64|long, i8|char, u8, bool)");
}

Expected<InputFormat> parse_spec_format(std::string_view name) {
  std::string n = lower(trim(name));
  if (n == "contiguous" || n == "linear" || n == "nchw" || n == "chw")
    return InputFormat::kContiguous;
  if (n == "channels_last" || n == "channel_last" || n == "nhwc" || n == "hwc")
    return InputFormat::kChannelsLast;
  return make_error(StatusCode::kInvalidArgument, "kilnc",
                    "unknown format '" + std::string(name) +
                        "' (contiguous|linear|nchw|chw or channels_last|channel_last|nhwc|hwc)");
}

Expected<InputSpec> parse_input_spec(std::string_view spec) {
  std::string_view shape_part = spec, dtype_part, format_part;
  size_t at = spec.find('@'), pct = spec.find('%');
  if (at != std::string_view::npos && pct != std::string_view::npos && pct < at)
    return bad(spec, "the dtype (@) comes before the format (%)");
  if (pct != std::string_view::npos) {
    format_part = spec.substr(pct + 1);
    shape_part = spec.substr(0, pct);
  }
  if (at != std::string_view::npos) {
    dtype_part = shape_part.substr(at + 1);
    shape_part = shape_part.substr(0, at);
  }
  InputSpec out;
  if (at != std::string_view::npos) {
    auto dt = parse_spec_dtype(dtype_part);
    if (!dt) return bad(spec, dt.status().message().substr(std::string_view("[kilnc] ").size()));
    out.dtype = *dt;
  }
  if (pct != std::string_view::npos) {
    auto f = parse_spec_format(format_part);
    if (!f) return bad(spec, f.status().message().substr(std::string_view("[kilnc] ").size()));
    out.format = *f;
  }
  KILN_ASSIGN_OR_RETURN(auto shapes, parse_shapes(spec, shape_part));
  if (shapes.size() == 1) {
    out.min_shape = out.opt_shape = out.max_shape = shapes[0];
    return out;
  }
  const auto &mn = shapes[0], &op = shapes[1], &mx = shapes[2];
  if (mn.size() != op.size() || op.size() != mx.size())
    return bad(spec, "MIN, OPT and MAX have different ranks (" + std::to_string(mn.size()) + ", " +
                         std::to_string(op.size()) + ", " + std::to_string(mx.size()) + ")");
  for (size_t d = 0; d < mn.size(); ++d) {
    if (!(mn[d] <= op[d] && op[d] <= mx[d]))
      return bad(spec, "dim " + std::to_string(d) + " needs MIN <= OPT <= MAX, got " +
                           std::to_string(mn[d]) + ", " + std::to_string(op[d]) + ", " +
                           std::to_string(mx[d]));
  }
  out.min_shape = mn;
  out.opt_shape = op;
  out.max_shape = mx;
  return out;
}

}  // namespace kiln::kilnc
