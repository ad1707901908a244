// Fusion for the CUDA backend: which device layers run as one kernel.
//   conv -> [add residual] -> [activation]   one cuDNN graph / depthwise kernel (or legacy fused
//   call) linear/matmul -> [add residual] -> [relu | gelu_tanh | gelu]   one cuBLASLt matmul
//   (beta*C + epilogue); exact gelu: a CUTLASS GEMM with the epilogue where it is faster (timed
//   from optimization level 4), else cuBLASLt + GELU in place
// A layer joins its producer's group only when the producer's output has no other data consumer and
// is not a network output, shapes match exactly (no broadcasting), and the residual operand is
// computed before the anchor (kernels run in the order of their first layer).
//   reshape/transpose/slice -> attention -> reshape/transpose   attention reading and writing
//   through strided views (attention_views.h), where a transpose moves heads on either side
//   pointwise layers the epilogues leave (binary, unary, where, cast on float/bool tensors)
//   one generated kernel (nvrtc/): a layer joins a group that produces one of its inputs when its
//   output has the group's dims and each of its other inputs is ready before the group's first
//   layer (where the group runs). Members' outputs read elsewhere are written; the rest stay in
//   registers.
#pragma once

#include <vector>

#include "ir/graph.h"

namespace kiln::cuda {

struct FusedGroup {
  std::vector<int32_t> layers;  ///< anchor first, then absorbed layers in order
  bool pointwise = false;       ///< a generated pointwise kernel (2+ members)
  /// Attention with its view chains (attention_views.h): layers in graph order, the kernel runs
  /// where the attention layer is (`anchor`).
  bool attention_views = false;
  int32_t anchor = -1;
};

struct FusionOptions {
  bool epilogues = true;  ///< conv / GEMM epilogues
  bool pointwise = true;  ///< generated pointwise kernels
};

std::vector<FusedGroup> plan_fusion(const ir::Graph& g, const std::vector<int32_t>& device_layers,
                                    const FusionOptions& options);

/// Whether a group is one aliasing view (ir::is_aliasing_view; `roots` from ir::storage_roots of
/// the device layers): it launches nothing, so the backend writes no kernel record for it.
bool launches_nothing(const ir::Graph& g, const FusedGroup& group,
                      const std::vector<int32_t>& roots);

/// The parts of a fused group, decoded from its layers (for kernel creation).
struct EpilogueSpec {
  int32_t residual = -1;  ///< tensor id added to the anchor's output, or -1
  UnaryOp activation = UnaryOp::kIdentity;
  int32_t output = -1;            ///< tensor id the group writes
  int32_t activation_layer = -1;  ///< layer id of the activation, or -1
};

/// Decodes layers[1..] of a group anchored at layers[0]; false if the group is not a valid
/// epilogue.
bool decode_epilogue(const ir::Graph& g, const std::vector<int32_t>& layers, EpilogueSpec& spec);

}  // namespace kiln::cuda
