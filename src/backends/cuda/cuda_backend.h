// The CUDA backend (registered in backends/backend_registry.cpp when built with CUDA).
#pragma once

#include <memory>

#include "backends/backend.h"

namespace kiln::cuda {

std::unique_ptr<backend::Backend> make_cuda_backend();

}  // namespace kiln::cuda
