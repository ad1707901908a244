// Error conversion for CUDA, cuBLASLt and cuDNN return codes.
#include "backends/cuda/cuda_common.h"

namespace kiln::cuda {

Status cuda_status(cudaError_t e, const char* what, const char* file, int line) {
  // Callers may pass every return code through (cuda_status(cudaMalloc(...), ...)): success is OK.
  if (e == cudaSuccess) return {};
  cudaGetLastError();  // clear non-sticky errors so the engine keeps working
  StatusCode code =
      e == cudaErrorMemoryAllocation ? StatusCode::kOutOfMemory : StatusCode::kBackendError;
  std::string msg = std::string(cudaGetErrorName(e)) + " (" + cudaGetErrorString(e) + ") in " +
                    what + " at " + file + ":" + std::to_string(line);
  if (e == cudaErrorMemoryAllocation) {
    size_t free_b = 0, total_b = 0;
    if (cudaMemGetInfo(&free_b, &total_b) == cudaSuccess)
      msg += "; device has " + std::to_string(free_b >> 20) + " MiB free of " +
             std::to_string(total_b >> 20) + " MiB";
    cudaGetLastError();
  }
  return make_error(code, "backends.cuda", msg);
}

namespace {
const char* cublas_name(cublasStatus_t e) {
  switch (e) {
    case CUBLAS_STATUS_NOT_INITIALIZED:
      return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED:
      return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE:
      return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH:
      return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR:
      return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED:
      return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR:
      return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED:
      return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR:
      return "CUBLAS_STATUS_LICENSE_ERROR";
    default:
      return "CUBLAS_STATUS_UNKNOWN";
  }
}
}  // namespace

Status cublas_status(cublasStatus_t e, const char* what, const char* file, int line) {
  if (e == CUBLAS_STATUS_SUCCESS) return {};
  StatusCode code =
      e == CUBLAS_STATUS_ALLOC_FAILED ? StatusCode::kOutOfMemory : StatusCode::kBackendError;
  return make_error(
      code, "backends.cuda.cublaslt",
      std::string(cublas_name(e)) + " in " + what + " at " + file + ":" + std::to_string(line));
}

Status cudnn_status(cudnnStatus_t e, const char* what, const char* file, int line) {
  if (e == CUDNN_STATUS_SUCCESS) return {};
  StatusCode code =
      e == CUDNN_STATUS_ALLOC_FAILED ? StatusCode::kOutOfMemory : StatusCode::kBackendError;
  return make_error(code, "backends.cuda.cudnn",
                    std::string(cudnnGetErrorString(e)) + " in " + what + " at " + file + ":" +
                        std::to_string(line));
}

Status layer_error(const ir::Layer& layer, StatusCode code, const std::string& msg) {
  return make_error(
      code, "backends.cuda",
      "layer '" + layer.name + "' (" + std::string(ir::op_name(layer.op)) + "): " + msg);
}

}  // namespace kiln::cuda
