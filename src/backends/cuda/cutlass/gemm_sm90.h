// Hopper GEMMs with fused epilogues that cuBLASLt lacks, from CUTLASS 3.x (warp-specialized TMA
// kernels, sm_90a): D[m,n] = act(A[m,k] * B[n,k]^T + bias[n] + C[m,n]) for a linear layer in
// float16 / bfloat16 with float32 accumulation, C optional (a residual), act = exact (erf) GELU.
// Built when the CUTLASS headers are found (KILN_CUTLASS_DIR, or the nvidia-cutlass Python
// package); otherwise every call answers kUnsupported and such layers keep cuBLASLt plus a separate
// activation kernel.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <string>

#include "kiln/layers.h"
#include "kiln/status.h"
#include "kiln/types.h"

namespace kiln::cuda::cutlass_gemm {

struct Problem {
  DataType dt = DataType::kFloat16;
  int m = 0, n = 0, k = 0;
  const void* a = nullptr;     ///< [m, k] row-major
  const void* b = nullptr;     ///< [n, k] row-major (a linear layer's weight)
  const void* bias = nullptr;  ///< [n]
  const void* c = nullptr;     ///< [m, n] residual, or nullptr
  void* d = nullptr;           ///< [m, n]
  UnaryOp activation = UnaryOp::kGelu;
};

/// Tile configurations, each a tactic: 0: 128x128x64 cluster 1x2 cooperative, 1: 128x256x64
/// cooperative, 2: 64x128x64 ping-pong (small m).
inline constexpr int kNumConfigs = 3;

/// Built with CUTLASS and the current device is sm_90.
bool available();
std::string config_name(int config);
/// Runs `config` on `stream`; kUnsupported when it cannot take the problem (dtype, activation,
/// alignment of 16 bytes, workspace).
Status run(const Problem& p, int config, void* workspace, size_t workspace_bytes,
           cudaStream_t stream);

}  // namespace kiln::cuda::cutlass_gemm
