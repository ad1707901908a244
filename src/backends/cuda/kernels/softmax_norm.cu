// STUB: to be implemented.
#include "backends/cuda/cuda_kernels.h"

namespace kiln::cuda {

Status launch_softmax(const LaunchArgs& a) { return layer_error(a.layer, StatusCode::kUnsupported, "not implemented"); }
Status launch_layer_norm(const LaunchArgs& a) { return layer_error(a.layer, StatusCode::kUnsupported, "not implemented"); }
Status launch_group_norm(const LaunchArgs& a) { return layer_error(a.layer, StatusCode::kUnsupported, "not implemented"); }
Status launch_batch_norm(const LaunchArgs& a) { return layer_error(a.layer, StatusCode::kUnsupported, "not implemented"); }
Status launch_rms_norm(const LaunchArgs& a) { return layer_error(a.layer, StatusCode::kUnsupported, "not implemented"); }

}  // namespace kiln::cuda
