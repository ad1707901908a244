// The CUDA backend's kernel list without a GPU: the pass pipeline for "cuda" and fusion planning,
// exactly as Builder::build and CudaBackend::lower run them, minus tactic timing. One entry per
// kernel record the plan would hold, in execution order (what `kiln_profile PLAN N order` lists).
// For tests and tools that count or inspect kernels on a machine without a GPU.
#pragma once

#include <string>
#include <vector>

#include "ir/graph.h"
#include "kiln/builder.h"
#include "kiln/network.h"

namespace kiln::cuda {

struct PlannedKernel {
  std::vector<int32_t> layers;  ///< the record's layers (anchor first)
  /// "gemm", "gemm+add+gelu_tanh", "attention+views", "pointwise[mul+add]", or the op name of a
  /// single layer ("layer_norm", "transpose"). Views that only alias their input have none.
  std::string kind;
};

/// Kernels of `net` built for `config` (backend forced to "cuda"), and the graph the passes left.
struct KernelPlan {
  ir::Graph graph;
  std::vector<PlannedKernel> kernels;
  int num_aliasing_views = 0;  ///< device layers left without a record (ir::is_aliasing_view)
};

Expected<KernelPlan> plan_kernels(const Network& net, BuilderConfig config);

}  // namespace kiln::cuda
