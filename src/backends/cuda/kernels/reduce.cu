// STUB: to be implemented.
#include "backends/cuda/cuda_kernels.h"

namespace kiln::cuda {

Status launch_reduce(const LaunchArgs& a) { return layer_error(a.layer, StatusCode::kUnsupported, "not implemented"); }
Status launch_cumsum(const LaunchArgs& a) { return layer_error(a.layer, StatusCode::kUnsupported, "not implemented"); }
Status launch_topk(const LaunchArgs& a) { return layer_error(a.layer, StatusCode::kUnsupported, "not implemented"); }
size_t workspace_topk(const ir::Layer&, std::span<const TensorView>, std::span<const TensorView>) { return 0; }

}  // namespace kiln::cuda
