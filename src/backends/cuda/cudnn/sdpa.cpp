// cuDNN fused attention (flash-attention forward) through the cuDNN frontend's graph API: a timed
// tactic beside Kiln's own attention kernels (kernels/attention.cu).
//
// Eligible: f16/bf16 q/k/v/output of rank 2..4 whose batch dims are equal (no broadcasting), head
// dim E == Ev, a multiple of 8 and at most 128; no mask, or an additive mask of q's dtype
// broadcastable to [B, H, Lq, Lk] on a layer with zero_masked_rows (cuDNN gives zeros for a fully
// masked row; without the flag Kiln's layer gives NaN there); causal (top-left, as Kiln's layer);
// scale as the layer gives it. Not eligible (the own kernels run): bool masks, masks without
// zero_masked_rows, Lk == 0.
//
// tune_attention times both on the opt shapes and checks cuDNN's output against the own kernel on
// the same random operands; the plan records kernel "cuda.attention_cudnn" only when cuDNN is
// faster and agrees. At run time each concrete shape gets a cuDNN graph (built once per process and
// device, shared by every layer and context with that problem); a shape cuDNN cannot take runs the
// own kernel.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "backends/cuda/cuda_common.h"
#include "backends/cuda/cuda_kernels.h"
#include "backends/cuda/tactics.h"

#if KILN_WITH_CUDNN_FRONTEND
#define CUDNN_FRONTEND_SKIP_JSON_LIB 1
#include <cudnn_frontend.h>
#endif

namespace kiln::cuda {
namespace {

constexpr const char* kCudnnAttention = "cuda.attention_cudnn";

#if KILN_WITH_CUDNN_FRONTEND
namespace fe = cudnn_frontend;

// One attention problem as cuDNN sees it: [B, H, L, E] tensors, contiguous or strided views.
struct SdpaShape {
  DataType dt = DataType::kFloat16;
  int64_t b = 1, h = 1, lq = 0, lk = 0, e = 0;
  float scale = 1.0f;
  bool causal = false;
  bool has_mask = false;
  int64_t mdims[4] = {1, 1, 1, 1};  // the mask broadcast to 4-D (1 where broadcast)
  int64_t mstrides[4] = {0, 0, 0, 0};
  bool strided = false;
  int64_t st[4][4] = {};  // strided: element strides of Q, K, V, O as [B, H, L, E]

  std::string key() const {
    std::string k = "sdpa|" + std::to_string(static_cast<int>(dt)) + "|" + std::to_string(b) + "x" +
                    std::to_string(h) + "x" + std::to_string(lq) + "x" + std::to_string(lk) + "x" +
                    std::to_string(e) + "|c" + std::to_string(causal) + "|s";
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.9g", static_cast<double>(scale));
    k += buf;
    if (has_mask) {
      k += "|m";
      for (int d = 0; d < 4; ++d) k += std::to_string(mdims[d]) + ",";
    }
    if (strided) {
      k += "|st";
      for (const auto& t : st)
        for (int64_t x : t) k += std::to_string(x) + ",";
    }
    return k;
  }
};

// The problem of `layer` at these shapes, or why cuDNN's fused attention cannot take it.
Expected<SdpaShape> sdpa_shape(const ir::Layer& layer, std::span<const TensorView> in,
                               std::span<const TensorView> out,
                               const AttentionStrides* strides = nullptr) {
  auto no = [&](const std::string& why) {
    return make_error(StatusCode::kUnsupported, "backends.cuda.cudnn", why);
  };
  if (layer.op != ir::OpKind::kAttention || in.size() < 3 || out.empty())
    return no("not an attention layer");
  const auto& params = std::get<AttentionParams>(layer.params);
  const TensorView &q = in[0], &k = in[1], &v = in[2];
  SdpaShape s;
  s.dt = q.dtype;
  if (s.dt != DataType::kFloat16 && s.dt != DataType::kBFloat16) return no("dtype");
  if (k.dtype != s.dt || v.dtype != s.dt || out[0].dtype != s.dt) return no("mixed dtypes");
  const int r = q.dims.rank();
  if (r < 2 || r > 4 || k.dims.rank() != r || v.dims.rank() != r || out[0].dims.rank() != r)
    return no("rank");
  for (int d = 0; d < r - 2; ++d) {
    if (k.dims[d] != q.dims[d] || v.dims[d] != q.dims[d]) return no("broadcast batch dims");
  }
  s.b = r == 4 ? q.dims[0] : r == 3 ? q.dims[0] : 1;
  s.h = r == 4 ? q.dims[1] : 1;
  s.lq = q.dims[r - 2];
  s.e = q.dims[r - 1];
  s.lk = k.dims[r - 2];
  if (k.dims[r - 1] != s.e || v.dims[r - 2] != s.lk || v.dims[r - 1] != s.e)
    return no("head dims differ");
  if (s.e % 8 != 0 || s.e > 128 || s.lq <= 0 || s.lk <= 0) return no("head dim or length");
  if (out[0].dims[r - 2] != s.lq || out[0].dims[r - 1] != s.e) return no("output dims");
  s.causal = params.causal;
  s.scale = params.scale != 0.0 ? static_cast<float>(params.scale)
                                : static_cast<float>(1.0 / std::sqrt(static_cast<double>(s.e)));
  const bool mask = in.size() > 3 && layer.inputs.size() > 3 && layer.inputs[3] >= 0;
  // A row the mask hides completely gives zeros in cuDNN; Kiln's layer gives NaN there unless
  // zero_masked_rows is set (as torch's math attention), so a mask needs that flag. Top-left causal
  // attention always leaves key 0 to every row.
  if (mask && !params.zero_masked_rows) return no("a mask without zero_masked_rows");
  if (mask) {
    const TensorView& m = in[3];
    if (m.dtype != s.dt) return no("mask dtype (bool masks run Kiln's kernels)");
    const int rm = m.dims.rank();
    if (rm > 4 || rm < 1) return no("mask rank");
    const int64_t full[4] = {s.b, s.h, s.lq, s.lk};
    int64_t stride = 1;
    for (int d = 3; d >= 0; --d) {
      const int md = d - (4 - rm);
      int64_t n = md < 0 ? 1 : m.dims[md];
      if (n != 1 && n != full[d]) return no("mask does not broadcast");
      s.mdims[d] = n;
      s.mstrides[d] = n == 1 ? 0 : stride;
      stride *= n;
    }
    s.has_mask = true;
  }
  if (strides != nullptr) {
    if (r != 4) return no("strided views of rank other than 4");
    for (int o = 0; o < 4; ++o) {
      s.st[o][0] = strides->batch[o][0];
      s.st[o][1] = strides->batch[o][1];
      s.st[o][2] = strides->row[o];
      s.st[o][3] = 1;
    }
    s.strided = true;
  }
  return s;
}

enum : int64_t { kQ = 1, kK = 2, kV = 3, kO = 4, kBias = 5 };

struct SdpaGraph {
  std::shared_ptr<fe::graph::Graph> graph;
  int64_t workspace = 0;
  std::string error;  // non-empty: cuDNN cannot run this problem
};

std::vector<int64_t> contiguous(const std::vector<int64_t>& d) {
  std::vector<int64_t> s(d.size(), 1);
  for (int i = static_cast<int>(d.size()) - 2; i >= 0; --i) s[i] = s[i + 1] * d[i + 1];
  return s;
}

std::shared_ptr<SdpaGraph> build_graph(const SdpaShape& s, cudnnHandle_t handle) {
  auto out = std::make_shared<SdpaGraph>();
  auto g = std::make_shared<fe::graph::Graph>();
  const auto io = s.dt == DataType::kBFloat16 ? fe::DataType_t::BFLOAT16 : fe::DataType_t::HALF;
  g->set_io_data_type(io)
      .set_intermediate_data_type(fe::DataType_t::FLOAT)
      .set_compute_data_type(fe::DataType_t::FLOAT);
  auto strides_of = [&](int operand, const std::vector<int64_t>& dims) {
    if (!s.strided) return contiguous(dims);
    return std::vector<int64_t>(s.st[operand], s.st[operand] + 4);
  };
  auto tensor = [&](const char* name, int64_t uid, int operand, std::vector<int64_t> dims) {
    auto st = strides_of(operand, dims);
    return g->tensor(
        fe::graph::Tensor_attributes().set_name(name).set_uid(uid).set_dim(dims).set_stride(st));
  };
  auto q = tensor("Q", kQ, 0, {s.b, s.h, s.lq, s.e});
  auto k = tensor("K", kK, 1, {s.b, s.h, s.lk, s.e});
  auto v = tensor("V", kV, 2, {s.b, s.h, s.lk, s.e});
  auto opts = fe::graph::SDPA_attributes()
                  .set_name("kiln_sdpa")
                  .set_generate_stats(false)
                  .set_attn_scale(s.scale);
  if (s.causal) opts.set_causal_mask(true);
  if (s.has_mask) {
    // cuDNN's bias is [b|1, h|1, Lq, Lk]; a mask broadcast along Lq or Lk gets stride 0 there.
    std::vector<int64_t> dims = {s.mdims[0], s.mdims[1], s.lq, s.lk};
    std::vector<int64_t> strides = {s.mstrides[0], s.mstrides[1], s.mstrides[2], s.mstrides[3]};
    opts.set_bias(g->tensor(
        fe::graph::Tensor_attributes().set_name("bias").set_uid(kBias).set_dim(dims).set_stride(
            strides)));
  }
  auto [o, stats] = g->sdpa(q, k, v, opts);
  (void)stats;
  o->set_output(true)
      .set_uid(kO)
      .set_dim({s.b, s.h, s.lq, s.e})
      .set_stride(strides_of(3, {s.b, s.h, s.lq, s.e}));
  auto err = g->validate();
  if (err.is_good()) err = g->build_operation_graph(handle);
  if (err.is_good()) err = g->create_execution_plans({fe::HeurMode_t::A});
  if (err.is_good()) err = g->check_support(handle);
  if (err.is_good()) err = g->build_plans(handle);
  if (err.is_good()) err = g->get_workspace_size(out->workspace);
  cudaGetLastError();
  if (!err.is_good()) {
    out->error = err.get_message();
    if (out->error.empty()) out->error = "not supported";
    return out;
  }
  out->graph = std::move(g);
  return out;
}

// Graphs by (device, problem): built once per process, shared by layers and contexts. They are
// built with a process-wide cuDNN handle per device (Kernel::workspace_bytes, which sizes the
// workspace before a run, has no context) and run with the context's handle on the same device.
std::shared_ptr<SdpaGraph> get_graph(const SdpaShape& s) {
  static std::mutex mu;
  static std::map<std::string, std::shared_ptr<SdpaGraph>> graphs;
  static std::map<int, cudnnHandle_t> handles;
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess) {
    cudaGetLastError();
    auto g = std::make_shared<SdpaGraph>();
    g->error = "no current device";
    return g;
  }
  const std::string key = std::to_string(device) + "|" + s.key();
  std::lock_guard<std::mutex> lock(mu);
  auto it = graphs.find(key);
  if (it != graphs.end()) return it->second;
  cudnnHandle_t& h = handles[device];
  if (h == nullptr && cudnnCreate(&h) != CUDNN_STATUS_SUCCESS) {
    h = nullptr;
    auto g = std::make_shared<SdpaGraph>();
    g->error = "cudnnCreate failed";
    return g;
  }
  auto g = build_graph(s, h);
  graphs.emplace(key, g);
  return g;
}

Status execute(const SdpaGraph& g, const SdpaShape& s, std::span<const TensorView> in,
               const TensorView& out, void* workspace, cudaStream_t stream, CudaState& state) {
  std::unordered_map<int64_t, void*> pack = {
      {kQ, in[0].data}, {kK, in[1].data}, {kV, in[2].data}, {kO, out.data}};
  if (s.has_mask) pack[kBias] = in[3].data;
  cudnnStatus_t st = cudnnSetStream(state.dnn, stream);
  if (st != CUDNN_STATUS_SUCCESS) return cudnn_status(st, "cudnnSetStream", __FILE__, __LINE__);
  auto err = g.graph->execute(state.dnn, pack, workspace);
  if (!err.is_good())
    return make_error(StatusCode::kBackendError, "backends.cuda.cudnn",
                      "cuDNN fused attention: " + err.get_message());
  return {};
}

class CudnnAttentionKernel final : public backend::Kernel {
 public:
  CudnnAttentionKernel(const ir::Layer& layer, int64_t tactic)
      : layer_(layer), tactic_(tactic), own_(make_layer_kernel(layer)) {}

  Status run(const backend::RunContext& ctx) const override {
    LayerViews v = layer_views(layer_, ctx.tensors);
    Status s = run_cudnn_attention(layer_, v.in, v.out[0], nullptr, ctx.workspace,
                                   ctx.workspace_bytes, static_cast<cudaStream_t>(ctx.stream),
                                   *static_cast<CudaState*>(ctx.backend_state));
    if (s.code() != StatusCode::kUnsupported) return s;
    return own_->run(ctx);  // a shape cuDNN cannot take
  }

  size_t workspace_bytes(std::span<const TensorView> tensors) const override {
    LayerViews v = layer_views(layer_, tensors);
    return std::max(own_->workspace_bytes(tensors),
                    cudnn_attention_workspace(layer_, v.in, v.out[0], nullptr));
  }

  std::string describe() const override {
    return std::string(kCudnnAttention) + "#" + std::to_string(tactic_);
  }

 private:
  const ir::Layer& layer_;
  int64_t tactic_;
  std::unique_ptr<backend::Kernel> own_;
};
#endif  // KILN_WITH_CUDNN_FRONTEND

}  // namespace

Status run_cudnn_attention(const ir::Layer& layer, std::span<const TensorView> in,
                           const TensorView& out, const AttentionStrides* strides, void* workspace,
                           size_t workspace_bytes, cudaStream_t stream, CudaState& state) {
#if KILN_WITH_CUDNN_FRONTEND
  auto shape = sdpa_shape(layer, in, std::span<const TensorView>(&out, 1), strides);
  if (!shape) return shape.status();
  auto g = get_graph(*shape);
  if (!g->graph) return make_error(StatusCode::kUnsupported, "backends.cuda.cudnn", g->error);
  if (static_cast<size_t>(g->workspace) > workspace_bytes)
    return make_error(StatusCode::kUnsupported, "backends.cuda.cudnn", "workspace too small");
  return execute(*g, *shape, in, out, workspace, stream, state);
#else
  (void)layer, (void)in, (void)out, (void)strides, (void)workspace, (void)workspace_bytes,
      (void)stream, (void)state;
  return make_error(StatusCode::kUnsupported, "backends.cuda.cudnn",
                    "built without the cuDNN frontend");
#endif
}

size_t cudnn_attention_workspace(const ir::Layer& layer, std::span<const TensorView> in,
                                 const TensorView& out, const AttentionStrides* strides) {
#if KILN_WITH_CUDNN_FRONTEND
  auto shape = sdpa_shape(layer, in, std::span<const TensorView>(&out, 1), strides);
  if (!shape) return 0;
  auto g = get_graph(*shape);
  return g->graph ? static_cast<size_t>(g->workspace) : 0;
#else
  (void)layer, (void)in, (void)out, (void)strides;
  return 0;
#endif
}

Expected<backend::KernelRecord> tune_attention(int32_t layer, TuneContext& ctx) {
  const ir::Layer& l = ctx.graph.layers[static_cast<size_t>(layer)];
  backend::KernelRecord rec;
  rec.layers = {layer};
  rec.kernel = "cuda." + std::string(ir::op_name(l.op));
#if KILN_WITH_CUDNN_FRONTEND
  if (ctx.optimization_level < 2) return rec;
  std::vector<TensorView> views(ctx.graph.tensors.size());
  std::vector<TensorView> in(l.inputs.size()), out(l.outputs.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (l.inputs[i] < 0) continue;
    const TensorType& t = ctx.opt_types[static_cast<size_t>(l.inputs[i])];
    in[i] = TensorView{nullptr, t.dtype, t.dims};
  }
  for (size_t i = 0; i < out.size(); ++i) {
    const TensorType& t = ctx.opt_types[static_cast<size_t>(l.outputs[i])];
    out[i] = TensorView{nullptr, t.dtype, t.dims};
  }
  auto shape = sdpa_shape(l, in, out);
  if (!shape) return rec;
  const std::string key = shape->key();
  if (ctx.cache) {
    if (auto hit = ctx.cache->find(key)) {
      if (hit->tactic == 1) {
        rec.kernel = kCudnnAttention;
        rec.tactic = 1;
      }
      return rec;
    }
  }
  auto graph = get_graph(*shape);
  if (!graph->graph) {
    ctx.logger.log(Severity::kVerbose, "layer '" + l.name +
                                           "': cuDNN fused attention cannot run it (" +
                                           graph->error + "); Kiln's kernel runs");
    if (ctx.cache) ctx.cache->put(key, builder::CachedTactic{0, {}, 0.0f});
    return rec;
  }
  // Operands, both outputs and the larger workspace in one allocation.
  auto up = [](size_t v) { return (v + 255) / 256 * 256; };
  std::vector<size_t> offsets;
  size_t total = 0;
  auto add = [&](size_t bytes) {
    offsets.push_back(total);
    total += up(std::max<size_t>(bytes, 1));
  };
  for (const TensorView& t : in) add(t.bytes());
  add(out[0].bytes());  // cuDNN's output
  auto own = make_layer_kernel(l);
  for (size_t i = 0; i < in.size(); ++i)
    if (l.inputs[i] >= 0) views[static_cast<size_t>(l.inputs[i])] = in[i];
  views[static_cast<size_t>(l.outputs[0])] = out[0];
  const size_t ws = std::max(static_cast<size_t>(graph->workspace), own->workspace_bytes(views));
  add(ws);
  uint8_t* buf = nullptr;
  KILN_CUDA_RETURN(cudaMalloc(&buf, total + up(out[0].bytes())));
  uint8_t* own_out = buf + total;
  Status s;
  for (size_t i = 0; s.ok() && i < in.size(); ++i) {
    if (l.inputs[i] < 0) continue;
    in[i].data = buf + offsets[i];
    views[static_cast<size_t>(l.inputs[i])] = in[i];
    s = fill_random(in[i].data, in[i].dtype, in[i].numel(), ctx.stream, 11 + i);
  }
  TensorView cudnn_out = out[0];
  cudnn_out.data = buf + offsets[in.size()];
  void* pws = buf + offsets[in.size() + 1];
  views[static_cast<size_t>(l.outputs[0])] = TensorView{own_out, out[0].dtype, out[0].dims};
  backend::RunContext rc;
  rc.tensors = views;
  rc.stream = ctx.stream;
  rc.backend_state = &ctx.state;
  rc.workspace = pws;
  rc.workspace_bytes = ws;
  float own_ms = 0, cudnn_ms = 0;
  if (s.ok()) {
    auto t = time_on_stream(ctx.stream, 10, [&] { return own->run(rc); });
    if (t)
      own_ms = *t;
    else
      s = t.status();
  }
  Status cs;
  if (s.ok()) {
    auto t = time_on_stream(ctx.stream, 10, [&] {
      return execute(*graph, *shape, in, cudnn_out, pws, ctx.stream, ctx.state);
    });
    if (t)
      cudnn_ms = *t;
    else
      cs = t.status();
  }
  if (s.ok() && cs.ok()) {
    const double tol = shape->dt == DataType::kBFloat16 ? 3e-2 : 1e-2;
    cs = check_close(cudnn_out.data, own_out, shape->dt, out[0].numel(), tol, tol, ctx.stream,
                     "cuDNN fused attention of layer '" + l.name + "'");
  }
  cudaStreamSynchronize(ctx.stream);
  cudaGetLastError();
  cudaFree(buf);
  KILN_RETURN_IF_ERROR(s);
  const bool use = cs.ok() && cudnn_ms < own_ms;
  if (!cs.ok())
    ctx.logger.log(Severity::kWarning, cs.message() + "; Kiln's attention kernel runs");
  else
    ctx.logger.log(Severity::kVerbose, "layer '" + l.name + "': attention " + key + " own " +
                                           std::to_string(own_ms) + " ms, cuDNN " +
                                           std::to_string(cudnn_ms) + " ms");
  if (use) {
    rec.kernel = kCudnnAttention;
    rec.tactic = 1;
  }
  if (ctx.cache)
    ctx.cache->put(key, builder::CachedTactic{use ? 1 : 0, {}, use ? cudnn_ms : own_ms});
#endif
  return rec;
}

bool is_cudnn_attention_kernel(const std::string& kernel) { return kernel == kCudnnAttention; }

Expected<std::unique_ptr<backend::Kernel>> create_attention_kernel(
    const ir::Graph& g, const backend::KernelRecord& rec) {
  const ir::Layer& l = g.layers[static_cast<size_t>(rec.layers[0])];
  if (l.op != ir::OpKind::kAttention || rec.layers.size() != 1 || rec.tactic != 1)
    return make_error(StatusCode::kCorruptPlan, "backends.cuda",
                      "bad cuDNN attention record for layer '" + l.name + "'");
#if KILN_WITH_CUDNN_FRONTEND
  return std::unique_ptr<backend::Kernel>(std::make_unique<CudnnAttentionKernel>(l, rec.tactic));
#else
  // A plan built with cuDNN fused attention, loaded by a build without the frontend: the own kernel
  // computes the same function.
  return make_layer_kernel(l);
#endif
}

}  // namespace kiln::cuda
