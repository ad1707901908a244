// Registration of torch.classes.kiln.Engine and the kiln::execute_engine op.
#include <torch/library.h>

#include "runtime/engine_class.h"

namespace kiln::bridge {
namespace {

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
      .def("output_dtypes", &TorchEngine::output_dtypes)
      .def("output_shapes", &TorchEngine::output_shapes)
      .def_pickle(
          [](const c10::intrusive_ptr<TorchEngine>& self) { return self->get_state(); },
          [](TorchEngine::State state) { return TorchEngine::from_state(std::move(state)); });
  m.def("execute_engine(Tensor[] inputs, __torch__.torch.classes.kiln.Engine engine) -> Tensor[]");
}

// CompositeExplicitAutograd rather than a catch-all kernel: a catch-all counts as
// CompositeImplicitAutograd, which would run the real engine on fake tensors during torch.export
// and forbid the fake kernel registered from Python (python/kiln/_fake.py).
TORCH_LIBRARY_IMPL(kiln, CompositeExplicitAutograd, m) { m.impl("execute_engine", execute_engine); }

}  // namespace
}  // namespace kiln::bridge
