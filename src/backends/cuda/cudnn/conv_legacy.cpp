// Legacy cuDNN convolution API (conv_legacy.h).
#include "backends/cuda/cudnn/conv_legacy.h"

namespace kiln::cuda {

Status make_descriptors(const ConvProblem& p, bool tf32, ConvPlan& plan) {
  cudnnDataType_t t = cudnn_type(p.dt);
  auto nd = static_cast<int>(p.x.size());
  KILN_CUDNN_RETURN(cudnnCreateTensorDescriptor(&plan.xd));
  KILN_CUDNN_RETURN(cudnnCreateTensorDescriptor(&plan.yd));
  KILN_CUDNN_RETURN(cudnnCreateFilterDescriptor(&plan.wd));
  KILN_CUDNN_RETURN(cudnnCreateConvolutionDescriptor(&plan.cd));
  auto xs = p.nhwc ? channels_last_strides(p.x) : packed_strides(p.x);
  auto ys = p.nhwc ? channels_last_strides(p.y) : packed_strides(p.y);
  KILN_CUDNN_RETURN(cudnnSetTensorNdDescriptor(plan.xd, t, nd, p.x.data(), xs.data()));
  KILN_CUDNN_RETURN(cudnnSetTensorNdDescriptor(plan.yd, t, nd, p.y.data(), ys.data()));
  KILN_CUDNN_RETURN(cudnnSetFilterNdDescriptor(
      plan.wd, t, p.nhwc ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW, nd, p.w.data()));
  KILN_CUDNN_RETURN(cudnnSetConvolutionNdDescriptor(plan.cd, nd - 2, p.pad.data(), p.stride.data(),
                                                    p.dil.data(), CUDNN_CROSS_CORRELATION,
                                                    CUDNN_DATA_FLOAT));
  KILN_CUDNN_RETURN(cudnnSetConvolutionGroupCount(plan.cd, p.groups));
  cudnnMathType_t math = p.dt == DataType::kFloat32 ? (tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH)
                                                    : CUDNN_TENSOR_OP_MATH;
  KILN_CUDNN_RETURN(cudnnSetConvolutionMathType(plan.cd, math));
  if (p.has_bias) {
    KILN_CUDNN_RETURN(cudnnCreateTensorDescriptor(&plan.bd));
    std::vector<int> bdims(p.y.size(), 1);
    bdims[1] = p.y[1];
    auto bs = packed_strides(bdims);
    KILN_CUDNN_RETURN(cudnnSetTensorNdDescriptor(plan.bd, t, nd, bdims.data(), bs.data()));
  }
  return {};
}

Status heuristic_algo(cudnnHandle_t h, const ConvProblem& p, ConvPlan& plan, size_t max_ws) {
  int returned = 0;
  if (!p.transposed) {
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    KILN_CUDNN_RETURN(cudnnGetConvolutionForwardAlgorithm_v7(
        h, plan.xd, plan.wd, plan.cd, plan.yd, CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &returned, perf));
    for (int i = 0; i < returned; ++i) {
      if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= max_ws) {
        plan.algo = perf[i].algo;
        plan.workspace = perf[i].memory;
        return {};
      }
    }
  } else {
    cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    KILN_CUDNN_RETURN(cudnnGetConvolutionBackwardDataAlgorithm_v7(
        h, plan.wd, plan.xd, plan.cd, plan.yd, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &returned,
        perf));
    for (int i = 0; i < returned; ++i) {
      if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= max_ws) {
        plan.algo = perf[i].algo;
        plan.workspace = perf[i].memory;
        return {};
      }
    }
  }
  return make_error(StatusCode::kUnsupported, "backends.cuda.cudnn",
                    "no cuDNN algorithm fits the workspace for " + p.key());
}

Status workspace_for(cudnnHandle_t h, const ConvProblem& p, ConvPlan& plan) {
  if (!p.transposed) {
    KILN_CUDNN_RETURN(cudnnGetConvolutionForwardWorkspaceSize(
        h, plan.xd, plan.wd, plan.cd, plan.yd, static_cast<cudnnConvolutionFwdAlgo_t>(plan.algo),
        &plan.workspace));
  } else {
    KILN_CUDNN_RETURN(cudnnGetConvolutionBackwardDataWorkspaceSize(
        h, plan.wd, plan.xd, plan.cd, plan.yd,
        static_cast<cudnnConvolutionBwdDataAlgo_t>(plan.algo), &plan.workspace));
  }
  return {};
}

Status run_conv(cudnnHandle_t h, const ConvProblem& p, const ConvPlan& plan, const void* x,
                const void* w, const void* b, void* y, void* ws, size_t ws_bytes,
                cudaStream_t stream) {
  KILN_CUDNN_RETURN(cudnnSetStream(h, stream));
  float one = 1.0f, zero = 0.0f;
  if (!p.transposed) {
    KILN_CUDNN_RETURN(cudnnConvolutionForward(h, &one, plan.xd, x, plan.wd, w, plan.cd,
                                              static_cast<cudnnConvolutionFwdAlgo_t>(plan.algo), ws,
                                              ws_bytes, &zero, plan.yd, y));
  } else {
    KILN_CUDNN_RETURN(cudnnConvolutionBackwardData(
        h, &one, plan.wd, w, plan.xd, x, plan.cd,
        static_cast<cudnnConvolutionBwdDataAlgo_t>(plan.algo), ws, ws_bytes, &zero, plan.yd, y));
  }
  if (p.has_bias) KILN_CUDNN_RETURN(cudnnAddTensor(h, &one, plan.bd, b, &one, plan.yd, y));
  return {};
}

}  // namespace kiln::cuda
