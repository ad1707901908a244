// Convolution (+ bias, + residual, + activation) as one cuDNN operation graph through the backend
// API (cuDNN 9's graph engines: the Hopper tensor-core and runtime-fusion kernels the legacy
// cudnnConvolutionForward algorithms do not reach). The graph is built for one concrete problem;
// cuDNN's heuristics order its engine configurations, and a candidate index selects one (the tactic
// recorded in the plan; chosen by timing at build time).
#pragma once

#include <cudnn.h>

#include <memory>
#include <string>
#include <vector>

#include "backends/cuda/cuda_common.h"
#include "backends/cuda/cudnn/graph_activation.h"

namespace kiln::cuda {

/// One concrete fused convolution, all dims NCHW-ordered with explicit strides (channels-last is a
/// stride order, not a dim order).
struct ConvGraphProblem {
  cudnnDataType_t io_type = CUDNN_DATA_HALF;  ///< x, w, y, bias and residual
  std::vector<int64_t> x, w, y;               ///< dims
  std::vector<int64_t> xs, ws, ys;            ///< strides
  std::vector<int64_t> pad, stride, dil;      ///< per spatial dim
  bool bias = false;                          ///< y += b[1, K, 1...]
  bool residual = false;                      ///< y += z (same dims and strides as y)
  /// y = activation(y), last: its pointwise steps (graph_activation.h); empty: none.
  std::vector<GraphActOp> activation;
  /// An int8 convolution (a channels-last quantized_convolution): x and w int8, int32
  /// accumulation; then y = acc * scale[1, K, 1...] (float, always), + bias (float), + residual
  /// (z_type), activation, and with out_multiplier y *= m[1, 1, 1...] (float) before y is written
  /// as y_type (int8: cuDNN rounds and saturates). io_type is unused.
  bool int8 = false;
  cudnnDataType_t y_type = CUDNN_DATA_INT8, z_type = CUDNN_DATA_FLOAT;
  bool out_multiplier = false;
};

/// An operation graph with its ordered engine candidates and (after select) one execution plan.
class ConvGraph {
 public:
  ~ConvGraph();
  ConvGraph(const ConvGraph&) = delete;
  ConvGraph& operator=(const ConvGraph&) = delete;

  /// Builds the operation graph and asks cuDNN's heuristics for candidates (mode A, then fallback).
  /// kUnsupported when cuDNN has no engine for the graph.
  static Expected<std::unique_ptr<ConvGraph>> create(cudnnHandle_t h, const ConvGraphProblem& p);

  int candidates() const { return static_cast<int>(configs_.size()); }
  /// Finalizes the execution plan of candidate `index`; an error if it does not build or needs more
  /// than `max_workspace` bytes.
  Status select(cudnnHandle_t h, int index, size_t max_workspace);
  /// Selects the first candidate (in heuristic order) that builds within `max_workspace`; its
  /// index.
  Expected<int> select_first(cudnnHandle_t h, size_t max_workspace);
  size_t workspace() const { return workspace_; }
  int selected() const { return selected_; }

  /// Runs the selected plan. `b` / `z` are ignored unless the problem has a bias / residual,
  /// `scale` / `out_multiplier` unless it is int8 (with an out_multiplier).
  Status run(cudnnHandle_t h, const void* x, const void* w, const void* b, const void* z, void* y,
             void* workspace, cudaStream_t stream, const void* scale = nullptr,
             const void* out_multiplier = nullptr) const;

 private:
  ConvGraph() = default;
  ConvGraphProblem p_;
  std::vector<cudnnBackendDescriptor_t> owned_;  ///< tensors, ops, graph (destroyed in reverse)
  cudnnBackendDescriptor_t graph_ = nullptr;
  /// By-value scalars of the activation steps (host memory, 16-byte aligned like every operand).
  struct alignas(16) Scalar {
    float value;
  };
  std::vector<Scalar> scalars_;
  std::vector<cudnnBackendDescriptor_t> configs_;  ///< engine configs, heuristic order
  cudnnBackendDescriptor_t plan_ = nullptr;
  size_t workspace_ = 0;
  int selected_ = -1;
};

/// True when every pointer is 16-byte aligned (the graph declares 16-byte alignment).
bool conv_graph_aligned(std::initializer_list<const void*> ptrs);

}  // namespace kiln::cuda
