// BuildSwitches: the old KILN_* variables' meanings, and value checks.
#include "kiln/build_switches.h"

#include <array>

namespace kiln {
namespace {

Status bad(const std::string& msg) {
  return make_error(StatusCode::kInvalidArgument, "builder.switches", msg);
}

bool truthy(std::string_view v) { return !v.empty() && v[0] != '0'; }  // as the variables were read

}  // namespace

const char* layout_choice_name(LayoutChoice layout) {
  static constexpr std::array<const char*, 3> kNames{"auto", "nchw", "nhwc"};
  auto i = static_cast<size_t>(layout);
  return i < kNames.size() ? kNames[i] : "invalid";
}

Status apply_build_variable(BuildSwitches& sw, std::string_view name, std::string_view value) {
  const std::string v(value);
  if (name == "KILN_LAYOUT") {
    if (v.empty() || v == "auto")
      sw.layout = LayoutChoice::kAuto;
    else if (v == "nchw")
      sw.layout = LayoutChoice::kNCHW;
    else if (v == "nhwc")
      sw.layout = LayoutChoice::kNHWC;
    else
      return bad("KILN_LAYOUT must be auto, nchw or nhwc, got '" + v + "'");
  } else if (name == "KILN_FORCE_CHANNELS_LAST") {
    // It used to run the rewrite on any backend without the auto rule: nhwc everywhere.
    if (!v.empty() && v[0] == '1') {
      sw.layout_any_backend = true;
      if (sw.layout == LayoutChoice::kAuto) sw.layout = LayoutChoice::kNHWC;
    }
  } else if (name == "KILN_DISABLE_FUSION") {
    if (v.empty()) return {};
    sw.fuse_pointwise = false;
    sw.fuse_epilogues = v == "pointwise";
  } else if (name == "KILN_CONV_IMPL") {
    sw.conv_impl = v;
    return validate_build_switches(sw);
  } else if (name == "KILN_CUDNN_LEGACY") {
    sw.cudnn_legacy_only = truthy(v);
  } else if (name == "KILN_DISABLE_PASSES") {
    size_t start = 0;
    while (start <= v.size() && !v.empty()) {
      size_t end = v.find(',', start);
      if (end == std::string::npos) end = v.size();
      if (end > start) sw.disabled_passes.push_back(v.substr(start, end - start));
      start = end + 1;
    }
  } else {
    return bad("unknown build variable '" + std::string(name) + "'");
  }
  return {};
}

Status validate_build_switches(const BuildSwitches& sw) {
  if (static_cast<size_t>(sw.layout) > static_cast<size_t>(LayoutChoice::kNHWC))
    return bad("invalid layout " + std::to_string(static_cast<int>(sw.layout)));
  const std::string& c = sw.conv_impl;
  // graph:fused / graph:act_after: graphs with a composed activation (hardswish, hardsigmoid)
  // fused, or run after the graph (tests pin each; "graph" times both).
  if (c.empty() || c == "graph" || c == "graph:fused" || c == "graph:act_after" ||
      c == "depthwise" || c == "depthwise:1" || c == "depthwise:4" || c == "depthwise:8" ||
      c == "depthwise:16")
    return {};
  return bad(
      "conv_impl must be empty, graph, graph:fused, graph:act_after, depthwise or "
      "depthwise:<1|4|8|16>, got '" +
      c + "'");
}

}  // namespace kiln
