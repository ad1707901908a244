// kernel_groups: the plan's kernel records with the backend's kernel descriptions and layer names.
#include "kiln/engine_layers.h"

#include "runtime/engine_impl.h"

namespace kiln {

std::vector<KernelGroupInfo> kernel_groups(const Engine& engine) {
  const auto& plan = engine.impl().plan();
  const auto& g = plan.graph;
  auto kernels = engine.impl().backend_engine().kernels();
  std::vector<KernelGroupInfo> out;
  out.reserve(plan.kernels.size());
  for (size_t k = 0; k < plan.kernels.size(); ++k) {
    KernelGroupInfo group;
    group.kernel = k < kernels.size() ? kernels[k]->describe() : plan.kernels[k].kernel;
    for (int32_t l : plan.kernels[k].layers) {
      const auto& layer = g.layers[static_cast<size_t>(l)];
      LayerInfo info{layer.name, std::string(ir::op_name(layer.op)), "", ""};
      if (layer.precision) info.precision = dtype_name(*layer.precision);
      if (!layer.outputs.empty() && layer.outputs[0] >= 0)
        info.dtype = dtype_name(g.tensors[static_cast<size_t>(layer.outputs[0])].type.dtype);
      group.layers.push_back(std::move(info));
    }
    out.push_back(std::move(group));
  }
  return out;
}

}  // namespace kiln
