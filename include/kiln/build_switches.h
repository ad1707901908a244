// Switches that change which engine a build produces (beyond precision and tuning effort). They
// live in BuilderConfig::switches and are recorded in the plan, so two builds of one network differ
// only for reasons the plans show. The engine never reads them from the environment; the edges
// (kilnc, the Python bindings) map the old KILN_* variables with apply_build_variable().
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kiln/status.h"

namespace kiln {

/// Memory layout of 2-D convolutions and pooling (the layout_channels_last pass).
enum class LayoutChoice : uint8_t {
  kAuto,  ///< channels-last where the pass's profitability rule says so (CUDA only)
  kNCHW,  ///< never channels-last
  kNHWC,  ///< channels-last for every network with 2-D convolutions
};

struct BuildSwitches {
  LayoutChoice layout = LayoutChoice::kAuto;
  /// Apply the channels-last layout on every backend, not only CUDA, and skip the auto rule (tests
  /// check the rewrite on the CPU reference). No effect with layout kNCHW.
  bool layout_any_backend = false;
  /// Fuse bias, activation and residual epilogues into GEMMs and convolutions (CUDA).
  bool fuse_epilogues = true;
  /// Generate one kernel per chain of pointwise layers (CUDA, NVRTC); needs fuse_epilogues.
  bool fuse_pointwise = true;
  /// Restricts the convolution implementations timed (CUDA): "" any, "graph" (cuDNN operation
  /// graphs), "depthwise" (Kiln's NHWC kernel), "depthwise:<1|4|8>" (one tile of it).
  std::string conv_impl;
  /// Only cuDNN's legacy convolution API (no operation graphs, no depthwise kernel); kept in each
  /// convolution's kernel record, so the loaded engine runs the same way.
  bool cudnn_legacy_only = false;
  /// Passes skipped, by their pipeline names; an unknown name fails the build.
  std::vector<std::string> disabled_passes;

  bool operator==(const BuildSwitches&) const = default;
};

/// The environment variables scripts set to change an engine. Only the edges read them (and
/// KILN_DUMP_IR into BuilderConfig::dump_ir_dir); the engine takes the BuilderConfig it is given.
inline constexpr std::string_view kBuildVariables[] = {
    "KILN_LAYOUT",    "KILN_FORCE_CHANNELS_LAST", "KILN_DISABLE_FUSION",
    "KILN_CONV_IMPL", "KILN_CUDNN_LEGACY",        "KILN_DISABLE_PASSES",
};

/// Applies one of kBuildVariables with the meaning it had when passes read it (an empty value is
/// unset): KILN_LAYOUT=auto|nchw|nhwc, KILN_FORCE_CHANNELS_LAST=1, KILN_DISABLE_FUSION=pointwise
/// (no generated pointwise kernels) or any other value (no fusion), KILN_CONV_IMPL as conv_impl,
/// KILN_CUDNN_LEGACY=1, KILN_DISABLE_PASSES=name,name. kInvalidArgument for a bad value or name.
Status apply_build_variable(BuildSwitches& switches, std::string_view name, std::string_view value);

/// Checks values (layout in range, conv_impl spelled as above); pass names are checked by the
/// pipeline.
Status validate_build_switches(const BuildSwitches& switches);

/// "auto" / "nchw" / "nhwc".
const char* layout_choice_name(LayoutChoice layout);

}  // namespace kiln
