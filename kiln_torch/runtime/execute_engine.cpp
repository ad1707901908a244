// Registration of torch.classes.kiln.Engine and the kiln::execute_engine op.
#include <torch/library.h>

#include "runtime/engine_class.h"

namespace kiln::bridge {
namespace {

// Columns (TorchBind returns tuples of lists): kernel per group; per layer its group index, name,
// op, set precision ("" = as inputs) and output dtype.
using GroupColumns =
    std::tuple<std::vector<std::string>, std::vector<int64_t>, std::vector<std::string>,
               std::vector<std::string>, std::vector<std::string>, std::vector<std::string>>;

GroupColumns kernel_group_columns(const c10::intrusive_ptr<TorchEngine>& self) {
  GroupColumns c;
  auto groups = self->kernel_groups();
  for (size_t k = 0; k < groups.size(); ++k) {
    std::get<0>(c).push_back(groups[k].kernel);
    for (const auto& l : groups[k].layers) {
      std::get<1>(c).push_back(static_cast<int64_t>(k));
      std::get<2>(c).push_back(l.name);
      std::get<3>(c).push_back(l.op);
      std::get<4>(c).push_back(l.precision);
      std::get<5>(c).push_back(l.dtype);
    }
  }
  return c;
}

// (layer names joined with '+', kernel and tactic, milliseconds) per kernel of the last profiled
// run.
std::tuple<std::vector<std::string>, std::vector<std::string>, std::vector<double>> timing_columns(
    const c10::intrusive_ptr<TorchEngine>& self) {
  std::tuple<std::vector<std::string>, std::vector<std::string>, std::vector<double>> c;
  for (const auto& t : self->last_timings()) {
    std::get<0>(c).push_back(t.name);
    std::get<1>(c).push_back(t.kernel);
    std::get<2>(c).push_back(t.milliseconds);
  }
  return c;
}

TORCH_LIBRARY(kiln, m) {
  m.class_<TorchEngine>("Engine")
      .def(torch::init<at::Tensor, std::vector<std::string>, std::vector<std::string>,
                       std::string>())
      .def("describe", &TorchEngine::describe)
      .def("build_settings", &TorchEngine::build_settings)
      .def("precision_report", &TorchEngine::precision_report)
      .def("input_names",
           [](const c10::intrusive_ptr<TorchEngine>& self) { return self->input_names(); })
      .def("output_names",
           [](const c10::intrusive_ptr<TorchEngine>& self) { return self->output_names(); })
      .def("name", [](const c10::intrusive_ptr<TorchEngine>& self) { return self->name(); })
      .def("backend", &TorchEngine::backend)
      .def("plan", &TorchEngine::plan)
      .def("execute_in",
           [](const c10::intrusive_ptr<TorchEngine>& self, std::vector<at::Tensor> inputs,
              int64_t slot) { return self->execute(inputs, slot); })
      .def("output_dtypes", &TorchEngine::output_dtypes)
      .def("output_shapes", &TorchEngine::output_shapes)
      .def("kernel_groups",
           [](const c10::intrusive_ptr<TorchEngine>& self) { return kernel_group_columns(self); })
      .def("set_profiling", &TorchEngine::set_profiling)
      .def("last_timings",
           [](const c10::intrusive_ptr<TorchEngine>& self) { return timing_columns(self); })
      .def_pickle(
          [](const c10::intrusive_ptr<TorchEngine>& self) { return self->get_state(); },
          [](TorchEngine::State state) { return TorchEngine::from_state(std::move(state)); });
  m.def("execute_engine(Tensor[] inputs, __torch__.torch.classes.kiln.Engine engine) -> Tensor[]");
  // No tensor arguments: catch-all kernels (callable from Python, TorchScript and C++ deployments).
  m.def("set_cuda_graphs(bool enabled) -> ()",
        [](bool enabled) { set_cuda_graphs_enabled(enabled); });
  m.def("cuda_graphs_enabled() -> bool", [] { return cuda_graphs_enabled(); });
}

// CompositeExplicitAutograd rather than a catch-all kernel: a catch-all counts as
// CompositeImplicitAutograd, which would run the real engine on fake tensors during torch.export
// and forbid the fake kernel registered from Python (python/kiln/_fake.py).
TORCH_LIBRARY_IMPL(kiln, CompositeExplicitAutograd, m) { m.impl("execute_engine", execute_engine); }

}  // namespace
}  // namespace kiln::bridge
