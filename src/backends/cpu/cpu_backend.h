// The CPU reference backend: one kernel per layer, host memory, synchronous execution.
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "backends/backend.h"
#include "common/host_tensor.h"

namespace kiln::cpu {

std::unique_ptr<backend::Backend> make_cpu_backend();

/// Evaluates one layer on host tensors with the reference kernels (constant folding, checks).
/// `inputs[i]` is nullptr for an omitted optional input; `out_types` are the concrete output types.
Expected<std::vector<HostTensor>> evaluate_layer(const ir::Layer& layer,
                                                 std::span<const HostTensor* const> inputs,
                                                 std::span<const TensorType> out_types);

}  // namespace kiln::cpu
