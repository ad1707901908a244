// EngineImpl: plan verification against the backend and the static execution layout.
#include "runtime/engine_impl.h"

#include <set>

#include "ir/analysis.h"
#include "ir/verifier.h"

namespace kiln {
namespace {

Status load_error(StatusCode code, const std::string& msg) {
  return make_error(code, "runtime.load", msg);
}

}  // namespace

Expected<std::shared_ptr<EngineImpl>> EngineImpl::create(serial::PlanContents plan,
                                                         Logger& logger) {
  std::shared_ptr<EngineImpl> e(new EngineImpl());
  e->plan_ = std::move(plan);
  e->logger_ = &logger;
  Status v = ir::verify_graph(e->plan_.graph);
  if (!v.ok()) return load_error(StatusCode::kCorruptPlan, "plan graph is invalid: " + v.message());
  backend::Backend* be = backend::find_backend(e->plan_.backend);
  if (be == nullptr) {
    return load_error(StatusCode::kUnsupported, "plan was built for backend '" + e->plan_.backend +
                                                    "' which this build does not include");
  }
  Status avail = be->available();
  if (!avail.ok())
    return load_error(StatusCode::kUnsupported,
                      "backend '" + e->plan_.backend + "' is not usable here: " + avail.message());
  KILN_RETURN_IF_ERROR(e->build_layout());
  KILN_ASSIGN_OR_RETURN(auto loaded, be->load(e->plan_, logger));
  e->backend_ = std::move(loaded);
  return e;
}

Status EngineImpl::build_layout() {
  const ir::Graph& g = plan_.graph;
  executed = ir::device_layers(g);
  // Kernel records must cover exactly the executed layers, each once; kernels run in record order,
  // so every layer's data inputs must come from an earlier record or earlier in its own record.
  std::vector<int32_t> kernel_of(g.layers.size(), -1);
  std::vector<int32_t> pos_in_kernel(g.layers.size(), -1);
  for (size_t k = 0; k < plan_.kernels.size(); ++k) {
    const auto& rec = plan_.kernels[k];
    if (rec.layers.empty())
      return load_error(StatusCode::kCorruptPlan, "kernel " + std::to_string(k) + " has no layers");
    for (size_t j = 0; j < rec.layers.size(); ++j) {
      int32_t l = rec.layers[j];
      if (l < 0 || static_cast<size_t>(l) >= g.layers.size())
        return load_error(
            StatusCode::kCorruptPlan,
            "kernel " + std::to_string(k) + " refers to missing layer " + std::to_string(l));
      if (!executed[static_cast<size_t>(l)])
        return load_error(StatusCode::kCorruptPlan,
                          "kernel " + std::to_string(k) + " runs layer '" +
                              g.layers[static_cast<size_t>(l)].name + "' which is not executed");
      if (kernel_of[static_cast<size_t>(l)] >= 0)
        return load_error(
            StatusCode::kCorruptPlan,
            "layer '" + g.layers[static_cast<size_t>(l)].name + "' is run by two kernels");
      kernel_of[static_cast<size_t>(l)] = static_cast<int32_t>(k);
      pos_in_kernel[static_cast<size_t>(l)] = static_cast<int32_t>(j);
    }
  }
  // An aliased view (storage_roots) holds its input's bytes: a reader depends on the kernel that
  // writes those (the view's own kernel does nothing and may run later, e.g. a residual reshaped
  // for a fused GEMM epilogue). Such a view needs no kernel at all (the context points it at its
  // input's memory); every other executed layer needs one.
  storage_root = ir::storage_roots(g, executed);
  for (size_t l = 0; l < g.layers.size(); ++l) {
    if (executed[l] && kernel_of[l] < 0 &&
        !ir::is_aliasing_view(g, storage_root, static_cast<int32_t>(l)))
      return load_error(StatusCode::kCorruptPlan, "layer '" + g.layers[l].name + "' has no kernel");
  }
  for (size_t l = 0; l < g.layers.size(); ++l) {
    if (!executed[l] || kernel_of[l] < 0) continue;
    const ir::Layer& layer = g.layers[l];
    for (size_t i = 0; i < layer.inputs.size(); ++i) {
      int32_t t = layer.inputs[i];
      if (t < 0 || ir::is_shape_operand(layer.op, static_cast<int>(i))) continue;
      // (An in-place layer, kv_cache_write, is a writer itself: its readers wait for it.)
      while (storage_root[static_cast<size_t>(t)] != t) {
        const ir::Layer& view =
            g.layers[static_cast<size_t>(g.tensors[static_cast<size_t>(t)].producer)];
        if (ir::has_flag(view.op, ir::kFlagInPlace)) break;
        t = view.inputs[0];
      }
      int32_t p = g.tensors[static_cast<size_t>(t)].producer;
      if (p < 0 || !executed[static_cast<size_t>(p)]) continue;
      bool ok = kernel_of[static_cast<size_t>(p)] < kernel_of[l] ||
                (kernel_of[static_cast<size_t>(p)] == kernel_of[l] &&
                 pos_in_kernel[static_cast<size_t>(p)] < pos_in_kernel[l]);
      if (!ok) {
        return load_error(StatusCode::kCorruptPlan,
                          "layer '" + layer.name + "' reads '" +
                              g.tensors[static_cast<size_t>(t)].name +
                              "' before the kernel that produces it runs");
      }
    }
  }

  size_t nt = g.tensors.size();
  first_kernel.assign(nt, -1);
  last_kernel.assign(nt, -1);
  is_arena.assign(nt, false);
  for (size_t l = 0; l < g.layers.size(); ++l) {
    if (!executed[l] || kernel_of[l] < 0) continue;  // a kernel-less view touches no memory
    int32_t k = kernel_of[l];
    for (int32_t o : g.layers[l].outputs) {
      auto root = static_cast<size_t>(storage_root[static_cast<size_t>(o)]);
      if (first_kernel[root] < 0) first_kernel[root] = k;
      last_kernel[root] = std::max(last_kernel[root], k);
    }
    for (int32_t i : g.layers[l].inputs) {
      if (i < 0) continue;
      auto root = static_cast<size_t>(storage_root[static_cast<size_t>(i)]);
      last_kernel[root] = std::max(last_kernel[root], k);
    }
  }
  // A data-dependent output's row count is read after the run: it lives to the last kernel.
  auto rows_of = [&](int32_t out) -> int32_t {
    int32_t p = g.tensors[static_cast<size_t>(out)].producer;
    if (p < 0 || g.layers[static_cast<size_t>(p)].op != ir::OpKind::kNonZero) return -1;
    const ir::Layer& l = g.layers[static_cast<size_t>(p)];
    return l.outputs[0] == out ? l.outputs[1] : -1;
  };
  const auto last = static_cast<int32_t>(plan_.kernels.size()) - 1;
  for (int32_t t : g.outputs)
    if (int32_t c = rows_of(t); c >= 0)
      last_kernel[static_cast<size_t>(storage_root[static_cast<size_t>(c)])] = last;
  for (size_t t = 0; t < nt; ++t) {
    const ir::TensorDesc& d = g.tensors[t];
    if (storage_root[t] != static_cast<int32_t>(t) || d.is_input || d.is_output || d.producer < 0)
      continue;
    if (!executed[static_cast<size_t>(d.producer)]) continue;
    is_arena[t] = true;
  }

  num_inputs = static_cast<int>(g.inputs.size());
  input_written.assign(g.inputs.size(), 0);
  for (size_t l = 0; l < g.layers.size(); ++l) {
    const ir::Layer& layer = g.layers[l];
    if (!executed[l] || !ir::has_flag(layer.op, ir::kFlagInPlace)) continue;
    for (size_t i = 0; i < g.inputs.size(); ++i)
      if (g.inputs[i] == layer.inputs[0]) input_written[i] = 1;
  }
  for (int32_t t : g.inputs) {
    io.push_back({g.tensors[static_cast<size_t>(t)].name,
                  g.tensors[static_cast<size_t>(t)].type.dtype,
                  g.tensors[static_cast<size_t>(t)].type.dims, true});
    io_tensor.push_back(t);
    rows_tensor.push_back(-1);
  }
  for (int32_t t : g.outputs) {
    int32_t rows = rows_of(t);
    io.push_back({g.tensors[static_cast<size_t>(t)].name,
                  g.tensors[static_cast<size_t>(t)].type.dtype,
                  g.tensors[static_cast<size_t>(t)].type.dims, false, rows >= 0});
    io_tensor.push_back(t);
    rows_tensor.push_back(rows);
  }
  // Profiles must name real inputs.
  std::set<std::string> input_names;
  for (int i = 0; i < num_inputs; ++i) input_names.insert(io[static_cast<size_t>(i)].name);
  if (plan_.profiles.empty())
    return load_error(StatusCode::kCorruptPlan, "plan has no optimization profile");
  for (const auto& p : plan_.profiles) {
    for (const auto& [name, r] : p.ranges) {
      if (!input_names.count(name))
        return load_error(StatusCode::kCorruptPlan, "profile names unknown input '" + name + "'");
    }
  }
  return {};
}

}  // namespace kiln
