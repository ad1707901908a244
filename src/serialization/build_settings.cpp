// A plan's build settings as text pairs, for listings.
#include "serialization/plan_contents.h"

namespace kiln::serial {

std::vector<std::pair<std::string, std::string>> build_settings(const PlanContents& plan) {
  const BuildSwitches& sw = plan.switches;
  auto yes_no = [](bool b) { return std::string(b ? "on" : "off"); };
  std::string layout = layout_choice_name(sw.layout);
  if (sw.layout_any_backend) layout += ", any backend";
  layout += plan.channels_last_applied ? " (applied: nhwc)" : " (applied: nchw)";
  std::string disabled;
  for (const auto& p : sw.disabled_passes) disabled += (disabled.empty() ? "" : ",") + p;
  return {
      {"layout", layout},
      {"fuse_epilogues", yes_no(sw.fuse_epilogues)},
      {"fuse_pointwise", yes_no(sw.fuse_epilogues && sw.fuse_pointwise)},
      {"conv_impl", sw.conv_impl.empty() ? "any" : sw.conv_impl},
      {"cudnn_legacy_only", yes_no(sw.cudnn_legacy_only)},
      {"disabled_passes", disabled.empty() ? "none" : disabled},
  };
}

}  // namespace kiln::serial
