// The float unary functions shared by the pointwise kernels and the epilogues of other kernels
// (depthwise convolution). Semantics match the CPU reference (src/backends/cpu).
#pragma once

#include "backends/cuda/kernels/device_utils.cuh"

namespace kiln::cuda {

__device__ __forceinline__ float softplus_f(float v, float beta, float threshold) {
  if (beta == 0) beta = 1;
  if (threshold == 0) threshold = 20;
  return v * beta > threshold ? v : log1pf(expf(beta * v)) / beta;
}

__device__ __forceinline__ float unary_f(UnaryOp op, float v, float alpha, float beta) {
  switch (op) {
    case UnaryOp::kIdentity:
      return v;
    case UnaryOp::kAbs:
      return fabsf(v);
    case UnaryOp::kNeg:
      return -v;
    case UnaryOp::kExp:
      return expf(v);
    case UnaryOp::kLog:
      return logf(v);
    case UnaryOp::kSqrt:
      return sqrtf(v);
    case UnaryOp::kRsqrt:
      return rsqrtf(v);
    case UnaryOp::kReciprocal:
      return 1.0f / v;
    case UnaryOp::kSin:
      return sinf(v);
    case UnaryOp::kCos:
      return cosf(v);
    case UnaryOp::kTan:
      return tanf(v);
    case UnaryOp::kTanh:
      return tanhf(v);
    case UnaryOp::kErf:
      return erff(v);
    case UnaryOp::kFloor:
      return floorf(v);
    case UnaryOp::kCeil:
      return ceilf(v);
    case UnaryOp::kRound:
      return rintf(v);
    case UnaryOp::kSign:
      return isnan(v) ? v : (float)((v > 0) - (v < 0));
    case UnaryOp::kNot:
      return v == 0;
    case UnaryOp::kRelu:
      return isnan(v) ? v : fmaxf(v, 0.0f);
    case UnaryOp::kLeakyRelu:
      return v > 0 ? v : v * alpha;
    case UnaryOp::kElu:
      return v > 0 ? v : alpha * expm1f(v);
    case UnaryOp::kSelu:
      return 1.0507009873554805f * (v > 0 ? v : 1.6732632423543772f * expm1f(v));
    case UnaryOp::kGelu:
      return 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
    case UnaryOp::kGeluTanh:
      return 0.5f * v * (1.0f + tanhf(0.79788456080286536f * (v + 0.044715f * v * v * v)));
    case UnaryOp::kSilu:
      return v / (1.0f + expf(-v));
    case UnaryOp::kSigmoid:
      return 1.0f / (1.0f + expf(-v));
    case UnaryOp::kHardSigmoid:
      return fminf(fmaxf(v + 3.0f, 0.0f), 6.0f) / 6.0f;
    case UnaryOp::kHardSwish:
      return v * fminf(fmaxf(v + 3.0f, 0.0f), 6.0f) / 6.0f;
    case UnaryOp::kSoftplus:
      return softplus_f(v, alpha, beta);
    case UnaryOp::kMish:
      return v * tanhf(softplus_f(v, 1.0f, 20.0f));
    case UnaryOp::kClamp:
      if (isnan(v)) return v;
      if (!isnan(alpha) && v < alpha) v = alpha;
      if (!isnan(beta) && v > beta) v = beta;
      return v;
    case UnaryOp::kLog1p:
      return log1pf(v);
    case UnaryOp::kExpm1:
      return expm1f(v);
    case UnaryOp::kAtan:
      return atanf(v);
    case UnaryOp::kAsin:
      return asinf(v);
    case UnaryOp::kAcos:
      return acosf(v);
    case UnaryOp::kSinh:
      return sinhf(v);
    case UnaryOp::kCosh:
      return coshf(v);
    case UnaryOp::kLog2:
      return log2f(v);
    case UnaryOp::kIsNan:
      return isnan(v) ? 1.0f : 0.0f;
  }
  return v;
}

}  // namespace kiln::cuda
