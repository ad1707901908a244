// CUTLASS sm_90a GEMMs for float16 (gemm_sm90_impl.cuh).
#include "backends/cuda/cutlass/gemm_sm90_impl.cuh"

namespace kiln::cuda::cutlass_gemm {
Status run_f16(const Problem& p, int config, void* ws, size_t ws_bytes, cudaStream_t stream) {
  return detail::run_config<cutlass::half_t>(p, config, ws, ws_bytes, stream);
}
}  // namespace kiln::cuda::cutlass_gemm
