// Activations as chains of cuDNN pointwise steps (no cuDNN types: host tests check the mapping).
// cuDNN has no hardswish / hardsigmoid mode; they are composed from an add of a scalar, a ReLU
// clipped to [0, 6], a multiply by a scalar and (hardswish) a multiply by the value the
// activation started from, so the convolution's epilogue computes them instead of a separate pass
// over the output. Scalars are passed by value (no device memory).
#pragma once

#include <vector>

#include "kiln/layers.h"

namespace kiln::cuda {

enum class GraphActStep {
  kRelu,
  kSwish,  ///< silu (beta 1)
  kSigmoid,
  kTanh,
  kGelu,
  kGeluTanh,
  kAddScalar,  ///< v + value
  kMulScalar,  ///< v * value
  kRelu6,      ///< min(max(v, 0), 6): ReLU with an upper clip
  kMulStart,   ///< v * the value the activation chain started from
};

struct GraphActOp {
  GraphActStep step;
  float value = 0.0f;  ///< the scalar of kAddScalar / kMulScalar
};

/// The steps computing `op` in a cuDNN graph epilogue, in order; empty when the graph cannot.
std::vector<GraphActOp> graph_activation_steps(UnaryOp op);

}  // namespace kiln::cuda
