// Graph analyses shared by the builder and the runtime.
#pragma once

#include <vector>

#include "ir/graph.h"

namespace kiln::ir {

/// Layers that must execute on the device: those that outputs depend on through data edges (edges
/// into shape operands only need the producer's *values*, which shape resolution computes on the
/// host). Constants are never executed (their data is bound directly).
std::vector<bool> device_layers(const Graph& g);

/// Layers some output depends on through any edge (the rest is dead).
std::vector<bool> live_layers(const Graph& g);

/// For each tensor, the tensor whose memory it uses: itself, or for outputs of view layers the
/// storage root of the view's input.
std::vector<int32_t> storage_roots(const Graph& g, const std::vector<bool>& executed);

/// For each tensor, the consumers (layer indices) in order.
std::vector<std::vector<int32_t>> consumers(const Graph& g);

}  // namespace kiln::ir
