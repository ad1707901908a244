// Strided layouts of tensors that data-movement layers (reshape, transpose, slice, squeeze,
// unsqueeze, flatten) derive from a contiguous tensor: a kernel that reads or writes through such a
// layout does the layers' work, so they need not copy anything (attention_views.cpp).
#pragma once

#include <array>
#include <span>

#include "backends/backend.h"
#include "ir/graph.h"
#include "kiln/status.h"

namespace kiln::cuda {

/// Element i of a tensor of `dims` lives at offset + sum(i[d] * strides[d]) elements from the
/// start of the memory it is a layout of.
struct StridedLayout {
  Dims dims;
  std::array<int64_t, kMaxRank> strides{};
  int64_t offset = 0;
};

/// The row-major layout of `dims`.
StridedLayout contiguous_layout(const Dims& dims);

/// `from` (dims and strides) seen with dims `to` without moving data, as torch's view: fails when
/// the dims merge elements that are not evenly strided.
Expected<StridedLayout> reshape_layout(const StridedLayout& from, const Dims& to);

/// Whether `l` may be part of a view chain: reshape, squeeze, unsqueeze, flatten, transpose, or a
/// slice with static bounds and positive steps.
bool is_view_chain_layer(const ir::Layer& l);

/// The layout of the last output of `chain` (layers in order, each reading the previous one's
/// output; the first reads a contiguous tensor) in the memory of the first layer's input, with the
/// concrete dims of every tensor in `tensors`.
Expected<StridedLayout> read_through(const ir::Graph& g, std::span<const int32_t> chain,
                                     std::span<const backend::TensorView> tensors);

/// The layout, in the (contiguous) memory of the last output of `chain`, of the first layer's
/// input: a producer writing there through this layout leaves exactly what the chain would have
/// computed. Reshape-like layers and transposes only (a slice drops elements).
Expected<StridedLayout> write_through(const ir::Graph& g, std::span<const int32_t> chain,
                                      std::span<const backend::TensorView> tensors);

}  // namespace kiln::cuda
