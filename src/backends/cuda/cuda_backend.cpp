// CUDA backend: device discovery, lowering with tactic selection, engine (weights uploaded once),
// contexts (handles, memory, CUDA graph capture/replay with staged I/O).
#include "backends/cuda/cuda_backend.h"

#include <cublasLt.h>
#include <cudnn.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "backends/cuda/cuda_common.h"
#include "backends/cuda/cuda_kernels.h"
#include "backends/cuda/fusion.h"
#include "backends/cuda/nvtx_range.h"
#include "backends/cuda/tactics.h"
#include "builder/timing_cache.h"
#include "ir/analysis.h"
#include "kiln/builder.h"

namespace kiln::cuda {
namespace {

using backend::Kernel;
using backend::RunContext;

Status cuda_error(StatusCode code, const std::string& msg) {
  return make_error(code, "backends.cuda", msg);
}

// ---- per-layer kernel (untuned ops) ----

class LayerKernel final : public Kernel {
 public:
  explicit LayerKernel(const ir::Layer& layer) : layer_(layer), entry_(cuda_op(layer.op)) {}

  Status run(const RunContext& ctx) const override {
    LayerViews v = layer_views(layer_, ctx.tensors);
    LaunchArgs args{layer_,
                    v.in,
                    v.out,
                    ctx.workspace,
                    ctx.workspace_bytes,
                    static_cast<cudaStream_t>(ctx.stream),
                    *static_cast<CudaState*>(ctx.backend_state)};
    return entry_.launch(args);
  }

  size_t workspace_bytes(std::span<const TensorView> tensors) const override {
    if (entry_.workspace == nullptr) return 0;
    LayerViews v = layer_views(layer_, tensors);
    return entry_.workspace(layer_, v.in, v.out);
  }

  std::string describe() const override {
    return "cuda." + std::string(ir::op_name(layer_.op)) + "#0";
  }

 private:
  const ir::Layer& layer_;
  const CudaOpEntry& entry_;
};

// ---- context ----

class CudaContext final : public backend::BackendContext {
 public:
  /// `labels`: the engine's NVTX range name per kernel (outlives the context).
  CudaContext(int device, const std::unordered_map<const Kernel*, std::string>* labels)
      : labels_(labels) {
    static std::atomic<uint64_t> next_id{1};
    state_.device = device;
    state_.id = next_id.fetch_add(1);
  }
  ~CudaContext() override {
    cudaSetDevice(state_.device);
    clear_graphs();
    if (state_.lt) cublasLtDestroy(state_.lt);
    if (state_.dnn) cudnnDestroy(state_.dnn);
    if (own_stream_) cudaStreamDestroy(own_stream_);
  }

  Status init(bool allow_tf32) {
    KILN_CUDA_RETURN(cudaSetDevice(state_.device));
    // A blocking stream: used when the caller passes no stream (PyTorch's default is the legacy
    // stream), it orders implicitly with the legacy default stream, and unlike it can be captured
    // into graphs.
    KILN_CUDA_RETURN(cudaStreamCreate(&own_stream_));
    KILN_CUBLAS_RETURN(cublasLtCreate(&state_.lt));
    KILN_CUDNN_RETURN(cudnnCreate(&state_.dnn));
    KILN_CUDA_RETURN(
        cudaDeviceGetAttribute(&state_.num_sms, cudaDevAttrMultiProcessorCount, state_.device));
    state_.allow_tf32 = allow_tf32;
    return {};
  }

  Expected<void*> allocate(size_t bytes) override {
    KILN_CUDA_RETURN(cudaSetDevice(state_.device));
    void* p = nullptr;
    cudaError_t e = cudaMalloc(&p, bytes == 0 ? 256 : bytes);
    if (e != cudaSuccess) {
      Status s = cuda_status(e, "cudaMalloc", __FILE__, __LINE__);
      return make_error(s.code(), "backends.cuda",
                        "allocating " + std::to_string(bytes) + " bytes failed: " + s.message());
    }
    return p;
  }

  void release(void* ptr) override {
    // Captured graphs may reference this memory.
    clear_graphs();
    cudaSetDevice(state_.device);
    cudaFree(ptr);
  }

  Status execute(std::span<const Kernel* const> kernels, const RunContext& ctx,
                 uint64_t shape_key) override {
    KILN_CUDA_RETURN(cudaSetDevice(state_.device));
    cudaStream_t stream = ctx.stream ? static_cast<cudaStream_t>(ctx.stream) : own_stream_;
    RunContext c = ctx;
    c.stream = stream;
    c.backend_state = &state_;
    NvtxRange range("kiln.execute");
    if (!graphs_enabled_) return run_all(kernels, c);
    Graph* g = find_graph(shape_key);
    if (g == nullptr && warmed_.insert(shape_key).second) {
      // The first run of a shape runs eagerly: kernels create their per-shape plans (cuDNN graphs
      // may compile kernels and allocate) outside stream capture. The next run captures.
      return run_all(kernels, c);
    }
    if (g != nullptr && !fixed_inputs_match(*g, c)) {  // a cache written in place has moved
      drop_graph(shape_key);
      g = nullptr;
    }
    if (g == nullptr) {
      KILN_ASSIGN_OR_RETURN(auto made, capture(kernels, c, shape_key));
      g = made;
    }
    // Stage inputs in, replay, stage outputs out.
    for (size_t i = 0; i < ctx.input_tensors.size(); ++i) {
      const TensorView& v = ctx.tensors[static_cast<size_t>(ctx.input_tensors[i])];
      if (v.bytes() == 0 || g->staging_in[i] == nullptr) continue;
      KILN_CUDA_RETURN(
          cudaMemcpyAsync(g->staging_in[i], v.data, v.bytes(), cudaMemcpyDeviceToDevice, stream));
    }
    KILN_CUDA_RETURN(cudaGraphLaunch(g->exec, stream));
    for (size_t i = 0; i < ctx.output_tensors.size(); ++i) {
      const TensorView& v = ctx.tensors[static_cast<size_t>(ctx.output_tensors[i])];
      if (v.bytes() == 0) continue;
      KILN_CUDA_RETURN(
          cudaMemcpyAsync(v.data, g->staging_out[i], v.bytes(), cudaMemcpyDeviceToDevice, stream));
    }
    return {};
  }

  Status execute_profiled(std::span<const Kernel* const> kernels, const RunContext& ctx,
                          std::vector<double>& milliseconds) override {
    KILN_CUDA_RETURN(cudaSetDevice(state_.device));
    cudaStream_t stream = ctx.stream ? static_cast<cudaStream_t>(ctx.stream) : own_stream_;
    RunContext c = ctx;
    c.stream = stream;
    c.backend_state = &state_;
    milliseconds.clear();
    for (const Kernel* k : kernels) {
      NvtxRange range(label(k));
      KILN_ASSIGN_OR_RETURN(auto t, time_on_stream(stream, 1, [&] { return k->run(c); }));
      milliseconds.push_back(t);
    }
    return {};
  }

  Status synchronize(void* stream) override {
    KILN_CUDA_RETURN(
        cudaStreamSynchronize(stream ? static_cast<cudaStream_t>(stream) : own_stream_));
    return {};
  }

  Status copy_to_host(void* dst, const void* src, size_t bytes, void* stream) override {
    cudaStream_t s = stream ? static_cast<cudaStream_t>(stream) : own_stream_;
    KILN_CUDA_RETURN(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, s));
    KILN_CUDA_RETURN(cudaStreamSynchronize(s));
    return {};
  }

  void* state() override { return &state_; }
  void set_graphs_enabled(bool enabled) override { graphs_enabled_ = enabled; }

 private:
  struct Graph {
    uint64_t key = 0;
    cudaGraphExec_t exec = nullptr;
    std::vector<void*> staging_in, staging_out;  ///< nullptr for an input written in place
    std::vector<void*> fixed_in;  ///< per input: the address captured (inputs written in place)
    std::vector<void*> owned;
  };

  /// Whether `g` was captured with the in-place inputs at the addresses they have now.
  static bool fixed_inputs_match(const Graph& g, const RunContext& c) {
    for (size_t i = 0; i < g.fixed_in.size(); ++i) {
      if (g.fixed_in[i] == nullptr) continue;
      if (c.tensors[static_cast<size_t>(c.input_tensors[i])].data != g.fixed_in[i]) return false;
    }
    return true;
  }

  void drop_graph(uint64_t key) {
    for (auto it = graphs_.begin(); it != graphs_.end(); ++it) {
      if (it->key != key) continue;
      destroy(*it);
      graphs_.erase(it);
      return;
    }
  }

  Graph* find_graph(uint64_t key) {
    for (auto& g : graphs_)
      if (g.key == key) return &g;
    return nullptr;
  }

  void destroy(Graph& g) {
    if (g.exec) cudaGraphExecDestroy(g.exec);
    for (void* p : g.owned) cudaFree(p);
    g = Graph{};
  }

  void clear_graphs() {
    for (auto& g : graphs_) destroy(g);
    graphs_.clear();
  }

  Expected<Graph*> capture(std::span<const Kernel* const> kernels, RunContext c, uint64_t key) {
    if (graphs_.size() >= kMaxGraphs) {
      destroy(graphs_.front());
      graphs_.pop_front();
    }
    Graph g;
    g.key = key;
    // Staging buffers for every network input and output; tensors stored in them (their views too)
    // are redirected.
    std::vector<TensorView> views(c.tensors.begin(), c.tensors.end());
    // Inputs written in place (a KV cache) stay where they are: the graph writes into them.
    g.fixed_in.assign(c.input_tensors.size(), nullptr);
    auto stage = [&](std::span<const int32_t> ids, std::vector<void*>& out, bool inputs) -> Status {
      for (size_t k = 0; k < ids.size(); ++k) {
        const int32_t id = ids[k];
        const TensorView& v = views[static_cast<size_t>(id)];
        if (inputs && k < c.input_written.size() && c.input_written[k]) {
          g.fixed_in[k] = v.data;
          out.push_back(nullptr);
          continue;
        }
        void* p = nullptr;
        KILN_CUDA_RETURN(cudaMalloc(&p, v.bytes() == 0 ? 256 : v.bytes()));
        g.owned.push_back(p);
        out.push_back(p);
        for (size_t t = 0; t < views.size(); ++t) {
          if (c.storage_root[t] != id || static_cast<int32_t>(t) == id) continue;
          // A view keeps its place inside the tensor (offset-view slices start past its beginning).
          auto offset = static_cast<const uint8_t*>(c.tensors[t].data) -
                        static_cast<const uint8_t*>(c.tensors[static_cast<size_t>(id)].data);
          views[t].data = static_cast<uint8_t*>(p) + offset;
        }
        views[static_cast<size_t>(id)].data = p;
      }
      return {};
    };
    Status s = stage(c.input_tensors, g.staging_in, true);
    if (s.ok()) s = stage(c.output_tensors, g.staging_out, false);
    if (!s.ok()) {
      destroy(g);
      return s;
    }
    c.tensors = views;
    cudaGraph_t graph = nullptr;
    cudaError_t e = cudaStreamBeginCapture(static_cast<cudaStream_t>(c.stream),
                                           cudaStreamCaptureModeThreadLocal);
    if (e != cudaSuccess) {
      destroy(g);
      return cuda_status(e, "cudaStreamBeginCapture", __FILE__, __LINE__);
    }
    s = run_all(kernels, c);
    e = cudaStreamEndCapture(static_cast<cudaStream_t>(c.stream), &graph);
    if (s.ok() && e != cudaSuccess) s = cuda_status(e, "cudaStreamEndCapture", __FILE__, __LINE__);
    if (s.ok()) {
      e = cudaGraphInstantiate(&g.exec, graph, 0);
      if (e != cudaSuccess) s = cuda_status(e, "cudaGraphInstantiate", __FILE__, __LINE__);
    }
    if (graph) cudaGraphDestroy(graph);
    if (!s.ok()) {
      destroy(g);
      return s;
    }
    graphs_.push_back(std::move(g));
    return &graphs_.back();
  }

  const char* label(const Kernel* k) const {
    if (labels_ == nullptr) return "kiln.kernel";
    auto it = labels_->find(k);
    return it == labels_->end() ? "kiln.kernel" : it->second.c_str();
  }

  // Runs kernels in order, each inside an NVTX range named after its layers (eager runs and
  // capture; a replayed graph shows as the one kiln.execute range).
  Status run_all(std::span<const Kernel* const> kernels, const RunContext& c) const {
    for (const Kernel* k : kernels) {
      NvtxRange range(label(k));
      KILN_RETURN_IF_ERROR(k->run(c));
    }
    return {};
  }

  static constexpr size_t kMaxGraphs = 8;
  const std::unordered_map<const Kernel*, std::string>* labels_ = nullptr;
  std::unordered_set<uint64_t> warmed_;  ///< shapes that ran once eagerly
  CudaState state_;
  cudaStream_t own_stream_ = nullptr;
  bool graphs_enabled_ = true;
  std::deque<Graph> graphs_;
};

// ---- engine ----

// "layer1.0.conv1 + layer1.0.relu [cuda.cudnn_conv]": the layers a kernel runs (the first three,
// then a count) and its kind, as Nsight shows the range.
std::string kernel_label(const ir::Graph& g, const serial::KernelRecord& rec) {
  std::string out;
  for (size_t i = 0; i < rec.layers.size() && i < 3; ++i)
    out += (i ? " + " : "") + g.layers[static_cast<size_t>(rec.layers[i])].name;
  if (rec.layers.size() > 3) out += " + " + std::to_string(rec.layers.size() - 3) + " more";
  return out + " [" + rec.kernel + "]";
}

class CudaEngine final : public backend::BackendEngine {
 public:
  CudaEngine(const serial::PlanContents& plan) : graph_(plan.graph), device_(plan.device) {
    for (Precision p : plan.precisions) allow_tf32_ |= p == Precision::kTF32;
  }
  ~CudaEngine() override {
    if (weights_) {
      cudaSetDevice(device_);
      cudaFree(weights_);
    }
  }

  Status init(const serial::PlanContents& plan) {
    KILN_CUDA_RETURN(cudaSetDevice(device_));
    // Weights: each distinct buffer once, 256-byte aligned, in one allocation.
    std::map<const std::vector<uint8_t>*, size_t> offsets;
    size_t total = 0;
    for (const auto& w : graph_.weights) {
      if (offsets.count(w.bytes.get())) continue;
      offsets[w.bytes.get()] = total;
      total += (w.bytes->size() + 255) / 256 * 256;
    }
    if (total > 0) {
      cudaError_t e = cudaMalloc(&weights_, total);
      if (e != cudaSuccess) {
        Status s = cuda_status(e, "cudaMalloc(weights)", __FILE__, __LINE__);
        return cuda_error(s.code(), "uploading " + std::to_string(total) +
                                        " bytes of weights failed: " + s.message());
      }
      for (const auto& [bytes, off] : offsets) {
        if (!bytes->empty())
          KILN_CUDA_RETURN(cudaMemcpy(static_cast<uint8_t*>(weights_) + off, bytes->data(),
                                      bytes->size(), cudaMemcpyHostToDevice));
      }
    }
    constant_ptr_.assign(graph_.tensors.size(), nullptr);
    for (const auto& l : graph_.layers) {
      if (l.op != ir::OpKind::kConstant) continue;
      const auto& w = graph_.constant_weight(l);
      constant_ptr_[static_cast<size_t>(l.outputs[0])] =
          static_cast<uint8_t*>(weights_) + offsets[w.bytes.get()];
    }
    const std::vector<bool> executed = ir::device_layers(graph_);
    for (const auto& rec : plan.kernels) {
      KILN_ASSIGN_OR_RETURN(auto k, create_kernel(graph_, rec, executed));
      owned_.push_back(std::move(k));
      kernels_.push_back(owned_.back().get());
      labels_[kernels_.back()] = kernel_label(graph_, rec);
    }
    return {};
  }

  std::span<const Kernel* const> kernels() const override { return kernels_; }
  void* constant_data(int32_t tensor) const override {
    return constant_ptr_[static_cast<size_t>(tensor)];
  }
  Expected<std::unique_ptr<backend::BackendContext>> create_context() const override {
    auto ctx = std::make_unique<CudaContext>(device_, &labels_);
    KILN_RETURN_IF_ERROR(ctx->init(allow_tf32_));
    return std::unique_ptr<backend::BackendContext>(std::move(ctx));
  }

 private:
  const ir::Graph& graph_;
  int device_;
  bool allow_tf32_ = false;
  void* weights_ = nullptr;
  std::vector<void*> constant_ptr_;
  std::vector<std::unique_ptr<Kernel>> owned_;
  std::vector<const Kernel*> kernels_;
  std::unordered_map<const Kernel*, std::string> labels_;  ///< NVTX range names
};

// ---- backend ----

std::string environment_string(int device) {
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, device);
  int driver = 0, runtime = 0;
  cudaDriverGetVersion(&driver);
  cudaRuntimeGetVersion(&runtime);
  return std::string(prop.name) + "|sm" + std::to_string(prop.major * 10 + prop.minor) + "|driver" +
         std::to_string(driver) + "|cudart" + std::to_string(runtime) + "|cublasLt" +
         std::to_string(cublasLtGetVersion()) + "|cudnn" + std::to_string(cudnnGetVersion());
}

// Kernels see float8 e4m3 as bytes (device_utils.cuh): only layers that compute nothing on it, or
// quantize/dequantize, may touch it.
// The first input or output of `l` whose dtype is `dt`'s, if any.
std::optional<DataType> touched_dtype(const ir::Graph& g, const ir::Layer& l,
                                      bool (*match)(DataType)) {
  for (const auto* list : {&l.inputs, &l.outputs})
    for (int32_t t : *list)
      if (t >= 0 && match(g.tensors[static_cast<size_t>(t)].type.dtype))
        return g.tensors[static_cast<size_t>(t)].type.dtype;
  return std::nullopt;
}

bool touches_float8(const ir::Graph& g, const ir::Layer& l) {
  return touched_dtype(g, l, [](DataType d) { return d == DataType::kFloat8E4M3; }).has_value();
}

// float64 and int16 run on the CPU backend only: no CUDA kernel is instantiated for them.
std::optional<DataType> touched_cpu_only_dtype(const ir::Graph& g, const ir::Layer& l) {
  return touched_dtype(g, l,
                       [](DataType d) { return d == DataType::kFloat64 || d == DataType::kInt16; });
}

bool float8_capable(ir::OpKind op) {
  using ir::OpKind;
  switch (op) {
    case OpKind::kQuantize:
    case OpKind::kDequantize:
    case OpKind::kQuantizedConvolution:
    case OpKind::kQuantizedLinear:
    case OpKind::kCast:  // to and from float types only (launch_cast_float8)
    case OpKind::kConstant:
    case OpKind::kReshape:
    case OpKind::kTranspose:
    case OpKind::kConcat:
    case OpKind::kSplit:
    case OpKind::kSlice:
    case OpKind::kGather:
    case OpKind::kExpand:
    case OpKind::kSqueeze:
    case OpKind::kUnsqueeze:
    case OpKind::kFlatten:
    case OpKind::kIdentity:
      return true;
    default:
      return false;
  }
}

class CudaBackend final : public backend::Backend {
 public:
  std::string_view name() const override { return "cuda"; }

  Status available() const override {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
      cudaGetLastError();
      return cuda_error(StatusCode::kUnsupported,
                        std::string("no usable CUDA device: ") + cudaGetErrorString(e));
    }
    if (n == 0) return cuda_error(StatusCode::kUnsupported, "no CUDA device found");
    return {};
  }

  Status supports(const ir::Graph& g, int32_t layer) const override {
    const ir::Layer& l = g.layers[static_cast<size_t>(layer)];
    const CudaOpEntry& e = cuda_op(l.op);
    if (e.launch == launch_unsupported)
      return cuda_error(StatusCode::kUnsupported, "no CUDA kernel");
    if (auto d = touched_cpu_only_dtype(g, l))
      return cuda_error(StatusCode::kUnsupported,
                        "no CUDA kernel for " + std::string(dtype_name(*d)) +
                            " tensors (float64 and int16 run on the CPU backend only)");
    if (l.op == ir::OpKind::kGridSample)
      return cuda_error(
          StatusCode::kUnsupported,
          "grid_sample is not enabled on CUDA yet (its kernel, kernels/grid_sample.cu, "
          "has not run on a GPU; the CPU reference and PyTorch fallback have it)");
    if ((l.op == ir::OpKind::kQuantize || l.op == ir::OpKind::kDequantize) &&
        g.tensors[static_cast<size_t>(l.inputs[1])].type.dims.volume() != 1)
      return cuda_error(
          StatusCode::kUnsupported,
          "per-channel quantize/dequantize is not enabled on CUDA yet (its kernel "
          "disagreed with the CPU reference on the GPU test; per-tensor scales work)");
    if (touches_float8(g, l) && l.op == ir::OpKind::kCast) {
      DataType a = g.tensors[static_cast<size_t>(l.inputs[0])].type.dtype;
      DataType b = g.tensors[static_cast<size_t>(l.outputs[0])].type.dtype;
      if (a != b && !is_floating(a == DataType::kFloat8E4M3 ? b : a))
        return cuda_error(StatusCode::kUnsupported,
                          "float8 e4m3 casts run to and from f32, f16 and bf16 only");
    }
    if (touches_float8(g, l) && !float8_capable(l.op))
      return cuda_error(StatusCode::kUnsupported,
                        "no CUDA kernel for " + std::string(ir::op_name(l.op)) +
                            " on float8 e4m3 tensors (only quantize, dequantize, casts and moves)");
    if (e.supports != nullptr) return e.supports(g, l);
    return {};
  }

  Expected<std::vector<backend::KernelRecord>> lower(
      const ir::Graph& g, const backend::BuildOptions& options) override {
    const BuilderConfig& cfg = *options.config;
    int device = cfg.device;
    int n = 0;
    KILN_CUDA_RETURN(cudaGetDeviceCount(&n));
    if (device < 0 || device >= n)
      return cuda_error(
          StatusCode::kInvalidArgument,
          "device " + std::to_string(device) + " does not exist (" + std::to_string(n) + " found)");
    KILN_CUDA_RETURN(cudaSetDevice(device));
    CudaContext ctx(device, nullptr);
    KILN_RETURN_IF_ERROR(ctx.init(cfg.precision_enabled(Precision::kTF32)));
    auto cache = builder::TimingCache::load(cfg.timing_cache_path, environment_string(device),
                                            *options.logger);
    TuneContext tc{g,
                   options.opt_types.at(0),
                   *static_cast<CudaState*>(ctx.state()),
                   nullptr,
                   cfg.optimization_level,
                   cfg.workspace_limit,
                   &cache,
                   *options.logger,
                   nullptr,
                   nullptr,
                   {},
                   cfg.switches.conv_impl,
                   cfg.switches.cudnn_legacy_only};
    KILN_CUDA_RETURN(cudaStreamCreateWithFlags(&tc.stream, cudaStreamNonBlocking));
    std::vector<backend::KernelRecord> records;
    Status status;
    auto t0 = std::chrono::steady_clock::now();
    FusionOptions fusion;
    fusion.epilogues = cfg.switches.fuse_epilogues;
    fusion.pointwise = fusion.epilogues && cfg.switches.fuse_pointwise;
    std::vector<bool> executed(g.layers.size(), false);
    for (int32_t l : options.device_layers) executed[static_cast<size_t>(l)] = true;
    tc.executed = &executed;
    tc.kernel_cache_dir = cfg.kernel_cache_dir;
    std::vector<FusedGroup> groups;
    const std::vector<int32_t> roots = ir::storage_roots(g, executed);
    for (FusedGroup& grp : plan_fusion(g, options.device_layers, fusion))
      if (!launches_nothing(g, grp, roots)) groups.push_back(std::move(grp));
    for (size_t i = 0; i < groups.size(); ++i) {
      tc.group = &groups[i].layers;
      if (groups[i].pointwise) {
        auto rec = tune_fused_pointwise(groups[i].layers, tc);
        if (rec) {
          records.push_back(std::move(*rec));
          continue;
        }
        if (rec.status().code() == StatusCode::kOutOfMemory) {
          status = rec.status();
          break;
        }
        // No generated kernel (e.g. NVRTC missing): the members' own kernels, which are correct
        // too.
        options.logger->log(Severity::kWarning,
                            rec.status().message() + "; its layers run unfused");
        for (int32_t l : groups[i].layers) {
          backend::KernelRecord single;
          single.layers = {l};
          single.kernel = "cuda." + std::string(ir::op_name(g.layers[static_cast<size_t>(l)].op));
          records.push_back(std::move(single));
        }
        continue;
      }
      auto rec = tune_layer(groups[i].attention_views ? groups[i].anchor : groups[i].layers[0], tc);
      if (!rec) {
        status = rec.status();
        break;
      }
      rec->layers = groups[i].layers;
      records.push_back(std::move(*rec));
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (log_enabled(Severity::kInfo) && (i + 1) % 50 == 0) {
        options.logger->log(Severity::kInfo, "[backends.cuda] tuned " + std::to_string(i + 1) +
                                                 "/" + std::to_string(groups.size()) +
                                                 " kernels (" + std::to_string(s) + " s)");
      }
    }
    cudaStreamSynchronize(tc.stream);
    cudaStreamDestroy(tc.stream);
    if (!status.ok()) return status;
    if (!cfg.timing_cache_path.empty() && cache.dirty()) {
      Status saved = cache.save(cfg.timing_cache_path);
      if (!saved.ok()) options.logger->log(Severity::kWarning, saved.message());
    }
    return records;
  }

  Expected<std::unique_ptr<backend::BackendEngine>> load(const serial::PlanContents& plan,
                                                         Logger&) override {
    int n = 0;
    KILN_CUDA_RETURN(cudaGetDeviceCount(&n));
    if (plan.device < 0 || plan.device >= n)
      return cuda_error(StatusCode::kInvalidArgument, "plan targets device " +
                                                          std::to_string(plan.device) + " but " +
                                                          std::to_string(n) + " exist");
    auto e = std::make_unique<CudaEngine>(plan);
    KILN_RETURN_IF_ERROR(e->init(plan));
    return std::unique_ptr<backend::BackendEngine>(std::move(e));
  }
};

}  // namespace

std::unique_ptr<backend::Backend> make_cuda_backend() { return std::make_unique<CudaBackend>(); }

// ---- tactics dispatch ----

Expected<backend::KernelRecord> tune_layer(int32_t layer, TuneContext& ctx) {
  const ir::Layer& l = ctx.graph.layers[static_cast<size_t>(layer)];
  switch (l.op) {
    case ir::OpKind::kMatMul:
    case ir::OpKind::kLinear:
      return tune_gemm(layer, ctx);
    case ir::OpKind::kConvolution:
      return tune_convolution(layer, ctx);
    case ir::OpKind::kAttention:
      return tune_attention(layer, ctx);
    case ir::OpKind::kQuantizedConvolution:
    case ir::OpKind::kQuantizedLinear:
      return tune_quantized(layer, ctx);
    default: {
      backend::KernelRecord r;
      r.layers = {layer};
      r.kernel = "cuda." + std::string(ir::op_name(l.op));
      return r;
    }
  }
}

Expected<std::unique_ptr<backend::Kernel>> create_kernel(const ir::Graph& g,
                                                         const backend::KernelRecord& rec,
                                                         const std::vector<bool>& executed) {
  if (rec.layers.empty())
    return cuda_error(StatusCode::kCorruptPlan, "kernel record without layers");
  const ir::Layer& l = g.layers[static_cast<size_t>(rec.layers[0])];
  if (rec.kernel.rfind("cuda.gemm", 0) == 0) return create_gemm_kernel(g, rec);
  if (rec.kernel.rfind("cuda.cudnn_conv", 0) == 0) return create_convolution_kernel(g, rec);
  if (rec.kernel == "cuda.pointwise") return create_fused_pointwise_kernel(g, rec, executed);
  if (rec.layers.size() > 1 &&
      (rec.kernel == "cuda.attention" || is_cudnn_attention_kernel(rec.kernel)))
    return create_attention_views_kernel(g, rec);
  if (rec.kernel == kQuantizedGemmKernel) return create_quantized_kernel(g, rec);
  if (is_cudnn_attention_kernel(rec.kernel)) return create_attention_kernel(g, rec);
  std::string want = "cuda." + std::string(ir::op_name(l.op));
  if (rec.kernel != want || rec.layers.size() != 1)
    return cuda_error(StatusCode::kCorruptPlan,
                      "unknown kernel '" + rec.kernel + "' for layer '" + l.name + "'");
  return make_layer_kernel(l);
}

LayerViews layer_views(const ir::Layer& layer, std::span<const TensorView> tensors) {
  LayerViews v;
  v.in.resize(layer.inputs.size());
  for (size_t i = 0; i < v.in.size(); ++i)
    if (layer.inputs[i] >= 0) v.in[i] = tensors[static_cast<size_t>(layer.inputs[i])];
  for (int32_t t : layer.outputs) v.out.push_back(tensors[static_cast<size_t>(t)]);
  return v;
}

std::unique_ptr<backend::Kernel> make_layer_kernel(const ir::Layer& layer) {
  return std::make_unique<LayerKernel>(layer);
}

}  // namespace kiln::cuda
