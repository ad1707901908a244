// Attention that reads q, k, v and writes its output through strided views, in place of the
// reshape / transpose / slice layers around it. Transformers compute q, k, v with one packed GEMM
// ([B, L, 3 * H * D]) and move heads forward ([B, H, L, D]) before attention and back after it;
// those moves copy the whole activation twice per layer. The group absorbs them: the attention
// kernel reads each head's rows straight from the GEMM output and writes [B, L, H, D] directly.
#pragma once

#include <array>
#include <vector>

#include "ir/graph.h"

namespace kiln::cuda {

/// The view chains of one attention layer among a set of member layers.
struct AttentionChains {
  int32_t attention = -1;
  /// Per operand (q, k, v): layers from the contiguous tensor it is a view of to the operand, in
  /// order (empty: the operand is read as it is).
  std::array<std::vector<int32_t>, 3> in;
  /// Layers from the attention's output to the tensor it writes (reshapes and transposes; empty:
  /// it writes its own output).
  std::vector<int32_t> out;
};

/// The chains of `attention` made of layers in `member` (walking producers from q, k, v and
/// consumers from the output).
AttentionChains chains_within(const ir::Graph& g, int32_t attention,
                              const std::vector<bool>& member);

/// Groups for every attention layer in `device_layers` whose operands or output pass through a
/// transpose that only it reads, on the flash path (f16/bf16, head dim 32/64/80/96/128): the
/// attention and its chains, in graph order. `taken` layers are skipped and the grouped ones
/// marked; `consumers[t]` are the data consumers of tensor t among the device layers.
std::vector<std::vector<int32_t>> plan_attention_views(
    const ir::Graph& g, const std::vector<int32_t>& device_layers,
    const std::vector<std::vector<int32_t>>& consumers, std::vector<bool>& taken);

}  // namespace kiln::cuda
