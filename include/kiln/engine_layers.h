// What a loaded engine runs, as data: its kernel groups after fusion, each with the kernel and
// tactic chosen and the layers it computes (name, op, precision). Engine::describe prints the same;
// reports (kiln.report, kilnc --report) read it from here.
#pragma once

#include <string>
#include <vector>

#include "kiln/engine.h"

namespace kiln {

/// One layer of a kernel group.
struct LayerInfo {
  std::string name;       ///< the layer's name (the converters name it after the model's value)
  std::string op;         ///< op name, e.g. "convolution"
  std::string precision;  ///< the float type the build set it to compute in ("float16"); empty:
                          ///< as its inputs
  std::string dtype;      ///< its (first) output's dtype
};

/// One kernel of the engine, in execution order.
struct KernelGroupInfo {
  std::string kernel;  ///< kernel and tactic, as LayerTiming::kernel ("cpu.convolution#0")
  std::vector<LayerInfo> layers;
};

/// The engine's kernel groups in execution order.
std::vector<KernelGroupInfo> kernel_groups(const Engine& engine);

}  // namespace kiln
