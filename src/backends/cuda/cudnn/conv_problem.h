// A convolution layer as one concrete problem (dims, strides, layout, epilogue) and the rules that
// pick its implementation: the cuDNN operation graph (conv_graph.h), Kiln's depthwise kernel, or
// the legacy cuDNN API (conv_legacy.h). Shared by the tuner and the kernel (convolution.cpp).
#pragma once

#include <string>
#include <vector>

#include "backends/cuda/cuda_common.h"
#include "backends/cuda/cudnn/conv_graph.h"
#include "backends/cuda/fusion.h"

namespace kiln::cuda {

constexpr size_t kConvWorkspace = 64u << 20;
constexpr int64_t kGraphTactic =
    1000;  ///< tactics kGraphTactic + i: the i-th engine-graph candidate
/// tactics kGraphNoActTactic + i: the i-th candidate of the graph without its composed activation
/// (hardswish / hardsigmoid), which then runs in place after it; chosen where that is faster.
constexpr int64_t kGraphNoActTactic = kGraphTactic + 2048;
constexpr int64_t kDepthwiseTactic =
    5000;  ///< Kiln's NHWC depthwise kernel, one output per thread;
           ///< kDepthwiseTactic + 4 / + 8: its row tiles of 4 / 8 outputs;
           ///< kDepthwiseTactic + 16: shared-memory tiles (stride 1)
constexpr bool is_depthwise_tactic(int64_t t) {
  return t == kDepthwiseTactic || t == kDepthwiseTactic + 4 || t == kDepthwiseTactic + 8 ||
         t == kDepthwiseTactic + 16;
}
constexpr int depthwise_tile(int64_t t) {
  return t == kDepthwiseTactic ? 1 : static_cast<int>(t - kDepthwiseTactic);
}
constexpr int kGraphCandidatesTimed = 4;  ///< engine candidates timed at build time
                                          ///< (runtime-compiled engines cost ~0.1 s each to build)

cudnnDataType_t cudnn_type(DataType dt);

/// Concrete problem: dims padded to at least 4-D (1-D convs become [N, C, 1, L]), NCHW-ordered.
struct ConvProblem {
  DataType dt;
  std::vector<int> x, w, y;  // dims
  std::vector<int> pad, stride, dil;
  int groups = 1;
  bool transposed = false;
  bool has_bias = false;
  bool nhwc = false;  ///< x, y stored channels-last, w stored [K, spatial..., C]; dims above are
                      ///< NCHW-ordered
  bool legacy_only = false;  ///< BuildSwitches::cudnn_legacy_only (not part of key())

  std::string key() const;
};

Expected<ConvProblem> make_problem(const ir::Layer& l, std::span<const TensorView> in,
                                   std::span<const TensorView> out);
std::vector<int> packed_strides(const std::vector<int>& d);
/// Strides of NCHW-ordered dims stored channels-last ([N, C, D...] -> memory N, D..., C).
std::vector<int> channels_last_strides(const std::vector<int>& d);

/// Whether this convolution may run as a cuDNN operation graph (not with legacy_only).
bool graph_eligible(const ConvProblem& p);
/// Whether Kiln's depthwise kernel can run it: channels-last 2-D, one channel per group, fp16/bf16.
bool depthwise_eligible(const ConvProblem& p);
/// The graph problem; with_activation: fuse the epilogue's activation where
/// graph_activation_steps maps it.
ConvGraphProblem graph_problem(const ConvProblem& p, const EpilogueSpec& epi, bool with_activation);
std::string epilogue_key(const EpilogueSpec& epi, bool has_bias);

/// An operation graph for the problem: with the activation fused when cuDNN has an engine for that,
/// else without (the caller applies the activation); graph == nullptr when cuDNN has none at all.
struct GraphVariant {
  std::unique_ptr<ConvGraph> graph;
  bool activation_fused = false;
};
/// allow_activation = false: the graph without the activation (tactics kGraphNoActTactic + i).
GraphVariant create_graph_variant(cudnnHandle_t h, const ConvProblem& p, const EpilogueSpec& epi,
                                  bool allow_activation = true);

}  // namespace kiln::cuda
