// STUB: to be implemented.
#include "backends/cuda/cuda_kernels.h"

namespace kiln::cuda {

Status launch_pooling(const LaunchArgs& a) { return layer_error(a.layer, StatusCode::kUnsupported, "not implemented"); }
Status launch_adaptive_pooling(const LaunchArgs& a) { return layer_error(a.layer, StatusCode::kUnsupported, "not implemented"); }

}  // namespace kiln::cuda
