// Convolution and transposed convolution through cuDNN (NCHW / NCDHW, groups, dilation, symmetric
// padding). The algorithm is found by timing at build time for the opt shape (tactic in the plan) and
// by cuDNN's heuristic, cached per shape, otherwise. Bias is added with cudnnAddTensor.
#include <atomic>
#include <cstring>
#include <map>
#include <mutex>

#include "backends/cuda/cuda_kernels.h"
#include "backends/cuda/fusion.h"
#include "backends/cuda/tactics.h"

namespace kiln::cuda {
namespace {

constexpr size_t kConvWorkspace = 64u << 20;

cudnnDataType_t cudnn_type(DataType dt) {
  switch (dt) {
    case DataType::kFloat16: return CUDNN_DATA_HALF;
    case DataType::kBFloat16: return CUDNN_DATA_BFLOAT16;
    default: return CUDNN_DATA_FLOAT;
  }
}

// Concrete problem: dims padded to at least 4-D (1-D convs become [N, C, 1, L]).
struct ConvProblem {
  DataType dt;
  std::vector<int> x, w, y;  // dims
  std::vector<int> pad, stride, dil;
  int groups = 1;
  bool transposed = false;
  bool has_bias = false;
  bool nhwc = false;  ///< x, y stored channels-last, w stored [K, spatial..., C]; dims above are NCHW-ordered

  std::string key() const {
    std::string k = std::string(dtype_name(dt)) + (transposed ? "|T" : "|F") + "|g" + std::to_string(groups) +
                    (nhwc ? "|nhwc" : "");
    for (const auto* v : {&x, &w, &y, &pad, &stride, &dil}) {
      k += "|";
      for (int d : *v) k += std::to_string(d) + ",";
    }
    return k;
  }
};

std::vector<int> to_int(const Dims& d) { return std::vector<int>(d.begin(), d.end()); }

Expected<ConvProblem> make_problem(const ir::Layer& l, std::span<const TensorView> in, std::span<const TensorView> out) {
  const auto& p = std::get<ConvolutionParams>(l.params);
  ConvProblem c;
  c.dt = in[0].dtype;
  c.x = to_int(in[0].dims);
  c.w = to_int(in[1].dims);
  c.y = to_int(out[0].dims);
  c.nhwc = p.channels_last;
  if (c.nhwc) {  // describe with NCHW-ordered dims; strides say channels-last
    auto to_nchw = [](std::vector<int>& d) {
      int ch = d.back();
      d.pop_back();
      d.insert(d.begin() + 1, ch);
    };
    to_nchw(c.x);
    to_nchw(c.w);
    to_nchw(c.y);
  }
  for (size_t i = 0; i < p.pads_begin.size(); ++i) {
    if (p.pads_begin[i] != p.pads_end[i]) {
      return layer_error(l, StatusCode::kUnsupported, "asymmetric padding is not supported by the cuDNN convolution");
    }
    c.pad.push_back(static_cast<int>(p.pads_begin[i]));
    c.stride.push_back(static_cast<int>(p.strides[i]));
    c.dil.push_back(static_cast<int>(p.dilations[i]));
  }
  c.groups = static_cast<int>(p.groups);
  c.transposed = p.transposed;
  c.has_bias = in.size() > 2 && in[2].data != nullptr;
  if (c.x.size() == 3) {  // 1-D: insert H = 1
    c.x.insert(c.x.begin() + 2, 1);
    c.w.insert(c.w.begin() + 2, 1);
    c.y.insert(c.y.begin() + 2, 1);
    c.pad.insert(c.pad.begin(), 0);
    c.stride.insert(c.stride.begin(), 1);
    c.dil.insert(c.dil.begin(), 1);
  }
  return c;
}

std::vector<int> packed_strides(const std::vector<int>& d) {
  std::vector<int> s(d.size(), 1);
  for (int i = static_cast<int>(d.size()) - 2; i >= 0; --i) s[static_cast<size_t>(i)] = s[static_cast<size_t>(i) + 1] * d[static_cast<size_t>(i) + 1];
  return s;
}

// Strides of NCHW-ordered dims stored channels-last ([N, C, D..., ] -> memory N, D..., C).
std::vector<int> channels_last_strides(const std::vector<int>& d) {
  std::vector<int> s(d.size(), 1);
  int acc = d[1];  // C is innermost
  for (int i = static_cast<int>(d.size()) - 1; i >= 2; --i) {
    s[static_cast<size_t>(i)] = acc;
    acc *= d[static_cast<size_t>(i)];
  }
  s[1] = 1;
  s[0] = acc;
  return s;
}

struct ConvPlan {
  cudnnTensorDescriptor_t xd = nullptr, yd = nullptr, bd = nullptr;
  cudnnFilterDescriptor_t wd = nullptr;
  cudnnConvolutionDescriptor_t cd = nullptr;
  cudnnActivationDescriptor_t ad = nullptr;
  int algo = 0;
  size_t workspace = 0;
  std::atomic<bool> fused_ok{true};
  ConvPlan() = default;
  ConvPlan(const ConvPlan&) = delete;
  ConvPlan& operator=(const ConvPlan&) = delete;
  ~ConvPlan() {
    if (xd) cudnnDestroyTensorDescriptor(xd);
    if (yd) cudnnDestroyTensorDescriptor(yd);
    if (bd) cudnnDestroyTensorDescriptor(bd);
    if (wd) cudnnDestroyFilterDescriptor(wd);
    if (cd) cudnnDestroyConvolutionDescriptor(cd);
    if (ad) cudnnDestroyActivationDescriptor(ad);
  }
};

Status make_descriptors(const ConvProblem& p, bool tf32, ConvPlan& plan) {
  cudnnDataType_t t = cudnn_type(p.dt);
  auto nd = static_cast<int>(p.x.size());
  KILN_CUDNN_RETURN(cudnnCreateTensorDescriptor(&plan.xd));
  KILN_CUDNN_RETURN(cudnnCreateTensorDescriptor(&plan.yd));
  KILN_CUDNN_RETURN(cudnnCreateFilterDescriptor(&plan.wd));
  KILN_CUDNN_RETURN(cudnnCreateConvolutionDescriptor(&plan.cd));
  auto xs = p.nhwc ? channels_last_strides(p.x) : packed_strides(p.x);
  auto ys = p.nhwc ? channels_last_strides(p.y) : packed_strides(p.y);
  KILN_CUDNN_RETURN(cudnnSetTensorNdDescriptor(plan.xd, t, nd, p.x.data(), xs.data()));
  KILN_CUDNN_RETURN(cudnnSetTensorNdDescriptor(plan.yd, t, nd, p.y.data(), ys.data()));
  KILN_CUDNN_RETURN(cudnnSetFilterNdDescriptor(plan.wd, t, p.nhwc ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW, nd, p.w.data()));
  KILN_CUDNN_RETURN(cudnnSetConvolutionNdDescriptor(plan.cd, nd - 2, p.pad.data(), p.stride.data(), p.dil.data(),
                                                    CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  KILN_CUDNN_RETURN(cudnnSetConvolutionGroupCount(plan.cd, p.groups));
  cudnnMathType_t math = p.dt == DataType::kFloat32 ? (tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH) : CUDNN_TENSOR_OP_MATH;
  KILN_CUDNN_RETURN(cudnnSetConvolutionMathType(plan.cd, math));
  if (p.has_bias) {
    KILN_CUDNN_RETURN(cudnnCreateTensorDescriptor(&plan.bd));
    std::vector<int> bdims(p.y.size(), 1);
    bdims[1] = p.y[1];
    auto bs = packed_strides(bdims);
    KILN_CUDNN_RETURN(cudnnSetTensorNdDescriptor(plan.bd, t, nd, bdims.data(), bs.data()));
  }
  return {};
}

Status heuristic_algo(cudnnHandle_t h, const ConvProblem& p, ConvPlan& plan, size_t max_ws) {
  int returned = 0;
  if (!p.transposed) {
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    KILN_CUDNN_RETURN(cudnnGetConvolutionForwardAlgorithm_v7(h, plan.xd, plan.wd, plan.cd, plan.yd,
                                                             CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &returned, perf));
    for (int i = 0; i < returned; ++i) {
      if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= max_ws) {
        plan.algo = perf[i].algo;
        plan.workspace = perf[i].memory;
        return {};
      }
    }
  } else {
    cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    KILN_CUDNN_RETURN(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, plan.wd, plan.xd, plan.cd, plan.yd,
                                                                  CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &returned, perf));
    for (int i = 0; i < returned; ++i) {
      if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= max_ws) {
        plan.algo = perf[i].algo;
        plan.workspace = perf[i].memory;
        return {};
      }
    }
  }
  return make_error(StatusCode::kUnsupported, "backends.cuda.cudnn", "no cuDNN algorithm fits the workspace for " + p.key());
}

Status workspace_for(cudnnHandle_t h, const ConvProblem& p, ConvPlan& plan) {
  if (!p.transposed) {
    KILN_CUDNN_RETURN(cudnnGetConvolutionForwardWorkspaceSize(h, plan.xd, plan.wd, plan.cd, plan.yd,
                                                              static_cast<cudnnConvolutionFwdAlgo_t>(plan.algo), &plan.workspace));
  } else {
    KILN_CUDNN_RETURN(cudnnGetConvolutionBackwardDataWorkspaceSize(h, plan.wd, plan.xd, plan.cd, plan.yd,
                                                                   static_cast<cudnnConvolutionBwdDataAlgo_t>(plan.algo),
                                                                   &plan.workspace));
  }
  return {};
}

Status run_conv(cudnnHandle_t h, const ConvProblem& p, const ConvPlan& plan, const void* x, const void* w,
                const void* b, void* y, void* ws, size_t ws_bytes, cudaStream_t stream) {
  KILN_CUDNN_RETURN(cudnnSetStream(h, stream));
  float one = 1.0f, zero = 0.0f;
  if (!p.transposed) {
    KILN_CUDNN_RETURN(cudnnConvolutionForward(h, &one, plan.xd, x, plan.wd, w, plan.cd,
                                              static_cast<cudnnConvolutionFwdAlgo_t>(plan.algo), ws, ws_bytes, &zero,
                                              plan.yd, y));
  } else {
    KILN_CUDNN_RETURN(cudnnConvolutionBackwardData(h, &one, plan.wd, w, plan.xd, x, plan.cd,
                                                   static_cast<cudnnConvolutionBwdDataAlgo_t>(plan.algo), ws, ws_bytes,
                                                   &zero, plan.yd, y));
  }
  if (p.has_bias) KILN_CUDNN_RETURN(cudnnAddTensor(h, &one, plan.bd, b, &one, plan.yd, y));
  return {};
}

class ConvKernel final : public backend::Kernel {
 public:
  ConvKernel(const ir::Layer& layer, EpilogueSpec epi, std::string tuned_key, int64_t tactic, void* zero_bias)
      : layer_(layer), epi_(epi), tuned_key_(std::move(tuned_key)), tactic_(tactic), zero_bias_(zero_bias) {}
  ~ConvKernel() override {
    if (zero_bias_) cudaFree(zero_bias_);
  }

  bool fused() const { return epi_.residual >= 0 || epi_.activation != UnaryOp::kIdentity; }

  Status run(const backend::RunContext& ctx) const override {
    std::vector<TensorView> in(layer_.inputs.size()), out(1);
    for (size_t i = 0; i < in.size(); ++i)
      if (layer_.inputs[i] >= 0) in[i] = ctx.tensors[static_cast<size_t>(layer_.inputs[i])];
    out[0] = ctx.tensors[static_cast<size_t>(fused() ? epi_.output : layer_.outputs[0])];
    if (out[0].numel() == 0) return {};
    auto& state = *static_cast<CudaState*>(ctx.backend_state);
    auto p = make_problem(layer_, in, out);
    if (!p) return p.status();
    bool has_bias = p->has_bias;
    if (fused()) p->has_bias = true;  // the fused call always adds a bias (zeros when the conv has none)
    bool identity_act = fused() && epi_.activation == UnaryOp::kIdentity;
    std::string key = p->key() + "|tf" + std::to_string(state.allow_tf32) + "|f" + std::to_string(fused());
    ConvPlan* plan = nullptr;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = plans_.find(key);
      if (it == plans_.end()) {
        auto np = std::make_unique<ConvPlan>();
        KILN_RETURN_IF_ERROR(make_descriptors(*p, state.allow_tf32, *np));
        bool tuned = tactic_ >= 0 && p->key() == tuned_key_ && !identity_act;
        if (identity_act) {
          // cuDNN's fused op with an identity activation requires this algorithm.
          np->algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM;
          KILN_RETURN_IF_ERROR(workspace_for(state.dnn, *p, *np));
          if (np->workspace > ctx.workspace_bytes) return layer_error(layer_, StatusCode::kOutOfMemory, "fused conv workspace");
        } else {
          if (tuned) {
            np->algo = static_cast<int>(tactic_);
            KILN_RETURN_IF_ERROR(workspace_for(state.dnn, *p, *np));
            tuned = np->workspace <= ctx.workspace_bytes;
          }
          if (!tuned) KILN_RETURN_IF_ERROR(heuristic_algo(state.dnn, *p, *np, ctx.workspace_bytes));
        }
        if (fused()) {
          KILN_CUDNN_RETURN(cudnnCreateActivationDescriptor(&np->ad));
          cudnnActivationMode_t mode = epi_.activation == UnaryOp::kRelu ? CUDNN_ACTIVATION_RELU : CUDNN_ACTIVATION_IDENTITY;
          KILN_CUDNN_RETURN(cudnnSetActivationDescriptor(np->ad, mode, CUDNN_PROPAGATE_NAN, 0.0));
        }
        it = plans_.emplace(key, std::move(np)).first;
      }
      plan = it->second.get();
    }
    cudaStream_t stream = static_cast<cudaStream_t>(ctx.stream);
    const void* bias = has_bias ? in[2].data : zero_bias_;
    if (!fused()) {
      return run_conv(state.dnn, *p, *plan, in[0].data, in[1].data, bias, out[0].data, ctx.workspace,
                      ctx.workspace_bytes, stream);
    }
    const void* z = epi_.residual >= 0 ? ctx.tensors[static_cast<size_t>(epi_.residual)].data : out[0].data;
    float one = 1.0f, alpha2 = epi_.residual >= 0 ? 1.0f : 0.0f;
    KILN_CUDNN_RETURN(cudnnSetStream(state.dnn, stream));
    if (plan->fused_ok) {
      cudnnStatus_t st = cudnnConvolutionBiasActivationForward(
          state.dnn, &one, plan->xd, in[0].data, plan->wd, in[1].data, plan->cd,
          static_cast<cudnnConvolutionFwdAlgo_t>(plan->algo), ctx.workspace, ctx.workspace_bytes, &alpha2, plan->yd, z,
          plan->bd, bias, plan->ad, plan->yd, out[0].data);
      if (st == CUDNN_STATUS_SUCCESS) return {};
      if (st != CUDNN_STATUS_NOT_SUPPORTED) return cudnn_status(st, "cudnnConvolutionBiasActivationForward", __FILE__, __LINE__);
      plan->fused_ok = false;  // this configuration has no fused kernel: run the steps separately
    }
    KILN_RETURN_IF_ERROR(run_conv(state.dnn, *p, *plan, in[0].data, in[1].data, bias, out[0].data, ctx.workspace,
                                  ctx.workspace_bytes, stream));
    if (epi_.residual >= 0) KILN_CUDNN_RETURN(cudnnAddTensor(state.dnn, &one, plan->yd, z, &one, plan->yd, out[0].data));
    if (epi_.activation != UnaryOp::kIdentity) {
      float zero = 0.0f;
      KILN_CUDNN_RETURN(cudnnActivationForward(state.dnn, plan->ad, &one, plan->yd, out[0].data, &zero, plan->yd, out[0].data));
    }
    return {};
  }

  size_t workspace_bytes(std::span<const TensorView>) const override { return kConvWorkspace; }
  std::string describe() const override {
    std::string d = "cuda.cudnn_conv#" + std::to_string(tactic_);
    if (epi_.residual >= 0) d += "+add";
    if (epi_.activation == UnaryOp::kRelu) d += "+relu";
    return d;
  }

 private:
  const ir::Layer& layer_;
  EpilogueSpec epi_;
  std::string tuned_key_;
  int64_t tactic_;
  void* zero_bias_;
  mutable std::mutex mu_;
  mutable std::map<std::string, std::unique_ptr<ConvPlan>> plans_;
};

}  // namespace

size_t workspace_convolution(const ir::Layer&, std::span<const TensorView>, std::span<const TensorView>) {
  return kConvWorkspace;
}

Status launch_convolution(const LaunchArgs& a) {
  return layer_error(a.layer, StatusCode::kInternal, "convolution runs through the cuDNN kernel");
}

Status supports_convolution(const ir::Graph&, const ir::Layer& l) {
  const auto& p = std::get<ConvolutionParams>(l.params);
  for (size_t i = 0; i < p.pads_begin.size(); ++i) {
    if (p.pads_begin[i] != p.pads_end[i])
      return make_error(StatusCode::kUnsupported, "backends.cuda", "asymmetric convolution padding");
  }
  return {};
}

Expected<backend::KernelRecord> tune_convolution(int32_t layer, TuneContext& ctx) {
  const ir::Layer& l = ctx.graph.layers[static_cast<size_t>(layer)];
  backend::KernelRecord rec;
  rec.layers = {layer};
  rec.kernel = "cuda.cudnn_conv";
  rec.tactic = -1;
  std::vector<TensorView> in(l.inputs.size()), out(1);
  for (size_t i = 0; i < in.size(); ++i) {
    if (l.inputs[i] < 0) continue;
    const TensorType& t = ctx.opt_types[static_cast<size_t>(l.inputs[i])];
    in[i] = TensorView{reinterpret_cast<void*>(1), t.dtype, t.dims};  // non-null marks presence
  }
  const TensorType& ot = ctx.opt_types[static_cast<size_t>(l.outputs[0])];
  out[0] = TensorView{nullptr, ot.dtype, ot.dims};
  auto p = make_problem(l, in, out);
  if (!p) return p.status();
  if (ctx.optimization_level < 2 || out[0].numel() == 0) return rec;
  std::string key = "conv|" + p->key() + "|tf" + std::to_string(ctx.state.allow_tf32);
  if (ctx.cache) {
    if (auto hit = ctx.cache->find(key)) {
      std::string k = p->key();
      rec.tactic = hit->tactic;
      rec.config.assign(k.begin(), k.end());
      return rec;
    }
  }
  ConvPlan plan;
  KILN_RETURN_IF_ERROR(make_descriptors(*p, ctx.state.allow_tf32, plan));
  size_t ws_limit = ctx.workspace_limit ? std::min<size_t>(ctx.workspace_limit, kConvWorkspace) : kConvWorkspace;
  size_t es = dtype_size(p->dt);
  size_t xb = static_cast<size_t>(in[0].numel()) * es, wb = static_cast<size_t>(in[1].numel()) * es;
  size_t yb = static_cast<size_t>(out[0].numel()) * es;
  uint8_t* buf = nullptr;
  auto up = [](size_t v) { return (v + 255) / 256 * 256; };
  KILN_CUDA_RETURN(cudaMalloc(&buf, up(xb) + up(wb) + up(yb) + ws_limit));
  uint8_t *px = buf, *pw = px + up(xb), *py = pw + up(wb), *pws = py + up(yb);
  Status s = fill_random(px, p->dt, in[0].numel(), ctx.stream);
  if (s.ok()) s = fill_random(pw, p->dt, in[1].numel(), ctx.stream);
  if (s.ok()) {
    cudaError_t e = cudaStreamSynchronize(ctx.stream);
    if (e != cudaSuccess) s = cuda_status(e, "cudaStreamSynchronize", __FILE__, __LINE__);
  }
  int best = -1;
  float best_ms = 0;
  if (s.ok()) {
    cudnnSetStream(ctx.state.dnn, ctx.stream);
    int returned = 0;
    if (!p->transposed) {
      cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
      cudnnStatus_t st = cudnnFindConvolutionForwardAlgorithmEx(ctx.state.dnn, plan.xd, px, plan.wd, pw, plan.cd, plan.yd, py,
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
      cudnnStatus_t st = cudnnFindConvolutionBackwardDataAlgorithmEx(ctx.state.dnn, plan.wd, pw, plan.xd, px, plan.cd, plan.yd, py,
                                                                     CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &returned, perf, pws,
                                                                     ws_limit);
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
  std::string tuned_key = p->key();
  rec.config.assign(tuned_key.begin(), tuned_key.end());
  if (ctx.cache) ctx.cache->put(key, builder::CachedTactic{rec.tactic, {}, best_ms});
  return rec;
}

Expected<std::unique_ptr<backend::Kernel>> create_convolution_kernel(const ir::Graph& g, const backend::KernelRecord& rec) {
  const ir::Layer& l = g.layers[static_cast<size_t>(rec.layers[0])];
  if (l.op != ir::OpKind::kConvolution)
    return make_error(StatusCode::kCorruptPlan, "backends.cuda", "conv kernel record does not name a convolution layer");
  if (rec.tactic < -1 || rec.tactic > 64)
    return make_error(StatusCode::kCorruptPlan, "backends.cuda", "bad convolution tactic for layer '" + l.name + "'");
  EpilogueSpec epi;
  if (!decode_epilogue(g, rec.layers, epi))
    return make_error(StatusCode::kCorruptPlan, "backends.cuda", "bad fused group at layer '" + l.name + "'");
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
  return std::unique_ptr<backend::Kernel>(std::make_unique<ConvKernel>(l, epi, key, rec.tactic, zero_bias));
}

}  // namespace kiln::cuda
