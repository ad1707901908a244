// The one list of backends compiled into this build.
#include <memory>

#include "backends/backend.h"
#include "backends/cpu/cpu_backend.h"
#ifdef KILN_WITH_CUDA
#include "backends/cuda/cuda_backend.h"
#endif

namespace kiln::backend {
namespace {

std::vector<std::unique_ptr<Backend>> register_backends() {
  std::vector<std::unique_ptr<Backend>> list;
  list.push_back(cpu::make_cpu_backend());
#ifdef KILN_WITH_CUDA
  list.push_back(cuda::make_cuda_backend());
#endif
  return list;
}

const std::vector<std::unique_ptr<Backend>>& registry() {
  static const std::vector<std::unique_ptr<Backend>> backends = register_backends();
  return backends;
}

}  // namespace

Backend* find_backend(std::string_view name) {
  for (const auto& b : registry())
    if (b->name() == name) return b.get();
  return nullptr;
}

std::vector<Backend*> all_backends() {
  std::vector<Backend*> v;
  for (const auto& b : registry()) v.push_back(b.get());
  return v;
}

}  // namespace kiln::backend
