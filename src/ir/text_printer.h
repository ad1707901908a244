// Text form of a graph: one line per input, layer and output. Small constants are printed inline so
// the text parses back to an identical graph; large ones are elided unless asked for.
//
//   kiln.network v1
//   input "x" : f32[-1,3,8,8]
//   layer "w" = constant() {weight=0} -> "w" : f32[2] = [0.5,1.5]
//   layer "conv1" = convolution("x", "w", _) {strides=[1,1], ...} -> "conv1" : f32[-1,4,8,8]
//   output "conv1"
#pragma once

#include <string>

#include "ir/graph.h"

namespace kiln::ir {

struct PrintOptions {
  /// Constants with at most this many elements are printed inline (the rest as "<N bytes>").
  int64_t inline_constant_limit = 64;
};

std::string print_graph(const Graph& g, const PrintOptions& options = {});

struct ParseOptions {
  /// Fill elided ("<N bytes>") constants with deterministic pseudo-random values instead of
  /// failing.
  bool fill_elided_constants = false;
};

Expected<Graph> parse_graph(std::string_view text, const ParseOptions& options = {});

}  // namespace kiln::ir
