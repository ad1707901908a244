// Code generation for fused pointwise kernels: a group of pointwise layers (binary, unary, where,
// cast over float32 / float16 / bfloat16 / bool tensors, all writing the group's output dims)
// becomes one CUDA C++ source that NVRTC compiles (nvrtc_compiler.h). Every element of the output
// is computed from the group's external inputs (broadcast to the output dims) through the members
// in order, each intermediate rounded to its own dtype, so the result is the unfused layers'
// result.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "kiln/status.h"

namespace kiln::cuda::nvrtc {

inline constexpr int kMaxFusedInputs = 16;
inline constexpr int kMaxFusedOutputs = 8;

/// What a generated kernel reads and writes, in argument order, and its source.
struct PointwiseKernelSpec {
  std::vector<int32_t>
      inputs;  ///< external tensors loaded (network inputs, earlier layers, weights)
  std::vector<int32_t>
      outputs;           ///< member outputs read outside the group or marked as network outputs
  int vector_width = 1;  ///< elements per thread on the vector path (16 bytes of the widest type)
  std::string source;    ///< entry points kiln_pointwise_v1 and kiln_pointwise_vec
  std::string summary;   ///< "mul+add+gelu" (for describe / profiles)
};

/// Whether `layer` can be a member of a generated pointwise kernel (op, dtypes, rank); why not if
/// not.
Status fusable_pointwise(const ir::Graph& g, const ir::Layer& layer);

/// The tensors a group writes: member outputs that are network outputs or data inputs of an
/// executed layer outside the group (`executed` from ir::device_layers), in member order.
std::vector<int32_t> pointwise_group_outputs(const ir::Graph& g, std::span<const int32_t> layers,
                                             const std::vector<bool>& executed);

/// Generates the kernel of a group (layers in execution order, each fusable, all with the same
/// output dims). Deterministic: the same graph and group give the same source.
Expected<PointwiseKernelSpec> generate_pointwise(const ir::Graph& g,
                                                 std::span<const int32_t> layers,
                                                 const std::vector<bool>& executed);

/// The parameter block every generated kernel takes by value (mirrors the struct in the source).
struct PointwiseParams {
  const void* in[kMaxFusedInputs];
  void* out[kMaxFusedOutputs];
  uint32_t units;  ///< output elements / vector width
  int32_t rank;    ///< coalesced output rank (1..kMaxRank)
  uint32_t size[kMaxRank];
  uint32_t div_m[kMaxRank];
  uint32_t div_s[kMaxRank];
  uint32_t stride[kMaxFusedInputs][kMaxRank];  ///< per input; in vectors for vector-loaded inputs
  uint32_t vec_in;                             ///< bit k: input k is loaded as vectors
};

}  // namespace kiln::cuda::nvrtc
