// Shared by the CUDA backend's host code and kernel launchers: error checking, per-context state,
// the launch arguments every layer kernel receives.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <span>
#include <string>

#include "backends/backend.h"
#include "ir/graph.h"

namespace kiln::cuda {

using backend::TensorView;

// Each returns OK for its library's success code and a StatusCode-mapped error otherwise.
Status cuda_status(cudaError_t e, const char* what, const char* file, int line);
Status cublas_status(cublasStatus_t e, const char* what, const char* file, int line);
Status cudnn_status(cudnnStatus_t e, const char* what, const char* file, int line);

/// Evaluates a CUDA runtime / cuBLASLt / cuDNN call and returns a kBackendError Status on failure.
#define KILN_CUDA_RETURN(expr)                                              \
  do {                                                                      \
    cudaError_t kiln_e_ = (expr);                                           \
    if (kiln_e_ != cudaSuccess)                                             \
      return ::kiln::cuda::cuda_status(kiln_e_, #expr, __FILE__, __LINE__); \
  } while (0)
#define KILN_CUBLAS_RETURN(expr)                                              \
  do {                                                                        \
    cublasStatus_t kiln_e_ = (expr);                                          \
    if (kiln_e_ != CUBLAS_STATUS_SUCCESS)                                     \
      return ::kiln::cuda::cublas_status(kiln_e_, #expr, __FILE__, __LINE__); \
  } while (0)
#define KILN_CUDNN_RETURN(expr)                                              \
  do {                                                                       \
    cudnnStatus_t kiln_e_ = (expr);                                          \
    if (kiln_e_ != CUDNN_STATUS_SUCCESS)                                     \
      return ::kiln::cuda::cudnn_status(kiln_e_, #expr, __FILE__, __LINE__); \
  } while (0)
/// After a kernel launch: reports launch errors (bad configuration etc.).
#define KILN_CUDA_LAUNCH_CHECK() KILN_CUDA_RETURN(cudaGetLastError())

/// Per-execution-context handles.
struct CudaState {
  int device = 0;
  cublasLtHandle_t lt = nullptr;
  cudnnHandle_t dnn = nullptr;
  bool allow_tf32 = false;
  int num_sms = 0;
  uint64_t id = 0;  ///< unique per context for the process's lifetime (keys per-context caches;
                    ///< handles are reused)
};

/// What a layer kernel gets when it runs.
struct LaunchArgs {
  const ir::Layer& layer;
  std::span<const TensorView> in;   ///< per layer input; data == nullptr when omitted
  std::span<const TensorView> out;  ///< per layer output (device memory, concrete dims)
  void* workspace;
  size_t workspace_bytes;
  cudaStream_t stream;
  CudaState& state;
};

/// "[backends.cuda] layer 'name' (op): msg".
Status layer_error(const ir::Layer& layer, StatusCode code, const std::string& msg);

/// Grid size for `n` elements with `threads` per block (capped to keep grid-stride loops).
inline unsigned grid_for(int64_t n, int threads, int64_t max_blocks = 65535LL * 16) {
  int64_t b = (n + threads - 1) / threads;
  if (b < 1) b = 1;
  return static_cast<unsigned>(b < max_blocks ? b : max_blocks);
}

}  // namespace kiln::cuda
