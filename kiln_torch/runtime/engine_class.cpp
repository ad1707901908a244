// TorchEngine: plan loading, input checking, output allocation, per-stream execution contexts.
#include "runtime/engine_class.h"

#include <ATen/ATen.h>

#ifdef KILN_WITH_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

#include <atomic>

#include "converters/dtype_map.h"

namespace kiln::bridge {
namespace {

std::atomic<FailureHandler> g_failure_handler{nullptr};
std::atomic<bool> g_cuda_graphs{true};

[[noreturn]] void fail(const std::string& engine, const Status& s) {
  std::string message = "[kiln] engine '" + engine + "': " + s.to_string();
  if (FailureHandler h = g_failure_handler.load()) h(message, s.code());
  TORCH_CHECK(false, message);
}

}  // namespace

void set_failure_handler(FailureHandler handler) { g_failure_handler.store(handler); }

void set_cuda_graphs_enabled(bool enabled) { g_cuda_graphs.store(enabled); }
bool cuda_graphs_enabled() { return g_cuda_graphs.load(); }

TorchEngine::TorchEngine(at::Tensor plan, std::vector<std::string> input_names,
                         std::vector<std::string> output_names, std::string name)
    : plan_(plan.to(at::kCPU).contiguous()),
      input_names_(std::move(input_names)),
      output_names_(std::move(output_names)),
      name_(std::move(name)) {
  TORCH_CHECK(plan_.scalar_type() == at::kByte && plan_.dim() == 1,
              "[kiln] a plan must be a 1-D uint8 tensor");
  auto e = Runtime::load(
      std::span<const uint8_t>(plan_.data_ptr<uint8_t>(), static_cast<size_t>(plan_.numel())));
  if (!e) fail(name_, e.status());
  engine_ = *e;
  cuda_ = engine_->backend() == "cuda";
  // I/O names must match the engine's; none given (a raw plan loaded from Python) takes the plan's.
  std::vector<std::string> ins, outs;
  for (int i = 0; i < engine_->num_io_tensors(); ++i) {
    const auto& io = engine_->io_tensor(i);
    (io.is_input ? ins : outs).push_back(io.name);
  }
  if (input_names_.empty() && output_names_.empty()) {
    input_names_ = ins;
    output_names_ = outs;
  }
  TORCH_CHECK(ins == input_names_ && outs == output_names_, "[kiln] engine '", name_,
              "': the pickled input/output names do not match the plan");
}

c10::intrusive_ptr<TorchEngine> TorchEngine::from_state(State state) {
  int64_t version = std::get<0>(state);
  if (version != kStateVersion) {
    fail(std::get<4>(state), Status(StatusCode::kVersionMismatch,
                                    "saved engine has state version " + std::to_string(version) +
                                        "; this build reads " + std::to_string(kStateVersion)));
  }
  return c10::make_intrusive<TorchEngine>(std::get<1>(state), std::get<2>(state),
                                          std::get<3>(state), std::get<4>(state));
}

ExecutionContext& TorchEngine::context_for(void* stream, int64_t slot) {
  auto key = std::make_pair(stream, slot);
  auto it = contexts_.find(key);
  if (it != contexts_.end()) return *it->second;
  auto ctx = engine_->create_context();
  if (!ctx) fail(name_, ctx.status());
  (*ctx)->set_profiling(profiling_);
  return *(contexts_[key] = std::move(*ctx));
}

void TorchEngine::set_profiling(bool enabled) {
  std::lock_guard<std::mutex> lock(mu_);
  profiling_ = enabled;
  for (auto& [key, ctx] : contexts_) ctx->set_profiling(enabled);
}

std::vector<LayerTiming> TorchEngine::last_timings() {
  std::lock_guard<std::mutex> lock(mu_);
  return last_context_ != nullptr ? last_context_->last_timings() : std::vector<LayerTiming>{};
}

std::vector<at::Tensor> TorchEngine::execute(const std::vector<at::Tensor>& inputs, int64_t slot) {
  TORCH_CHECK(inputs.size() == input_names_.size(), "[kiln] engine '", name_, "' takes ",
              input_names_.size(), " inputs, got ", inputs.size());
  at::Device want_device =
      cuda_ ? at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(0)) : at::Device(at::kCPU);
  std::vector<at::Tensor> ins;
  ins.reserve(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const IOTensorInfo& io = engine_->io_tensor(static_cast<int>(i));
    at::Tensor t = inputs[i];
    TORCH_CHECK(t.defined(), "[kiln] engine '", name_, "' input ", i, " ('", io.name,
                "') is undefined");
    at::ScalarType want = to_torch_dtype(io.dtype);
    if (t.scalar_type() != want) {
      fail(name_,
           Status(StatusCode::kTypeError, "input " + std::to_string(i) + " ('" + io.name +
                                              "') must be " + std::string(c10::toString(want)) +
                                              ", got " + c10::toString(t.scalar_type())));
    }
    if (cuda_) {
      TORCH_CHECK(t.is_cuda(), "[kiln] engine '", name_, "' runs on CUDA; input ", i, " ('",
                  io.name, "') is on ", t.device().str());
      want_device = t.device();
    } else {
      TORCH_CHECK(t.is_cpu(), "[kiln] engine '", name_, "' runs on the CPU; input ", i, " ('",
                  io.name, "') is on ", t.device().str());
    }
    ins.push_back(t.contiguous());
  }
  std::lock_guard<std::mutex> lock(mu_);
  void* stream = nullptr;
#ifdef KILN_WITH_CUDA
  std::optional<c10::cuda::CUDAGuard> guard;
  if (cuda_) {
    guard.emplace(want_device);
    stream = c10::cuda::getCurrentCUDAStream(want_device.index()).stream();
  }
#endif
  ExecutionContext& ctx = context_for(stream, slot);
  last_context_ = &ctx;
  for (size_t i = 0; i < ins.size(); ++i) {
    Dims d;
    for (int64_t s : ins[i].sizes()) d.push_back(s);
    Status s = ctx.set_input_shape(input_names_[i], d);
    if (!s.ok()) fail(name_, s);
    s = ctx.set_tensor_address(input_names_[i], ins[i].data_ptr());
    if (!s.ok()) fail(name_, s);
  }
  std::vector<at::Tensor> outs;
  for (size_t i = 0; i < output_names_.size(); ++i) {
    auto dims = ctx.tensor_shape(output_names_[i]);
    if (!dims) fail(name_, dims.status());
    const IOTensorInfo& io = engine_->io_tensor(static_cast<int>(ins.size() + i));
    at::Tensor o =
        at::empty(std::vector<int64_t>(dims->begin(), dims->end()),
                  at::TensorOptions().dtype(to_torch_dtype(io.dtype)).device(want_device));
    Status s = ctx.set_tensor_address(output_names_[i], o.data_ptr());
    if (!s.ok()) fail(name_, s);
    outs.push_back(o);
  }
  ctx.set_cuda_graphs(g_cuda_graphs.load());  // cheap; takes effect on this run
  Status s = cuda_ ? ctx.enqueue(stream) : ctx.execute();
  if (!s.ok()) fail(name_, s);
  // Data-dependent outputs (nonzero): the engine wrote the first rows of the upper-bound buffer and
  // says how many (reading that back waits for the stream).
  for (size_t i = 0; i < outs.size(); ++i) {
    if (!engine_->io_tensor(static_cast<int>(ins.size() + i)).data_dependent) continue;
    auto dims = ctx.output_shape(output_names_[i]);
    if (!dims) fail(name_, dims.status());
    outs[i] = outs[i].narrow(0, 0, (*dims)[0]);
  }
  return outs;
}

std::vector<std::vector<int64_t>> TorchEngine::output_shapes(
    const std::vector<std::vector<int64_t>>& input_shapes) {
  std::lock_guard<std::mutex> lock(mu_);
  auto ctx = engine_->create_context();
  if (!ctx) fail(name_, ctx.status());
  for (size_t i = 0; i < input_shapes.size() && i < input_names_.size(); ++i) {
    Status s =
        (*ctx)->set_input_shape(input_names_[i], Dims(std::span<const int64_t>(input_shapes[i])));
    if (!s.ok()) fail(name_, s);
  }
  std::vector<std::vector<int64_t>> out;
  for (size_t i = 0; i < output_names_.size(); ++i) {
    auto d = (*ctx)->tensor_shape(output_names_[i]);
    if (!d) fail(name_, d.status());
    out.push_back(d->to_vector());
    // A data-dependent leading extent is known only after a run: -1 (the fake kernel makes it an
    // unbacked size).
    if (engine_->io_tensor(static_cast<int>(input_names_.size() + i)).data_dependent)
      out.back()[0] = -1;
  }
  return out;
}

std::vector<int64_t> TorchEngine::output_dtypes() const {
  std::vector<int64_t> v;
  for (int i = 0; i < engine_->num_io_tensors(); ++i) {
    const auto& io = engine_->io_tensor(i);
    if (!io.is_input) v.push_back(static_cast<int64_t>(to_torch_dtype(io.dtype)));
  }
  return v;
}

std::vector<at::Tensor> execute_engine(std::vector<at::Tensor> inputs,
                                       c10::intrusive_ptr<TorchEngine> engine) {
  return engine->execute(inputs);
}

}  // namespace kiln::bridge
