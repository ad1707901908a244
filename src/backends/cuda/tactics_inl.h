// Inline template part of tactics.h.
#pragma once

#include <algorithm>
#include <vector>

namespace kiln::cuda {

template <class F>
Expected<float> time_on_stream(cudaStream_t stream, int reps, F&& fn) {
  cudaEvent_t a, b;
  KILN_CUDA_RETURN(cudaEventCreate(&a));
  KILN_CUDA_RETURN(cudaEventCreate(&b));
  Status s = fn();  // warm-up
  std::vector<float> times;
  for (int i = 0; s.ok() && i < reps; ++i) {
    cudaEventRecord(a, stream);
    s = fn();
    cudaEventRecord(b, stream);
    if (!s.ok()) break;
    cudaError_t e = cudaEventSynchronize(b);
    if (e != cudaSuccess) {
      s = cuda_status(e, "cudaEventSynchronize", __FILE__, __LINE__);
      break;
    }
    float ms = 0;
    cudaEventElapsedTime(&ms, a, b);
    times.push_back(ms);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  if (!s.ok()) return s;
  std::sort(times.begin(), times.end());
  return times.empty() ? 0.0f : times[times.size() / 2];
}

}  // namespace kiln::cuda
