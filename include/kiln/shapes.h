// Shape ranges of dynamic inputs: what the builder tunes for and the runtime accepts. Below both
// builder.h and engine.h, so the runtime needs nothing from the builder.
#pragma once

#include <map>
#include <string>

#include "kiln/types.h"

namespace kiln {

/// Range of one input's dims for one optimization profile.
struct ShapeRange {
  Dims min, opt, max;
};

/// One min/opt/max range per dynamic input. Kernels are tuned for `opt`; any shape within
/// [min, max] runs.
struct OptimizationProfile {
  std::map<std::string, ShapeRange> ranges;
  /// Convenience: sets the range for input `name`.
  OptimizationProfile& set(const std::string& name, Dims min, Dims opt, Dims max) {
    ranges[name] = ShapeRange{min, opt, max};
    return *this;
  }
};

}  // namespace kiln
