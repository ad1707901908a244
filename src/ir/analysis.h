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

/// For each tensor, the tensor whose memory it uses: itself, or for outputs of view layers (and of
/// offset-view slices) the storage root of the view's input.
std::vector<int32_t> storage_roots(const Graph& g, const std::vector<bool>& executed);

/// Whether layer `layer` only names its input's memory anew: a view (or offset-view slice) whose
/// output `roots` (storage_roots) maps to another tensor, and no in-place writer. It launches
/// nothing, so a plan may leave it without a kernel record (the context points its output at the
/// input's bytes).
bool is_aliasing_view(const Graph& g, const std::vector<int32_t>& roots, int32_t layer);

/// A slice that is a contiguous block of its input, so its output can alias the input at an offset:
/// one axis, step 1, starts/ends in the params, every dim before the axis a static 1, and the bytes
/// behind one index of the axis a multiple of 256 (the alignment kernels expect of every tensor).
bool is_offset_view(const Graph& g, const Layer& l);
/// Byte offset of an offset-view slice's output inside its input, for the input's resolved dims.
int64_t offset_view_bytes(const Layer& l, const Dims& in_dims, DataType dt);

/// For each tensor, the consumers (layer indices) in order.
std::vector<std::vector<int32_t>> consumers(const Graph& g);

}  // namespace kiln::ir
