// CPU backend: lowering (one group per layer), kernels over host memory, contexts.
#include "backends/cpu/cpu_backend.h"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <new>

#include "backends/cpu/cpu_kernels.h"

namespace kiln::cpu {
namespace {

using backend::Kernel;
using backend::RunContext;
using backend::TensorView;

// Calls a reference kernel, turning allocation failures and stray exceptions into statuses.
Status guarded_call(CpuKernelFn fn, const CpuArgs& args) {
  try {
    return fn(args);
  } catch (const std::bad_alloc&) {
    return cpu_error(args, StatusCode::kOutOfMemory, "host allocation failed");
  } catch (const std::exception& e) {
    return cpu_error(args, StatusCode::kInternal, e.what());
  }
}

class CpuKernel final : public Kernel {
 public:
  explicit CpuKernel(const ir::Layer& layer) : layer_(layer) {}

  Status run(const RunContext& ctx) const override {
    std::vector<TensorView> in(layer_.inputs.size()), out(layer_.outputs.size());
    for (size_t i = 0; i < in.size(); ++i)
      if (layer_.inputs[i] >= 0) in[i] = ctx.tensors[static_cast<size_t>(layer_.inputs[i])];
    for (size_t i = 0; i < out.size(); ++i)
      out[i] = ctx.tensors[static_cast<size_t>(layer_.outputs[i])];
    CpuArgs args{layer_, in, out};
    return guarded_call(cpu_kernel(layer_.op), args);
  }

  std::string describe() const override {
    return "cpu." + std::string(ir::op_name(layer_.op)) + "#0";
  }

 private:
  const ir::Layer& layer_;
};

class CpuContext final : public backend::BackendContext {
 public:
  Expected<void*> allocate(size_t bytes) override {
    size_t rounded = (bytes + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
    if (p == nullptr) {
      return make_error(StatusCode::kOutOfMemory, "backends.cpu",
                        "could not allocate " + std::to_string(bytes) + " bytes of host memory");
    }
    return p;
  }
  void release(void* ptr) override { std::free(ptr); }

  Status execute(std::span<const Kernel* const> kernels, const RunContext& ctx, uint64_t) override {
    for (const Kernel* k : kernels) KILN_RETURN_IF_ERROR(k->run(ctx));
    return {};
  }

  Status execute_profiled(std::span<const Kernel* const> kernels, const RunContext& ctx,
                          std::vector<double>& milliseconds) override {
    milliseconds.clear();
    for (const Kernel* k : kernels) {
      auto t0 = std::chrono::steady_clock::now();
      KILN_RETURN_IF_ERROR(k->run(ctx));
      milliseconds.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    return {};
  }

  Status synchronize(void*) override { return {}; }

  Status copy_to_host(void* dst, const void* src, size_t bytes, void*) override {
    std::memcpy(dst, src, bytes);
    return {};
  }
};

class CpuEngine final : public backend::BackendEngine {
 public:
  CpuEngine(const serial::PlanContents& plan) : graph_(plan.graph) {
    for (const auto& rec : plan.kernels)
      owned_.push_back(
          std::make_unique<CpuKernel>(graph_.layers[static_cast<size_t>(rec.layers[0])]));
    for (const auto& k : owned_) kernels_.push_back(k.get());
  }
  std::span<const Kernel* const> kernels() const override { return kernels_; }
  void* constant_data(int32_t tensor) const override {
    const ir::TensorDesc& t = graph_.tensors[static_cast<size_t>(tensor)];
    const ir::Layer& l = graph_.layers[static_cast<size_t>(t.producer)];
    return const_cast<uint8_t*>(graph_.constant_weight(l).bytes->data());
  }
  Expected<std::unique_ptr<backend::BackendContext>> create_context() const override {
    return std::unique_ptr<backend::BackendContext>(std::make_unique<CpuContext>());
  }

 private:
  const ir::Graph& graph_;
  std::vector<std::unique_ptr<CpuKernel>> owned_;
  std::vector<const Kernel*> kernels_;
};

// Kernels that compute in float32 whatever float type they get (BLAS sgemm, float coordinates):
// refused on float64 tensors rather than computed at lower precision.
bool computes_in_float32(ir::OpKind op) {
  switch (op) {
    case ir::OpKind::kConvolution:
    case ir::OpKind::kAttention:
    case ir::OpKind::kResize:
    case ir::OpKind::kGridSample:
    case ir::OpKind::kQuantize:
    case ir::OpKind::kDequantize:
      return true;
    default:
      return false;
  }
}

Status float64_support(const ir::Graph& g, const ir::Layer& l) {
  if (!computes_in_float32(l.op)) return {};
  for (const auto* list : {&l.inputs, &l.outputs})
    for (int32_t t : *list)
      if (t >= 0 && g.tensors[static_cast<size_t>(t)].type.dtype == DataType::kFloat64)
        return make_error(StatusCode::kUnsupported, "backends.cpu",
                          "layer '" + l.name + "' (" + std::string(ir::op_name(l.op)) +
                              "): float64 is not computed by this kernel (it works in float32)");
  return {};
}

class CpuBackend final : public backend::Backend {
 public:
  std::string_view name() const override { return "cpu"; }
  Status available() const override { return {}; }
  Status supports(const ir::Graph& g, int32_t layer) const override {
    return float64_support(g, g.layers[static_cast<size_t>(layer)]);
  }

  Expected<std::vector<backend::KernelRecord>> lower(
      const ir::Graph& g, const backend::BuildOptions& options) override {
    std::vector<backend::KernelRecord> records;
    for (int32_t l : options.device_layers) {
      backend::KernelRecord r;
      r.layers = {l};
      r.kernel = "cpu." + std::string(ir::op_name(g.layers[static_cast<size_t>(l)].op));
      records.push_back(std::move(r));
    }
    return records;
  }

  Expected<std::unique_ptr<backend::BackendEngine>> load(const serial::PlanContents& plan,
                                                         Logger&) override {
    for (size_t k = 0; k < plan.kernels.size(); ++k) {
      const auto& rec = plan.kernels[k];
      if (rec.layers.size() != 1 || rec.tactic != 0) {
        return make_error(StatusCode::kCorruptPlan, "backends.cpu",
                          "kernel " + std::to_string(k) + " is not a single-layer cpu kernel");
      }
      std::string want =
          "cpu." +
          std::string(ir::op_name(plan.graph.layers[static_cast<size_t>(rec.layers[0])].op));
      if (rec.kernel != want) {
        return make_error(
            StatusCode::kCorruptPlan, "backends.cpu",
            "kernel " + std::to_string(k) + " is '" + rec.kernel + "', expected '" + want + "'");
      }
    }
    return std::unique_ptr<backend::BackendEngine>(std::make_unique<CpuEngine>(plan));
  }
};

}  // namespace

std::unique_ptr<backend::Backend> make_cpu_backend() { return std::make_unique<CpuBackend>(); }

Expected<std::vector<HostTensor>> evaluate_layer(const ir::Layer& layer,
                                                 std::span<const HostTensor* const> inputs,
                                                 std::span<const TensorType> out_types) {
  std::vector<HostTensor> outs;
  for (const TensorType& t : out_types) outs.emplace_back(t);
  std::vector<TensorView> in(inputs.size()), out(outs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i] == nullptr) continue;
    in[i] = TensorView{const_cast<uint8_t*>(inputs[i]->bytes.data()), inputs[i]->type.dtype,
                       inputs[i]->type.dims};
  }
  for (size_t i = 0; i < outs.size(); ++i)
    out[i] = TensorView{outs[i].bytes.data(), outs[i].type.dtype, outs[i].type.dims};
  CpuArgs args{layer, in, out};
  KILN_RETURN_IF_ERROR(guarded_call(cpu_kernel(layer.op), args));
  return outs;
}

}  // namespace kiln::cpu
