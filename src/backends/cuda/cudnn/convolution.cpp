// Convolution layers on CUDA. Three implementations, chosen per layer by timing at build time on
// the opt shape (the tactic in the plan):
//   - fp16/bf16 forward convolutions as cuDNN backend-API operation graphs with bias, residual and
//   the
//     activation fused (conv_graph.h); tactic kGraphTactic + i is the i-th engine candidate;
//   - Kiln's channels-last depthwise kernel with the same epilogue (kernels/depthwise_conv.cu);
//   - the legacy cuDNN API (conv_legacy.h) for fp32 (tf32 control), transposed convolutions and
//     problems without a graph engine; cudnnConvolutionBiasActivationForward fuses residual + relu.
// An epilogue activation an implementation cannot fuse runs afterwards, in place, with the
// activation layer's own kernel. Plans are made per concrete shape on first use (the first run of a
// shape is eager, so never inside CUDA graph capture).
#include <array>
#include <map>
#include <mutex>

#include "backends/cuda/cuda_kernels.h"
#include "backends/cuda/cudnn/conv_legacy.h"
#include "backends/cuda/cudnn/conv_problem.h"
#include "backends/cuda/fusion.h"
#include "backends/cuda/tactics.h"
#include "common/unverified.h"

namespace kiln::cuda {
// See tune_fast. KILN_UNVERIFIED (common/unverified.h): true once CudaVision.* (test_cuda_vision)
// has passed on a GPU.
constexpr bool kVisionKernelsEnabled = kUnverifiedKernelsOn;

namespace {

constexpr const char* kLegacyKernel = "cuda.cudnn_conv_legacy";  // built with cudnn_legacy_only

std::string unary_name(UnaryOp op) {
  switch (op) {
    case UnaryOp::kRelu:
      return "relu";
    case UnaryOp::kSilu:
      return "silu";
    case UnaryOp::kHardSwish:
      return "hardswish";
    case UnaryOp::kGelu:
      return "gelu";
    case UnaryOp::kGeluTanh:
      return "gelu_tanh";
    case UnaryOp::kSigmoid:
      return "sigmoid";
    case UnaryOp::kHardSigmoid:
      return "hardsigmoid";
    default:
      return "act" + std::to_string(static_cast<int>(op));
  }
}

/// The depthwise kernel's arguments for a problem (NCHW-ordered dims of a channels-last problem).
DepthwiseConvArgs depthwise_args(const ConvProblem& p, const void* x, const void* taps,
                                 const void* bias, const void* z, void* y, UnaryOp act, float alpha,
                                 float beta, cudaStream_t stream, int tile_w) {
  DepthwiseConvArgs a{};
  a.tile_w = tile_w;
  a.dtype = p.dt;
  a.n = p.x[0];
  a.c = p.x[1];
  a.h = p.x[2];
  a.w = p.x[3];
  a.oh = p.y[2];
  a.ow = p.y[3];
  a.r = p.w[2];
  a.s = p.w[3];
  a.stride_h = p.stride[0];
  a.stride_w = p.stride[1];
  a.pad_h = p.pad[0];
  a.pad_w = p.pad[1];
  a.dil_h = p.dil[0];
  a.dil_w = p.dil[1];
  a.x = x;
  a.weight_taps = taps;
  a.bias = bias;
  a.residual = z;
  a.y = y;
  a.activation = act;
  a.alpha = alpha;
  a.beta = beta;
  a.stream = stream;
  return a;
}

class ConvKernel final : public backend::Kernel {
 public:
  ConvKernel(const ir::Layer& layer, const ir::Layer* act_layer, EpilogueSpec epi,
             std::string tuned_key, int64_t tactic, void* zero_bias, bool legacy_only)
      : legacy_only_(legacy_only),
        layer_(layer),
        act_layer_(act_layer),
        epi_(epi),
        tuned_key_(std::move(tuned_key)),
        tactic_(tactic),
        zero_bias_(zero_bias) {}
  ~ConvKernel() override {
    if (zero_bias_) cudaFree(zero_bias_);
    if (taps_) cudaFree(taps_);
  }

  Status run(const backend::RunContext& ctx) const override {
    const bool grouped = layer_.outputs[0] != epi_.output;
    std::vector<TensorView> in(layer_.inputs.size()), out(1);
    for (size_t i = 0; i < in.size(); ++i)
      if (layer_.inputs[i] >= 0) in[i] = ctx.tensors[static_cast<size_t>(layer_.inputs[i])];
    out[0] = ctx.tensors[static_cast<size_t>(grouped ? epi_.output : layer_.outputs[0])];
    if (out[0].numel() == 0) return {};
    auto& state = *static_cast<CudaState*>(ctx.backend_state);
    KILN_ASSIGN_OR_RETURN(auto p, make_problem(layer_, in, out));
    p.legacy_only = legacy_only_;
    cudaStream_t stream = static_cast<cudaStream_t>(ctx.stream);
    const void* bias = p.has_bias ? in[2].data : nullptr;
    const void* z =
        epi_.residual >= 0 ? ctx.tensors[static_cast<size_t>(epi_.residual)].data : nullptr;

    if (is_depthwise_tactic(tactic_) && depthwise_eligible(p))
      return run_depthwise(p, in, out[0], bias, z, stream);

    if (graph_eligible(p) &&
        conv_graph_aligned({in[0].data, in[1].data, bias, z, out[0].data, ctx.workspace})) {
      KILN_ASSIGN_OR_RETURN(auto v, graph_for(p, state, ctx.workspace_bytes));
      if (v->graph != nullptr) {
        KILN_RETURN_IF_ERROR(v->graph->run(state.dnn, in[0].data, in[1].data, bias, z, out[0].data,
                                           ctx.workspace, stream));
        return v->activation_fused ? Status{} : post_activation(ctx, out[0], state);
      }
    }
    return run_legacy(ctx, p, in, out[0], z, state);
  }

  size_t workspace_bytes(std::span<const TensorView>) const override { return kConvWorkspace; }
  std::string describe() const override {
    std::string d =
        is_depthwise_tactic(tactic_)
            ? "cuda.depthwise_nhwc" + (tactic_ == kDepthwiseTactic
                                           ? std::string()
                                           : "_tile" + std::to_string(depthwise_tile(tactic_)))
        : tactic_ >= kGraphNoActTactic
            ? "cuda.cudnn_graph#" + std::to_string(tactic_ - kGraphNoActTactic) + "/act_after"
        : tactic_ >= kGraphTactic ? "cuda.cudnn_graph#" + std::to_string(tactic_ - kGraphTactic)
                                  : "cuda.cudnn_conv#" + std::to_string(tactic_);
    if (epi_.residual >= 0) d += "+add";
    if (act_layer_ != nullptr) d += "+" + unary_name(epi_.activation);
    return d;
  }

 private:
  struct GraphEntry {
    std::unique_ptr<ConvGraph> graph;  ///< nullptr: cuDNN has no engine for it, use the legacy path
    bool activation_fused = false;
  };

  /// The group's activation, in place on y (when the chosen implementation did not fuse it).
  Status post_activation(const backend::RunContext& ctx, const TensorView& y,
                         CudaState& state) const {
    if (act_layer_ == nullptr) return {};
    std::array<TensorView, 1> io{y};
    LaunchArgs la{*act_layer_,
                  io,
                  io,
                  ctx.workspace,
                  ctx.workspace_bytes,
                  static_cast<cudaStream_t>(ctx.stream),
                  state};
    return launch_unary(la);
  }

  Status run_depthwise(const ConvProblem& p, const std::vector<TensorView>& in, const TensorView& y,
                       const void* bias, const void* z, cudaStream_t stream) const {
    const int c = p.x[1], taps = p.w[2] * p.w[3];
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (taps_ == nullptr || taps_src_ != in[1].data) {
        // Weights are engine constants: arrange them tap-major once (the first run of a shape is
        // eager, so this never happens inside graph capture); synchronized so every stream sees it.
        if (taps_ == nullptr)
          KILN_CUDA_RETURN(cudaMalloc(&taps_, static_cast<size_t>(c) * taps * dtype_size(p.dt)));
        KILN_RETURN_IF_ERROR(
            launch_depthwise_weight_taps(in[1].data, taps_, p.dt, c, taps, stream));
        KILN_CUDA_RETURN(cudaStreamSynchronize(stream));
        taps_src_ = in[1].data;
      }
    }
    const auto& lp = act_layer_ ? std::get<UnaryParams>(act_layer_->params) : UnaryParams{};
    return launch_depthwise_nhwc(depthwise_args(
        p, in[0].data, taps_, bias, z, y.data, act_layer_ ? epi_.activation : UnaryOp::kIdentity,
        static_cast<float>(lp.alpha), static_cast<float>(lp.beta), stream,
        depthwise_tile(tactic_)));
  }

  Status run_legacy(const backend::RunContext& ctx, ConvProblem p,
                    const std::vector<TensorView>& in, const TensorView& y, const void* z,
                    CudaState& state) const {
    cudaStream_t stream = static_cast<cudaStream_t>(ctx.stream);
    const bool relu = epi_.activation == UnaryOp::kRelu;
    // cudnnConvolutionBiasActivationForward takes the residual and a relu; other activations run
    // after.
    const bool fused_call = epi_.residual >= 0 || relu;
    const bool has_bias = p.has_bias;
    if (fused_call)
      p.has_bias = true;  // the fused call always adds a bias (zeros when the conv has none)
    const bool identity_act = fused_call && !relu;
    std::string key =
        p.key() + "|tf" + std::to_string(state.allow_tf32) + "|f" + std::to_string(fused_call);
    ConvPlan* plan = nullptr;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = plans_.find(key);
      if (it == plans_.end()) {
        auto np = std::make_unique<ConvPlan>();
        KILN_RETURN_IF_ERROR(make_descriptors(p, state.allow_tf32, *np));
        bool tuned =
            tactic_ >= 0 && tactic_ < kGraphTactic && p.key() == tuned_key_ && !identity_act;
        if (identity_act) {
          // cuDNN's fused op with an identity activation requires this algorithm.
          np->algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM;
          KILN_RETURN_IF_ERROR(workspace_for(state.dnn, p, *np));
          if (np->workspace > ctx.workspace_bytes)
            return layer_error(layer_, StatusCode::kOutOfMemory, "fused conv workspace");
        } else {
          if (tuned) {
            np->algo = static_cast<int>(tactic_);
            KILN_RETURN_IF_ERROR(workspace_for(state.dnn, p, *np));
            tuned = np->workspace <= ctx.workspace_bytes;
          }
          if (!tuned) KILN_RETURN_IF_ERROR(heuristic_algo(state.dnn, p, *np, ctx.workspace_bytes));
        }
        if (fused_call) {
          KILN_CUDNN_RETURN(cudnnCreateActivationDescriptor(&np->ad));
          cudnnActivationMode_t mode = relu ? CUDNN_ACTIVATION_RELU : CUDNN_ACTIVATION_IDENTITY;
          KILN_CUDNN_RETURN(cudnnSetActivationDescriptor(np->ad, mode, CUDNN_PROPAGATE_NAN, 0.0));
        }
        it = plans_.emplace(key, std::move(np)).first;
      }
      plan = it->second.get();
    }
    const void* bias = has_bias ? in[2].data : zero_bias_;
    if (!fused_call) {
      KILN_RETURN_IF_ERROR(run_conv(state.dnn, p, *plan, in[0].data, in[1].data, bias, y.data,
                                    ctx.workspace, ctx.workspace_bytes, stream));
      return post_activation(ctx, y, state);
    }
    if (z == nullptr) z = y.data;
    float one = 1.0f, alpha2 = epi_.residual >= 0 ? 1.0f : 0.0f;
    KILN_CUDNN_RETURN(cudnnSetStream(state.dnn, stream));
    if (plan->fused_ok) {
      cudnnStatus_t st = cudnnConvolutionBiasActivationForward(
          state.dnn, &one, plan->xd, in[0].data, plan->wd, in[1].data, plan->cd,
          static_cast<cudnnConvolutionFwdAlgo_t>(plan->algo), ctx.workspace, ctx.workspace_bytes,
          &alpha2, plan->yd, z, plan->bd, bias, plan->ad, plan->yd, y.data);
      if (st == CUDNN_STATUS_SUCCESS) return relu ? Status{} : post_activation(ctx, y, state);
      if (st != CUDNN_STATUS_NOT_SUPPORTED)
        return cudnn_status(st, "cudnnConvolutionBiasActivationForward", __FILE__, __LINE__);
      plan->fused_ok = false;  // this configuration has no fused kernel: run the steps separately
    }
    KILN_RETURN_IF_ERROR(run_conv(state.dnn, p, *plan, in[0].data, in[1].data, bias, y.data,
                                  ctx.workspace, ctx.workspace_bytes, stream));
    if (epi_.residual >= 0)
      KILN_CUDNN_RETURN(cudnnAddTensor(state.dnn, &one, plan->yd, z, &one, plan->yd, y.data));
    if (relu) {
      float zero = 0.0f;
      KILN_CUDNN_RETURN(cudnnActivationForward(state.dnn, plan->ad, &one, plan->yd, y.data, &zero,
                                               plan->yd, y.data));
      return {};
    }
    return post_activation(ctx, y, state);
  }

  Expected<GraphEntry*> graph_for(const ConvProblem& p, CudaState& state,
                                  size_t workspace_bytes) const {
    std::string key = p.key() + epilogue_key(epi_, p.has_bias) + "|ctx" + std::to_string(state.id);
    std::lock_guard<std::mutex> lock(mu_);
    auto it = graphs_.find(key);
    if (it != graphs_.end()) return &it->second;
    GraphEntry entry;
    const bool no_act = tactic_ >= kGraphNoActTactic && tactic_ < kDepthwiseTactic;
    GraphVariant v = create_graph_variant(state.dnn, p, epi_, !no_act);
    if (v.graph) {
      bool ok = false;
      const int64_t base = no_act ? kGraphNoActTactic : kGraphTactic;
      if (tactic_ >= kGraphTactic && tactic_ < kDepthwiseTactic && p.key() == tuned_key_)
        ok = v.graph->select(state.dnn, static_cast<int>(tactic_ - base), workspace_bytes).ok();
      if (!ok) ok = v.graph->select_first(state.dnn, workspace_bytes).ok();
      if (ok) entry = GraphEntry{std::move(v.graph), v.activation_fused};
    }
    return &graphs_.emplace(key, std::move(entry)).first->second;
  }

  bool legacy_only_;  ///< the plan was built with cudnn_legacy_only: run it that way
  const ir::Layer& layer_;
  const ir::Layer* act_layer_;  ///< the group's activation layer, or nullptr
  EpilogueSpec epi_;
  std::string tuned_key_;
  int64_t tactic_;
  void* zero_bias_;
  mutable std::mutex mu_;
  mutable std::map<std::string, std::unique_ptr<ConvPlan>> plans_;
  /// Operation graphs per problem and execution context (a plan is made with its context's handle).
  mutable std::map<std::string, GraphEntry> graphs_;
  mutable void* taps_ = nullptr;  ///< depthwise weights, tap-major
  mutable const void* taps_src_ = nullptr;
};

}  // namespace

size_t workspace_convolution(const ir::Layer&, std::span<const TensorView>,
                             std::span<const TensorView>) {
  return kConvWorkspace;
}

Status launch_convolution(const LaunchArgs& a) {
  return layer_error(a.layer, StatusCode::kInternal, "convolution runs through the cuDNN kernel");
}

Status supports_convolution(const ir::Graph&, const ir::Layer& l) {
  const auto& p = std::get<ConvolutionParams>(l.params);
  for (size_t i = 0; i < p.pads_begin.size(); ++i) {
    if (p.pads_begin[i] != p.pads_end[i])
      return make_error(StatusCode::kUnsupported, "backends.cuda",
                        "asymmetric convolution padding");
  }
  return {};
}

/// Times the fast implementations of a problem on random data: the first kGraphCandidatesTimed
/// engine candidates of its operation graph and, for depthwise problems, Kiln's kernel. (tactic,
/// ms), or
/// (-1, 0) when neither runs.
Expected<std::pair<int64_t, float>> tune_fast(const ConvProblem& p, const EpilogueSpec& epi,
                                              TuneContext& ctx, size_t ws_limit) {
  auto count = [](const std::vector<int>& d) {
    size_t n = 1;
    for (int v : d) n *= static_cast<size_t>(v);
    return n;
  };
  size_t es = dtype_size(p.dt);
  size_t nx = count(p.x), nw = count(p.w), ny = count(p.y), nb = static_cast<size_t>(p.y[1]);
  auto up = [](size_t v) { return (v + 255) / 256 * 256; };
  size_t total = up(nx * es) + up(nw * es) + 2 * up(ny * es) + up(nb * es) + ws_limit;
  uint8_t* buf = nullptr;
  KILN_CUDA_RETURN(cudaMalloc(&buf, total));
  uint8_t *px = buf, *pw = px + up(nx * es), *py = pw + up(nw * es), *pz = py + up(ny * es),
          *pb = pz + up(ny * es);
  uint8_t* pws = pb + up(nb * es);
  const void* bias = p.has_bias ? pb : nullptr;
  const void* z = epi.residual >= 0 ? pz : nullptr;
  Status s = fill_random(px, p.dt, static_cast<int64_t>(nx), ctx.stream);
  if (s.ok()) s = fill_random(pw, p.dt, static_cast<int64_t>(nw), ctx.stream);
  if (s.ok()) s = fill_random(pz, p.dt, static_cast<int64_t>(ny), ctx.stream);
  if (s.ok()) s = fill_random(pb, p.dt, static_cast<int64_t>(nb), ctx.stream);
  int64_t best = -1;
  float best_ms = 0;
  // BuildSwitches::conv_impl (graph|depthwise|depthwise:<tile>) restricts the choice.
  const std::string& only = ctx.conv_impl;
  // Kernels that have not yet run on a GPU (KILN_UNVERIFIED: the shared-memory depthwise tiles and
  // composed activations inside cuDNN graphs) are timed only when conv_impl names them
  // ("depthwise:16", "graph:fused") until kVisionKernelsEnabled.
  const bool composed_act = graph_activation_steps(epi.activation).size() > 1;
  auto consider = [&](int64_t tactic, const Expected<float>& ms) {
    if (!kVisionKernelsEnabled) {
      if (tactic >= kDepthwiseTactic && depthwise_tile(tactic) == 16 && only != "depthwise:16")
        return;
      if (composed_act && tactic >= kGraphTactic && tactic < kGraphNoActTactic &&
          only != "graph:fused")
        return;
    }
    if (only.rfind("graph", 0) == 0 && tactic >= kDepthwiseTactic) return;
    if (only == "graph:fused" && tactic >= kGraphNoActTactic) return;
    if (only == "graph:act_after" && tactic >= kGraphTactic && tactic < kGraphNoActTactic &&
        graph_activation_steps(epi.activation).size() > 1)
      return;
    if (only.rfind("depthwise", 0) == 0 && tactic < kDepthwiseTactic) return;
    if (only.rfind("depthwise:", 0) == 0 &&
        only != "depthwise:" + std::to_string(depthwise_tile(tactic)))
      return;
    if (ms && (best < 0 || *ms < best_ms)) {
      best = tactic;
      best_ms = *ms;
    }
  };
  if (s.ok() && graph_eligible(p)) {
    GraphVariant v = create_graph_variant(ctx.state.dnn, p, epi);
    int n = v.graph ? std::min(v.graph->candidates(), kGraphCandidatesTimed) : 0;
    for (int i = 0; i < n; ++i) {
      if (!v.graph->select(ctx.state.dnn, i, ws_limit).ok()) continue;
      // An activation the graph could not fuse runs afterwards at the same cost whichever candidate
      // wins; it is left out of the timing.
      consider(kGraphTactic + i, time_on_stream(ctx.stream, 5, [&] {
                 return v.graph->run(ctx.state.dnn, px, pw, bias, z, py, pws, ctx.stream);
               }));
    }
    // A composed activation (hardswish / hardsigmoid: several pointwise steps) may cost the fused
    // engine more than it saves: the graph without it plus an in-place pass over y (timed as a
    // copy of y) competes.
    if (v.activation_fused && graph_activation_steps(epi.activation).size() > 1) {
      GraphVariant u = create_graph_variant(ctx.state.dnn, p, epi, false);
      Expected<float> post = time_on_stream(ctx.stream, 5, [&]() -> Status {
        KILN_CUDA_RETURN(cudaMemcpyAsync(pz, py, ny * es, cudaMemcpyDeviceToDevice, ctx.stream));
        return {};
      });
      int m = u.graph && post ? std::min(u.graph->candidates(), kGraphCandidatesTimed) : 0;
      for (int i = 0; i < m; ++i) {
        if (!u.graph->select(ctx.state.dnn, i, ws_limit).ok()) continue;
        Expected<float> ms = time_on_stream(ctx.stream, 5, [&] {
          return u.graph->run(ctx.state.dnn, px, pw, bias, z, py, pws, ctx.stream);
        });
        if (ms) ms = *ms + *post;
        consider(kGraphNoActTactic + i, ms);
      }
    }
  }
  if (s.ok() && depthwise_eligible(p)) {
    // Timed without its fused activation (a few flops per element on a memory-bound kernel); the
    // weights stand in for the tap-major copy.
    for (int tile : {1, 4, 8, 16}) {
      DepthwiseConvArgs a =
          depthwise_args(p, px, pw, bias, z, py, UnaryOp::kIdentity, 0.0f, 0.0f, ctx.stream, tile);
      if (tile > 1 && !depthwise_tile_supported(a)) continue;
      consider(tile == 1 ? kDepthwiseTactic : kDepthwiseTactic + tile,
               time_on_stream(ctx.stream, 5, [&] { return launch_depthwise_nhwc(a); }));
    }
  }
  cudaStreamSynchronize(ctx.stream);
  cudaGetLastError();
  cudaFree(buf);
  KILN_RETURN_IF_ERROR(s);
  return std::pair<int64_t, float>{best, best_ms};
}

Expected<backend::KernelRecord> tune_convolution(int32_t layer, TuneContext& ctx) {
  const ir::Layer& l = ctx.graph.layers[static_cast<size_t>(layer)];
  backend::KernelRecord rec;
  rec.layers = {layer};
  // The kernel name carries legacy-only into the plan, so the loaded engine keeps to it.
  rec.kernel = ctx.cudnn_legacy_only ? kLegacyKernel : "cuda.cudnn_conv";
  rec.tactic = -1;
  std::vector<TensorView> in(l.inputs.size()), out(1);
  for (size_t i = 0; i < in.size(); ++i) {
    if (l.inputs[i] < 0) continue;
    const TensorType& t = ctx.opt_types[static_cast<size_t>(l.inputs[i])];
    in[i] = TensorView{reinterpret_cast<void*>(1), t.dtype, t.dims};  // non-null marks presence
  }
  const TensorType& ot = ctx.opt_types[static_cast<size_t>(l.outputs[0])];
  out[0] = TensorView{nullptr, ot.dtype, ot.dims};
  KILN_ASSIGN_OR_RETURN(auto p, make_problem(l, in, out));
  p.legacy_only = ctx.cudnn_legacy_only;
  if (ctx.optimization_level < 2 || out[0].numel() == 0) return rec;
  size_t ws_limit =
      ctx.workspace_limit ? std::min<size_t>(ctx.workspace_limit, kConvWorkspace) : kConvWorkspace;
  if (graph_eligible(p)) {
    EpilogueSpec epi;
    if (ctx.group == nullptr || !decode_epilogue(ctx.graph, *ctx.group, epi)) epi = EpilogueSpec{};
    std::string fkey = "convf|" + p.key() + epilogue_key(epi, p.has_bias);
    std::string k = p.key();
    if (ctx.cache) {
      if (auto hit = ctx.cache->find(fkey)) {
        rec.tactic = hit->tactic;
        rec.config.assign(k.begin(), k.end());
        return rec;
      }
    }
    KILN_ASSIGN_OR_RETURN(auto best, tune_fast(p, epi, ctx, ws_limit));
    if (best.first >= 0) {
      rec.tactic = best.first;
      rec.config.assign(k.begin(), k.end());
      if (ctx.cache) ctx.cache->put(fkey, builder::CachedTactic{rec.tactic, {}, best.second});
      return rec;
    }
  }
  std::string key = "conv|" + p.key() + "|tf" + std::to_string(ctx.state.allow_tf32);
  if (ctx.cache) {
    if (auto hit = ctx.cache->find(key)) {
      std::string k = p.key();
      rec.tactic = hit->tactic;
      rec.config.assign(k.begin(), k.end());
      return rec;
    }
  }
  ConvPlan plan;
  KILN_RETURN_IF_ERROR(make_descriptors(p, ctx.state.allow_tf32, plan));
  size_t es = dtype_size(p.dt);
  size_t xb = static_cast<size_t>(in[0].numel()) * es, wb = static_cast<size_t>(in[1].numel()) * es;
  size_t yb = static_cast<size_t>(out[0].numel()) * es;
  uint8_t* buf = nullptr;
  auto up = [](size_t v) { return (v + 255) / 256 * 256; };
  KILN_CUDA_RETURN(cudaMalloc(&buf, up(xb) + up(wb) + up(yb) + ws_limit));
  uint8_t *px = buf, *pw = px + up(xb), *py = pw + up(wb), *pws = py + up(yb);
  Status s = fill_random(px, p.dt, in[0].numel(), ctx.stream);
  if (s.ok()) s = fill_random(pw, p.dt, in[1].numel(), ctx.stream);
  if (s.ok()) {
    cudaError_t e = cudaStreamSynchronize(ctx.stream);
    if (e != cudaSuccess) s = cuda_status(e, "cudaStreamSynchronize", __FILE__, __LINE__);
  }
  int best = -1;
  float best_ms = 0;
  if (s.ok()) {
    cudnnSetStream(ctx.state.dnn, ctx.stream);
    int returned = 0;
    if (!p.transposed) {
      cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
      cudnnStatus_t st = cudnnFindConvolutionForwardAlgorithmEx(
          ctx.state.dnn, plan.xd, px, plan.wd, pw, plan.cd, plan.yd, py,
          CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &returned, perf, pws, ws_limit);
      for (int i = 0; st == CUDNN_STATUS_SUCCESS && i < returned; ++i) {
        if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= ws_limit) {
          best = perf[i].algo;
          best_ms = perf[i].time;
          break;
        }
      }
    } else {
      cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
      cudnnStatus_t st = cudnnFindConvolutionBackwardDataAlgorithmEx(
          ctx.state.dnn, plan.wd, pw, plan.xd, px, plan.cd, plan.yd, py,
          CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &returned, perf, pws, ws_limit);
      for (int i = 0; st == CUDNN_STATUS_SUCCESS && i < returned; ++i) {
        if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= ws_limit) {
          best = perf[i].algo;
          best_ms = perf[i].time;
          break;
        }
      }
    }
  }
  cudaStreamSynchronize(ctx.stream);
  cudaFree(buf);
  KILN_RETURN_IF_ERROR(s);
  if (best < 0) return rec;
  rec.tactic = best;
  std::string tuned_key = p.key();
  rec.config.assign(tuned_key.begin(), tuned_key.end());
  if (ctx.cache) ctx.cache->put(key, builder::CachedTactic{rec.tactic, {}, best_ms});
  return rec;
}

Expected<std::unique_ptr<backend::Kernel>> create_convolution_kernel(
    const ir::Graph& g, const backend::KernelRecord& rec) {
  const ir::Layer& l = g.layers[static_cast<size_t>(rec.layers[0])];
  if (l.op != ir::OpKind::kConvolution)
    return make_error(StatusCode::kCorruptPlan, "backends.cuda",
                      "conv kernel record does not name a convolution layer");
  const bool legacy = rec.tactic >= -1 && rec.tactic <= 64;
  const bool graph = rec.tactic >= kGraphTactic && rec.tactic < kGraphTactic + 4096;
  if (!legacy && !graph && !is_depthwise_tactic(rec.tactic))
    return make_error(StatusCode::kCorruptPlan, "backends.cuda",
                      "bad convolution tactic for layer '" + l.name + "'");
  EpilogueSpec epi;
  if (!decode_epilogue(g, rec.layers, epi))
    return make_error(StatusCode::kCorruptPlan, "backends.cuda",
                      "bad fused group at layer '" + l.name + "'");
  void* zero_bias = nullptr;
  bool fused = rec.layers.size() > 1;
  bool has_bias = l.inputs.size() > 2 && l.inputs[2] >= 0;
  if (fused && !has_bias) {
    const TensorType& w = g.tensors[static_cast<size_t>(l.inputs[1])].type;
    int64_t cout = std::get<ConvolutionParams>(l.params).transposed ? w.dims[1] : w.dims[0];
    size_t bytes = static_cast<size_t>(std::max<int64_t>(cout, 1)) * dtype_size(w.dtype);
    KILN_CUDA_RETURN(cudaMalloc(&zero_bias, bytes));
    KILN_CUDA_RETURN(cudaMemset(zero_bias, 0, bytes));
  }
  std::string key(rec.config.begin(), rec.config.end());
  const bool legacy_only = rec.kernel == kLegacyKernel;
  const ir::Layer* act =
      epi.activation_layer >= 0 ? &g.layers[static_cast<size_t>(epi.activation_layer)] : nullptr;
  return std::unique_ptr<backend::Kernel>(
      std::make_unique<ConvKernel>(l, act, epi, key, rec.tactic, zero_bias, legacy_only));
}

}  // namespace kiln::cuda
