// The legacy cuDNN convolution API (cudnnConvolutionForward / BackwardData with an algorithm): fp32
// (where tf32 must be controllable), transposed convolutions, and problems the operation graphs
// cannot take. Descriptors per concrete problem live in a ConvPlan.
#pragma once

#include <atomic>

#include "backends/cuda/cudnn/conv_problem.h"

namespace kiln::cuda {

struct ConvPlan {
  cudnnTensorDescriptor_t xd = nullptr, yd = nullptr, bd = nullptr;
  cudnnFilterDescriptor_t wd = nullptr;
  cudnnConvolutionDescriptor_t cd = nullptr;
  cudnnActivationDescriptor_t ad = nullptr;
  int algo = 0;
  size_t workspace = 0;
  std::atomic<bool> fused_ok{true};
  ConvPlan() = default;
  ConvPlan(const ConvPlan&) = delete;
  ConvPlan& operator=(const ConvPlan&) = delete;
  ~ConvPlan() {
    if (xd) cudnnDestroyTensorDescriptor(xd);
    if (yd) cudnnDestroyTensorDescriptor(yd);
    if (bd) cudnnDestroyTensorDescriptor(bd);
    if (wd) cudnnDestroyFilterDescriptor(wd);
    if (cd) cudnnDestroyConvolutionDescriptor(cd);
    if (ad) cudnnDestroyActivationDescriptor(ad);
  }
};

Status make_descriptors(const ConvProblem& p, bool tf32, ConvPlan& plan);
/// cuDNN's heuristic choice of algorithm within max_ws bytes of workspace.
Status heuristic_algo(cudnnHandle_t h, const ConvProblem& p, ConvPlan& plan, size_t max_ws);
/// plan.workspace for plan.algo.
Status workspace_for(cudnnHandle_t h, const ConvProblem& p, ConvPlan& plan);
/// y = conv(x, w) (+ b when the problem has a bias).
Status run_conv(cudnnHandle_t h, const ConvProblem& p, const ConvPlan& plan, const void* x,
                const void* w, const void* b, void* y, void* ws, size_t ws_bytes,
                cudaStream_t stream);

}  // namespace kiln::cuda
