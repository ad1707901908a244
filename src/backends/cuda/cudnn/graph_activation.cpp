// The activation -> cuDNN pointwise chain mapping (graph_activation.h). The float semantics follow
// unary_f (kernels/unary_ops.cuh): hardsigmoid(a) = min(max(a + 3, 0), 6) / 6 and hardswish(a) =
// a * hardsigmoid(a); multiplying by 1/6 instead of dividing by 6 differs by at most an ulp of
// float32, below every half-precision output's rounding.
#include "backends/cuda/cudnn/graph_activation.h"

namespace kiln::cuda {

std::vector<GraphActOp> graph_activation_steps(UnaryOp op) {
  switch (op) {
    case UnaryOp::kRelu:
      return {{GraphActStep::kRelu}};
    case UnaryOp::kSilu:
      return {{GraphActStep::kSwish}};
    case UnaryOp::kSigmoid:
      return {{GraphActStep::kSigmoid}};
    case UnaryOp::kTanh:
      return {{GraphActStep::kTanh}};
    case UnaryOp::kGelu:
      return {{GraphActStep::kGelu}};
    case UnaryOp::kGeluTanh:
      return {{GraphActStep::kGeluTanh}};
    case UnaryOp::kHardSigmoid:
      return {{GraphActStep::kAddScalar, 3.0f},
              {GraphActStep::kRelu6},
              {GraphActStep::kMulScalar, 1.0f / 6.0f}};
    case UnaryOp::kHardSwish:
      return {{GraphActStep::kAddScalar, 3.0f},
              {GraphActStep::kRelu6},
              {GraphActStep::kMulScalar, 1.0f / 6.0f},
              {GraphActStep::kMulStart}};
    default:
      return {};
  }
}

}  // namespace kiln::cuda
