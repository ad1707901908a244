// STUB: to be implemented.
#include "backends/cuda/cuda_kernels.h"

namespace kiln::cuda {

Status launch_transpose(const LaunchArgs& a) { return layer_error(a.layer, StatusCode::kUnsupported, "not implemented"); }
Status launch_concat(const LaunchArgs& a) { return layer_error(a.layer, StatusCode::kUnsupported, "not implemented"); }
Status launch_split(const LaunchArgs& a) { return layer_error(a.layer, StatusCode::kUnsupported, "not implemented"); }
Status launch_slice(const LaunchArgs& a) { return layer_error(a.layer, StatusCode::kUnsupported, "not implemented"); }
Status launch_expand(const LaunchArgs& a) { return layer_error(a.layer, StatusCode::kUnsupported, "not implemented"); }

}  // namespace kiln::cuda
