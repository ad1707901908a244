// torchtrtc's flags in kilnc: the one table of what each of Torch-TensorRT's CLI flags means here
// (the CLI twin of python/kiln/_keywords.py). No torch: tested on its own.
#pragma once

#include <string_view>

namespace kiln::kilnc {

enum class CompatKind {
  kAlias,        ///< the same as a kilnc flag (`meaning` names it)
  kNoOp,         ///< changes nothing in Kiln: accepted with a one-line warning (`meaning` says why)
  kUnsupported,  ///< Kiln cannot honour it: an error (`meaning` says what Kiln does instead)
};

struct CompatFlag {
  std::string_view name;  ///< as torchtrtc spells it, e.g. "--enabled-precision"
  CompatKind kind;
  bool takes_value;
  std::string_view meaning;
  /// For kNoOp / kUnsupported flags with a value: the value that asks for nothing (accepted
  /// silently).
  std::string_view harmless_value = {};
};

/// The torchtrtc flag `name` (without "=value"), or nullptr when it is not one of torchtrtc's that
/// kilnc maps (kilnc's own flags are not in the table).
const CompatFlag* find_torchtrtc_flag(std::string_view name);

}  // namespace kiln::kilnc
