// ExecutionContextImpl: per-stream shapes, bindings, activation memory; runs the kernels.
#include <chrono>

#include "ir/analysis.h"
#include "ir/shape_resolver.h"
#include "runtime/engine_impl.h"
#include "runtime/memory_plan.h"

namespace kiln {
namespace {

Status rt_error(StatusCode code, const std::string& msg) {
  return make_error(code, "runtime", msg);
}

}  // namespace

ExecutionContextImpl::ExecutionContextImpl(std::shared_ptr<const EngineImpl> engine,
                                           std::unique_ptr<backend::BackendContext> bctx)
    : engine_(std::move(engine)), bctx_(std::move(bctx)) {
  input_dims_.resize(static_cast<size_t>(engine_->num_inputs));
  for (int i = 0; i < engine_->num_inputs; ++i) {
    const Dims& d = engine_->io[static_cast<size_t>(i)].dims;
    if (d.is_static()) input_dims_[static_cast<size_t>(i)] = d;
  }
  bindings_.assign(engine_->io.size(), nullptr);
}

ExecutionContextImpl::~ExecutionContextImpl() {
  if (arena_) bctx_->release(arena_);
  if (workspace_) bctx_->release(workspace_);
}

Expected<int> ExecutionContextImpl::io_index(std::string_view name) const {
  for (size_t i = 0; i < engine_->io.size(); ++i)
    if (engine_->io[i].name == name) return static_cast<int>(i);
  std::string known;
  for (const auto& io : engine_->io) known += (known.empty() ? "" : ", ") + io.name;
  return rt_error(StatusCode::kNotFound,
                  "no input or output named '" + std::string(name) + "' (have: " + known + ")");
}

Status ExecutionContextImpl::set_optimization_profile(int profile) {
  int n = static_cast<int>(engine_->plan().profiles.size());
  if (profile < 0 || profile >= n)
    return rt_error(StatusCode::kInvalidArgument, "profile " + std::to_string(profile) +
                                                      " does not exist (engine has " +
                                                      std::to_string(n) + ")");
  if (profile != profile_) {
    profile_ = profile;
    shapes_dirty_ = true;
    for (int i = 0; i < engine_->num_inputs; ++i) {
      auto& d = input_dims_[static_cast<size_t>(i)];
      if (d && !check_in_profile(i, *d).ok()) d.reset();
    }
  }
  return {};
}

Status ExecutionContextImpl::check_in_profile(int input, const Dims& dims) const {
  const IOTensorInfo& info = engine_->io[static_cast<size_t>(input)];
  if (dims.rank() != info.dims.rank()) {
    return rt_error(StatusCode::kShapeError, "input '" + info.name + "' has rank " +
                                                 std::to_string(info.dims.rank()) + ", got dims " +
                                                 dims.to_string());
  }
  const auto& ranges = engine_->plan().profiles[static_cast<size_t>(profile_)].ranges;
  auto it = ranges.find(info.name);
  for (int d = 0; d < dims.rank(); ++d) {
    if (dims[d] < 0)
      return rt_error(StatusCode::kShapeError,
                      "input '" + info.name + "' dim " + std::to_string(d) + " is negative");
    if (info.dims[d] >= 0) {
      if (dims[d] != info.dims[d]) {
        return rt_error(StatusCode::kShapeError,
                        "input '" + info.name + "' of shape " + dims.to_string() + ": dim " +
                            std::to_string(d) + " = " + std::to_string(dims[d]) +
                            " but the engine was built for " + std::to_string(info.dims[d]) +
                            " (static)");
      }
      continue;
    }
    if (it == ranges.end())
      return rt_error(
          StatusCode::kShapeError,
          "input '" + info.name + "' has no range in profile " + std::to_string(profile_));
    int64_t lo = it->second.min[d], hi = it->second.max[d];
    if (dims[d] < lo || dims[d] > hi) {
      return rt_error(StatusCode::kShapeError,
                      "input '" + info.name + "' of shape " + dims.to_string() + ": dim " +
                          std::to_string(d) + " = " + std::to_string(dims[d]) +
                          " is outside optimization profile " + std::to_string(profile_) +
                          " range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
    }
  }
  return {};
}

Status ExecutionContextImpl::set_input_shape(std::string_view name, const Dims& dims) {
  KILN_ASSIGN_OR_RETURN(auto idx, io_index(name));
  if (idx >= engine_->num_inputs)
    return rt_error(StatusCode::kInvalidArgument,
                    "'" + std::string(name) + "' is an output, not an input");
  KILN_RETURN_IF_ERROR(check_in_profile(idx, dims));
  auto& cur = input_dims_[static_cast<size_t>(idx)];
  if (!cur || *cur != dims) {
    cur = dims;
    shapes_dirty_ = true;
  }
  return {};
}

Status ExecutionContextImpl::prepare_shapes() {
  if (!shapes_dirty_) return {};
  std::vector<Dims> dims;
  for (int i = 0; i < engine_->num_inputs; ++i) {
    const auto& d = input_dims_[static_cast<size_t>(i)];
    if (!d)
      return rt_error(StatusCode::kInvalidArgument, "shape of input '" +
                                                        engine_->io[static_cast<size_t>(i)].name +
                                                        "' is not set (call set_input_shape)");
    dims.push_back(*d);
  }
  KILN_ASSIGN_OR_RETURN(auto resolved, ir::resolve_shapes(engine_->graph(), dims, ""));
  types_ = std::move(resolved.types);
  values_ = std::move(resolved.values);

  // Plan activation memory for these shapes.
  const auto& g = engine_->graph();
  std::vector<runtime::BufferRequest> reqs;
  std::vector<int32_t> req_tensor;
  for (size_t t = 0; t < g.tensors.size(); ++t) {
    if (!engine_->is_arena[t]) continue;
    int64_t volume = types_[t].dims.volume();
    if (volume > kMaxTensorBytes / static_cast<int64_t>(dtype_size(types_[t].dtype))) {
      return rt_error(StatusCode::kOutOfMemory, "tensor '" + g.tensors[t].name + "' " +
                                                    types_[t].dims.to_string() +
                                                    " is larger than any memory (" +
                                                    std::to_string(kMaxTensorBytes) + " bytes)");
    }
    size_t bytes = static_cast<size_t>(volume) * dtype_size(types_[t].dtype);
    reqs.push_back({bytes, engine_->first_kernel[t],
                    std::max(engine_->last_kernel[t], engine_->first_kernel[t])});
    req_tensor.push_back(static_cast<int32_t>(t));
  }
  runtime::MemoryPlan mp = runtime::plan_memory(reqs);
  offsets_.assign(g.tensors.size(), 0);
  for (size_t i = 0; i < reqs.size(); ++i)
    offsets_[static_cast<size_t>(req_tensor[i])] = mp.offsets[i];
  need_arena_ = mp.arena_bytes;

  // Views with concrete types; data pointers are filled at enqueue.
  views_.assign(g.tensors.size(), {});
  for (size_t t = 0; t < g.tensors.size(); ++t) {
    views_[t].dtype = types_[t].dtype;
    views_[t].dims = types_[t].dims;
    views_[t].values = values_[t] ? values_[t]->data() : nullptr;
  }
  size_t ws = 0;
  for (const backend::Kernel* k : engine_->backend_engine().kernels())
    ws = std::max(ws, k->workspace_bytes(views_));
  uint64_t limit = engine_->plan().workspace_limit;
  if (limit > 0 && ws > limit) {
    return rt_error(StatusCode::kOutOfMemory, "kernels need " + std::to_string(ws) +
                                                  " bytes of workspace, over the limit of " +
                                                  std::to_string(limit));
  }
  need_workspace_ = ws;
  shapes_dirty_ = false;
  memory_dirty_ = true;
  ++shape_key_;
  return {};
}

Status ExecutionContextImpl::prepare() {
  KILN_RETURN_IF_ERROR(prepare_shapes());
  if (!memory_dirty_) return {};
  if (need_arena_ > arena_bytes_) {
    if (arena_) bctx_->release(arena_);
    arena_ = nullptr;
    arena_bytes_ = 0;
    KILN_ASSIGN_OR_RETURN(auto mem, bctx_->allocate(need_arena_));
    arena_ = mem;
    arena_bytes_ = need_arena_;
    ++shape_key_;
  }
  if (need_workspace_ > workspace_bytes_) {
    if (workspace_) bctx_->release(workspace_);
    workspace_ = nullptr;
    workspace_bytes_ = 0;
    KILN_ASSIGN_OR_RETURN(auto mem, bctx_->allocate(need_workspace_));
    workspace_ = mem;
    workspace_bytes_ = need_workspace_;
    ++shape_key_;
  }
  memory_dirty_ = false;
  return {};
}

Expected<Dims> ExecutionContextImpl::tensor_shape(std::string_view name) {
  KILN_ASSIGN_OR_RETURN(auto idx, io_index(name));
  if (idx < engine_->num_inputs && input_dims_[static_cast<size_t>(idx)])
    return *input_dims_[static_cast<size_t>(idx)];
  KILN_RETURN_IF_ERROR(prepare_shapes());
  return types_[static_cast<size_t>(engine_->io_tensor[static_cast<size_t>(idx)])].dims;
}

Expected<Dims> ExecutionContextImpl::output_shape(std::string_view name) {
  KILN_ASSIGN_OR_RETURN(auto idx, io_index(name));
  KILN_ASSIGN_OR_RETURN(auto dims, tensor_shape(name));
  int32_t rows = engine_->rows_tensor[static_cast<size_t>(idx)];
  if (rows < 0) return dims;
  const void* src = views_.empty() ? nullptr : views_[static_cast<size_t>(rows)].data;
  if (src == nullptr || dims.rank() < 1)
    return rt_error(StatusCode::kInvalidArgument,
                    "output '" + std::string(name) + "' has a data-dependent shape: run first");
  int64_t n = 0;
  KILN_RETURN_IF_ERROR(bctx_->copy_to_host(&n, src, sizeof(n), last_stream_));
  if (n < 0 || n > dims[0])
    return rt_error(StatusCode::kInternal, "output '" + std::string(name) + "' reports " +
                                               std::to_string(n) + " rows, over its bound " +
                                               std::to_string(dims[0]));
  dims[0] = n;
  return dims;
}

Status ExecutionContextImpl::set_tensor_address(std::string_view name, void* data) {
  KILN_ASSIGN_OR_RETURN(auto idx, io_index(name));
  bindings_[static_cast<size_t>(idx)] = data;
  return {};
}

Status ExecutionContextImpl::bind(std::string_view name, void* data, DataType dtype,
                                  const Dims& dims) {
  KILN_ASSIGN_OR_RETURN(auto idx, io_index(name));
  const IOTensorInfo& info = engine_->io[static_cast<size_t>(idx)];
  if (dtype != info.dtype) {
    return rt_error(StatusCode::kTypeError, std::string(info.is_input ? "input" : "output") + " '" +
                                                info.name + "' has dtype " +
                                                std::string(dtype_name(info.dtype)) + ", got " +
                                                std::string(dtype_name(dtype)));
  }
  if (info.is_input) {
    KILN_RETURN_IF_ERROR(set_input_shape(name, dims));
  } else {
    KILN_ASSIGN_OR_RETURN(auto want, tensor_shape(name));
    if (want != dims) {
      return rt_error(StatusCode::kShapeError,
                      "output '" + info.name + "' will have dims " + want.to_string() +
                          ", but the bound buffer has dims " + dims.to_string());
    }
  }
  return set_tensor_address(name, data);
}

Status ExecutionContextImpl::enqueue(void* stream) {
  KILN_RETURN_IF_ERROR(prepare());
  const auto& g = engine_->graph();
  // Bindings.
  for (size_t i = 0; i < engine_->io.size(); ++i) {
    auto t = static_cast<size_t>(engine_->io_tensor[i]);
    if (bindings_[i] == nullptr && views_[t].numel() > 0) {
      return rt_error(StatusCode::kInvalidArgument,
                      std::string(engine_->io[i].is_input ? "input" : "output") + " '" +
                          engine_->io[i].name + "' is not bound to memory");
    }
    views_[t].data = bindings_[i];
  }
  auto* arena = static_cast<uint8_t*>(arena_);
  for (size_t t = 0; t < g.tensors.size(); ++t) {
    const ir::TensorDesc& d = g.tensors[t];
    if (engine_->is_arena[t]) {
      views_[t].data = arena + offsets_[t];
    } else if (d.producer >= 0 &&
               g.layers[static_cast<size_t>(d.producer)].op == ir::OpKind::kConstant) {
      views_[t].data = engine_->backend_engine().constant_data(static_cast<int32_t>(t));
    }
  }
  // Views in layer order (a view of a view follows its input); offset-view slices point into their
  // input.
  for (size_t li = 0; li < g.layers.size(); ++li) {
    const ir::Layer& l = g.layers[li];
    if (!engine_->executed[li] || l.outputs.empty()) continue;
    auto out = static_cast<size_t>(l.outputs[0]);
    if (engine_->storage_root[out] == static_cast<int32_t>(out)) continue;
    const backend::TensorView& in = views_[static_cast<size_t>(l.inputs[0])];
    int64_t offset = l.op == ir::OpKind::kSlice ? ir::offset_view_bytes(l, in.dims, in.dtype) : 0;
    views_[out].data = in.data == nullptr ? nullptr : static_cast<uint8_t*>(in.data) + offset;
  }
  backend::RunContext ctx;
  ctx.tensors = views_;
  ctx.workspace = workspace_;
  ctx.workspace_bytes = workspace_bytes_;
  ctx.stream = stream;
  last_stream_ = stream;
  ctx.backend_state = bctx_->state();
  ctx.input_tensors =
      std::span<const int32_t>(engine_->io_tensor.data(), static_cast<size_t>(engine_->num_inputs));
  ctx.output_tensors = std::span<const int32_t>(
      engine_->io_tensor.data() + engine_->num_inputs,
      engine_->io_tensor.size() - static_cast<size_t>(engine_->num_inputs));
  ctx.storage_root = engine_->storage_root;
  ctx.input_written = engine_->input_written;
  auto kernels = engine_->backend_engine().kernels();
  if (!profiling_) return bctx_->execute(kernels, ctx, shape_key_);
  std::vector<double> ms;
  KILN_RETURN_IF_ERROR(bctx_->execute_profiled(kernels, ctx, ms));
  timings_.clear();
  for (size_t k = 0; k < kernels.size() && k < ms.size(); ++k) {
    std::string names;
    for (int32_t l : engine_->plan().kernels[k].layers)
      names += (names.empty() ? "" : "+") + g.layers[static_cast<size_t>(l)].name;
    timings_.push_back({names, kernels[k]->describe(), ms[k]});
  }
  return {};
}

// ---- public wrappers ----

ExecutionContext::ExecutionContext(std::unique_ptr<ExecutionContextImpl> impl)
    : impl_(std::move(impl)) {}
ExecutionContext::~ExecutionContext() = default;
Status ExecutionContext::set_optimization_profile(int profile) {
  return impl_->set_optimization_profile(profile);
}
int ExecutionContext::optimization_profile() const { return impl_->profile(); }
Status ExecutionContext::set_input_shape(std::string_view name, const Dims& dims) {
  return impl_->set_input_shape(name, dims);
}
Expected<Dims> ExecutionContext::tensor_shape(std::string_view name) {
  return impl_->tensor_shape(name);
}
Expected<Dims> ExecutionContext::output_shape(std::string_view name) {
  return impl_->output_shape(name);
}
Status ExecutionContext::set_tensor_address(std::string_view name, void* data) {
  return impl_->set_tensor_address(name, data);
}
Status ExecutionContext::bind(std::string_view name, void* data, DataType dtype, const Dims& dims) {
  return impl_->bind(name, data, dtype, dims);
}
Status ExecutionContext::enqueue(void* stream) { return impl_->enqueue(stream); }
Status ExecutionContext::execute() {
  KILN_RETURN_IF_ERROR(impl_->enqueue(nullptr));
  return impl_->synchronize(nullptr);
}
void ExecutionContext::set_profiling(bool enabled) { impl_->set_profiling(enabled); }
void ExecutionContext::set_cuda_graphs(bool enabled) { impl_->set_cuda_graphs(enabled); }
std::vector<LayerTiming> ExecutionContext::last_timings() const { return impl_->last_timings(); }
uint64_t ExecutionContext::activation_bytes() const { return impl_->activation_bytes(); }

}  // namespace kiln
