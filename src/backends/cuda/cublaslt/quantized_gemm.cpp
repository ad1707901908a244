// Quantized convolution and linear on CUDA (convolutions channels-first or, after the layout
// pass, channels-last). Tactics:
//   0  the direct kernel (kernels/quantized_layers.cu): any geometry, groups, uint8 inputs;
//   1  a cuBLASLt GEMM on 8-bit tensor cores: int8 x int8 -> int32 (IMMA, COMPUTE_32I) or
//      e4m3 x e4m3 -> float32, then the requantizing epilogue kernel. Row-major
//      acc[M, Cout] = cols[M, Kp] * W[Cout, Kp]^T is the column-major "TN" product cuBLASLt's
//      8-bit kernels want; a convolution's cols come from im2col (groups 1), a linear reads x
//      directly when K is a multiple of 16. Weights are padded to Kp columns at engine load, with
//      their row sums (for the input zero point: sum (x - zx) w = sum x w - zx sum w).
//   2000 + i  channels-last int8 convolutions: the i-th engine candidate of one cuDNN graph with
//      the scale, bias, residual, activation and requantization fused (cudnn/quantized_conv.h).
// The build times them at the opt shape and keeps tactic 1 or a cuDNN candidate only when it
// agrees with tactic 0 on random data (tactic_check.cpp's check_close).
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>

#include "backends/cuda/cudnn/conv_problem.h"
#include "backends/cuda/cudnn/quantized_conv.h"
#include "backends/cuda/quantized_layout.h"
#include "backends/cuda/tactics.h"
#include "common/element_access.h"

namespace kiln::cuda {
namespace {

constexpr int64_t kKAlign = 16;
constexpr size_t kLtWorkspace = 4u << 20;

int64_t round_up(int64_t v, int64_t a) { return (v + a - 1) / a * a; }

QuantizedLayout layout_of(const ir::Layer& l) {
  return l.op == ir::OpKind::kQuantizedConvolution &&
                 std::get<QuantizedConvolutionParams>(l.params).channels_last
             ? QuantizedLayout::kChannelsLast
             : QuantizedLayout::kChannelsFirst;
}

// The GEMM reads x as its [M, K] operand: a linear, or a channels-last 1x1 convolution of stride
// 1 without padding, when K needs no padding.
bool x_is_columns(const QuantizedGeometry& g, QuantizedLayout layout, int64_t kp) {
  bool pointwise = layout == QuantizedLayout::kChannelsLast && g.k_vol() == 1;
  for (int d = 0; d < 3; ++d) pointwise &= g.stride[d] == 1 && g.pad[d] == 0;
  return (g.linear || pointwise) && kp == g.cin;
}

const QuantizedEpilogue& epilogue_params(const ir::Layer& l) {
  if (l.op == ir::OpKind::kQuantizedConvolution)
    return std::get<QuantizedConvolutionParams>(l.params);
  return std::get<QuantizedLinearParams>(l.params);
}

// Bytes of workspace tactic 1 needs: columns (unless a linear reads x directly), accumulators,
// cuBLASLt's scratch.
size_t gemm_workspace(const QuantizedGeometry& g, QuantizedLayout layout) {
  const int64_t m = g.batch * g.out_vol(), kp = round_up(g.cin * g.k_vol(), kKAlign);
  const bool direct_x = x_is_columns(g, layout, kp);
  const size_t cols = direct_x ? 0 : static_cast<size_t>(round_up(m * kp, 256));
  return cols + static_cast<size_t>(round_up(m * g.cout * 4, 256)) + kLtWorkspace;
}

bool gemm_capable(const QuantizedGeometry& g) {
  return g.groups == 1 && !g.x_unsigned && g.cout % 4 == 0 && g.batch * g.out_vol() > 0;
}

// The padded weights [Cout, Kp] and their row sums, on the device.
struct GemmWeights {
  void* w = nullptr;
  int32_t* sums = nullptr;
  int64_t kp = 0;
  ~GemmWeights() {
    if (w) cudaFree(w);
    if (sums) cudaFree(sums);
  }
};

// Uploads host weights [cout, k] (int8 or float8 bytes) padded to kp columns, with row sums.
Status upload_padded(const uint8_t* w, DataType dt, int64_t cout, int64_t k, GemmWeights& gw) {
  gw.kp = round_up(k, kKAlign);
  std::vector<uint8_t> padded(static_cast<size_t>(cout * gw.kp), 0);
  std::vector<int32_t> sums(static_cast<size_t>(cout), 0);
  for (int64_t r = 0; r < cout; ++r) {
    std::memcpy(padded.data() + r * gw.kp, w + r * k, static_cast<size_t>(k));
    if (dt == DataType::kInt8)
      for (int64_t j = 0; j < k; ++j)
        sums[static_cast<size_t>(r)] += static_cast<int8_t>(w[r * k + j]);
  }
  KILN_CUDA_RETURN(cudaMalloc(&gw.w, std::max<size_t>(padded.size(), 1)));
  KILN_CUDA_RETURN(cudaMalloc(&gw.sums, std::max<size_t>(sums.size() * 4, 4)));
  KILN_CUDA_RETURN(cudaMemcpy(gw.w, padded.data(), padded.size(), cudaMemcpyHostToDevice));
  KILN_CUDA_RETURN(cudaMemcpy(gw.sums, sums.data(), sums.size() * 4, cudaMemcpyHostToDevice));
  return {};
}

Status upload_weights(const ir::Graph& g, const ir::Layer& l, GemmWeights& gw) {
  const ir::Layer* c =
      g.tensors[static_cast<size_t>(l.inputs[1])].producer >= 0
          ? &g.layers[static_cast<size_t>(g.tensors[static_cast<size_t>(l.inputs[1])].producer)]
          : nullptr;
  if (c == nullptr || c->op != ir::OpKind::kConstant)
    return layer_error(l, StatusCode::kUnsupported, "the weight is not a constant");
  const ir::Weight& w = g.constant_weight(*c);
  const int64_t cout = w.type.dims[0], k = w.type.dims.volume() / std::max<int64_t>(cout, 1);
  return upload_padded(w.bytes->data(), w.type.dtype, cout, k, gw);
}

// cuBLASLt descriptors of acc[M, Cout] = cols[M, Kp] W[Cout, Kp]^T.
struct LtGemm {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t la = nullptr, lb = nullptr, ld = nullptr;
  cublasLtMatmulAlgo_t algo{};
  bool fp8 = false;
  LtGemm() = default;
  LtGemm(const LtGemm&) = delete;
  LtGemm& operator=(const LtGemm&) = delete;
  ~LtGemm() {
    if (op) cublasLtMatmulDescDestroy(op);
    if (la) cublasLtMatrixLayoutDestroy(la);
    if (lb) cublasLtMatrixLayoutDestroy(lb);
    if (ld) cublasLtMatrixLayoutDestroy(ld);
  }
};

Status make_lt(cublasLtHandle_t lt, bool fp8, int64_t m, int64_t n, int64_t kp, LtGemm& p) {
  p.fp8 = fp8;
  const cublasComputeType_t compute = fp8 ? CUBLAS_COMPUTE_32F : CUBLAS_COMPUTE_32I;
  const cudaDataType_t scale = fp8 ? CUDA_R_32F : CUDA_R_32I;
  const cudaDataType_t ab = fp8 ? CUDA_R_8F_E4M3 : CUDA_R_8I;
  const cudaDataType_t d = fp8 ? CUDA_R_32F : CUDA_R_32I;
  KILN_CUBLAS_RETURN(cublasLtMatmulDescCreate(&p.op, compute, scale));
  const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
  KILN_CUBLAS_RETURN(
      cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
  KILN_CUBLAS_RETURN(
      cublasLtMatmulDescSetAttribute(p.op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
  // Lt A = W (column-major [Kp, Cout]), Lt B = cols (column-major [Kp, M]), D column-major [Cout,
  // M].
  KILN_CUBLAS_RETURN(cublasLtMatrixLayoutCreate(&p.la, ab, static_cast<uint64_t>(kp),
                                                static_cast<uint64_t>(n), kp));
  KILN_CUBLAS_RETURN(cublasLtMatrixLayoutCreate(&p.lb, ab, static_cast<uint64_t>(kp),
                                                static_cast<uint64_t>(m), kp));
  KILN_CUBLAS_RETURN(
      cublasLtMatrixLayoutCreate(&p.ld, d, static_cast<uint64_t>(n), static_cast<uint64_t>(m), n));
  cublasLtMatmulPreference_t pref = nullptr;
  KILN_CUBLAS_RETURN(cublasLtMatmulPreferenceCreate(&pref));
  uint64_t ws = kLtWorkspace;
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws,
                                       sizeof ws);
  cublasLtMatmulHeuristicResult_t result{};
  int returned = 0;
  cublasStatus_t st =
      cublasLtMatmulAlgoGetHeuristic(lt, p.op, p.la, p.lb, p.ld, p.ld, pref, 1, &result, &returned);
  cublasLtMatmulPreferenceDestroy(pref);
  KILN_CUBLAS_RETURN(st);
  if (returned == 0)
    return make_error(
        StatusCode::kUnsupported, "backends.cuda.cublaslt",
        std::string("no cuBLASLt ") + (fp8 ? "float8" : "int8") + " algorithm for this GEMM");
  p.algo = result.algo;
  return {};
}

// Tactic 1 for concrete views: im2col (unless x serves), GEMM, epilogue.
Status run_gemm_path(cublasLtHandle_t lt, const LtGemm& plan, const QuantizedGeometry& g,
                     QuantizedLayout layout, const GemmWeights& gw, const void* x,
                     const QuantizedEpilogueArgs& e, void* ws, size_t ws_bytes,
                     cudaStream_t stream) {
  const int64_t m = g.batch * g.out_vol();
  const bool direct_x = x_is_columns(g, layout, gw.kp);
  if (ws_bytes < gemm_workspace(g, layout))
    return make_error(StatusCode::kInternal, "backends.cuda", "quantized GEMM workspace too small");
  auto* p = static_cast<uint8_t*>(ws);
  const void* cols = x;
  if (!direct_x) {
    KILN_RETURN_IF_ERROR(launch_quantized_im2col(g, layout, x, p, gw.kp, stream));
    cols = p;
    p += round_up(m * gw.kp, 256);
  }
  void* acc = p;
  p += round_up(m * g.cout * 4, 256);
  const int32_t one_i = 1, zero_i = 0;
  const float one_f = 1.0f, zero_f = 0.0f;
  const void* alpha = plan.fp8 ? static_cast<const void*>(&one_f) : &one_i;
  const void* beta = plan.fp8 ? static_cast<const void*>(&zero_f) : &zero_i;
  KILN_CUBLAS_RETURN(cublasLtMatmul(lt, plan.op, alpha, gw.w, plan.la, cols, plan.lb, beta, acc,
                                    plan.ld, acc, plan.ld, &plan.algo, p, kLtWorkspace, stream));
  return launch_quantized_epilogue(g, layout, acc, gw.sums, e, stream);
}

bool is_cudnn_tactic(int64_t t) {
  return t >= kQuantizedCudnnTactic && t < kQuantizedCudnnTactic + 1000;
}

class QuantizedGemmKernel final : public backend::Kernel {
 public:
  QuantizedGemmKernel(const ir::Layer& layer, int64_t tactic)
      : layer_(layer), tactic_(tactic), layout_(layout_of(layer)) {}

  Status init(const ir::Graph& g) {
    if (tactic_ == 1) return upload_weights(g, layer_, weights_);
    if (is_cudnn_tactic(tactic_)) {
      KILN_ASSIGN_OR_RETURN(cudnn_, QuantizedCudnnConv::create(g, layer_));
    }
    return {};
  }

  Status run(const backend::RunContext& ctx) const override {
    LayerViews v = layer_views(layer_, ctx.tensors);
    const QuantizedGeometry g = quantized_geometry(layer_, v.in, v.out[0]);
    const QuantizedEpilogueArgs e = quantized_epilogue(layer_, v.in, v.out[0]);
    const auto stream = static_cast<cudaStream_t>(ctx.stream);
    auto direct = [&] {
      return launch_quantized_direct_kernel(g, layout_, v.in[0].data, v.in[1].data, e, stream);
    };
    auto& state = *static_cast<CudaState*>(ctx.backend_state);
    if (cudnn_ != nullptr) {
      const void* z = v.in.size() > 5 ? v.in[5].data : nullptr;
      if (!conv_graph_aligned({v.in[0].data, v.in[1].data, z, v.out[0].data})) return direct();
      Status st =
          cudnn_->run(state.dnn, v.in, v.out[0], static_cast<int>(tactic_ - kQuantizedCudnnTactic),
                      ctx.workspace, ctx.workspace_bytes, stream);
      // A shape cuDNN has no graph for (another shape than the tuned one) runs the direct kernel.
      return st.code() == StatusCode::kUnsupported ? direct() : st;
    }
    if (tactic_ != 1 || !gemm_capable(g)) return direct();
    const int64_t m = g.batch * g.out_vol();
    const LtGemm* plan = nullptr;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = plans_.find(m);
      if (it == plans_.end()) {
        auto np = std::make_unique<LtGemm>();
        Status s = make_lt(state.lt, g.fp8, m, g.cout, weights_.kp, *np);
        if (!s.ok()) return direct();
        it = plans_.emplace(m, std::move(np)).first;
      }
      plan = it->second.get();
    }
    return run_gemm_path(state.lt, *plan, g, layout_, weights_, v.in[0].data, e, ctx.workspace,
                         ctx.workspace_bytes, stream);
  }

  size_t workspace_bytes(std::span<const TensorView> tensors) const override {
    if (cudnn_ != nullptr) return kQuantizedCudnnWorkspace;
    if (tactic_ != 1) return 0;
    LayerViews v = layer_views(layer_, tensors);
    return gemm_workspace(quantized_geometry(layer_, v.in, v.out[0]), layout_);
  }
  std::string describe() const override {
    return std::string(kQuantizedGemmKernel) +
           (cudnn_ != nullptr ? "#cudnn_int8" : (tactic_ == 1 ? "#cublaslt" : "#direct"));
  }

 private:
  const ir::Layer& layer_;
  int64_t tactic_;
  QuantizedLayout layout_;
  GemmWeights weights_;
  std::unique_ptr<QuantizedCudnnConv> cudnn_;
  mutable std::mutex mu_;
  mutable std::map<int64_t, std::unique_ptr<LtGemm>> plans_;  // by M; guarded by mu_
};

}  // namespace

QuantizedGeometry quantized_geometry(const ir::Layer& layer, std::span<const TensorView> in,
                                     const TensorView& out) {
  QuantizedGeometry g;
  const TensorView &x = in[0], &w = in[1];
  g.fp8 = x.dtype == DataType::kFloat8E4M3;
  g.x_unsigned = x.dtype == DataType::kUInt8;
  g.x_zero_point = epilogue_params(layer).x_zero_point;
  if (layer.op == ir::OpKind::kQuantizedLinear) {
    g.linear = true;
    g.cin = w.dims[1];
    g.cout = w.dims[0];
    g.batch = g.cin == 0 ? out.numel() / std::max<int64_t>(g.cout, 1) : x.numel() / g.cin;
    return g;
  }
  const auto& p = std::get<QuantizedConvolutionParams>(layer.params);
  const int spatial = x.dims.rank() - 2;
  // channels_last: x [N, H, W, C], w [K, R, S, C/g], y [N, OH, OW, K].
  const int first = p.channels_last ? 1 : 2, cdim = p.channels_last ? x.dims.rank() - 1 : 1;
  g.batch = x.dims[0];
  g.cin = x.dims[cdim];
  g.cout = out.dims[cdim];
  g.groups = p.groups;
  for (int i = 0; i < spatial; ++i) {
    const int d = 3 - spatial + i;
    const auto pi = static_cast<size_t>(i);
    g.in[d] = x.dims[i + first];
    g.out[d] = out.dims[i + first];
    g.k[d] = w.dims[i + first];
    g.stride[d] = p.strides[pi];
    g.pad[d] = p.pads_begin[pi];
    g.dil[d] = p.dilations[pi];
  }
  return g;
}

QuantizedEpilogueArgs quantized_epilogue(const ir::Layer& layer, std::span<const TensorView> in,
                                         const TensorView& out) {
  const QuantizedEpilogue& p = epilogue_params(layer);
  QuantizedEpilogueArgs e;
  e.x_scale = static_cast<const float*>(in[2].data);
  e.w_scale = static_cast<const float*>(in[3].data);
  e.w_scale_count = in[3].numel();
  if (in.size() > 4 && in[4].data != nullptr) {
    e.bias = in[4].data;
    e.bias_dtype = in[4].dtype;
  }
  if (in.size() > 5 && in[5].data != nullptr) {
    e.residual = in[5].data;
    e.residual_dtype = in[5].dtype;
  }
  e.activation = p.activation;
  e.activation_alpha = static_cast<float>(p.activation_alpha);
  e.activation_beta = static_cast<float>(p.activation_beta);
  e.out = out.data;
  e.out_dtype = out.dtype;
  if (in.size() > 6 && in[6].data != nullptr) e.out_scale = static_cast<const float*>(in[6].data);
  e.out_zero_point = static_cast<float>(p.out_zero_point);
  e.quant_min = static_cast<float>(p.quant_min);
  e.quant_max = static_cast<float>(p.quant_max);
  e.x_zero_point = p.x_zero_point;
  return e;
}

Status launch_quantized_layer(const LaunchArgs& a) {
  const QuantizedGeometry g = quantized_geometry(a.layer, a.in, a.out[0]);
  return launch_quantized_direct_kernel(g, layout_of(a.layer), a.in[0].data, a.in[1].data,
                                        quantized_epilogue(a.layer, a.in, a.out[0]), a.stream);
}

Status supports_quantized_layer(const ir::Graph& g, const ir::Layer& l) {
  const TensorType& x = g.tensors[static_cast<size_t>(l.inputs[0])].type;
  if (x.dims.rank() > 5)
    return make_error(StatusCode::kUnsupported, "backends.cuda", "input of rank above 5");
  return {};
}

// Times cuDNN's int8 graph candidates (kGraphCandidatesTimed at most) on the scratch operands
// (x_scale = w_scale = 1/64, the given out_scale), writing `out`; a candidate counts when it is
// faster than `best` (lowered to its time) and `agrees` with the direct kernel. The winning
// candidate's index, or -1.
template <class Agrees>
Expected<float> time_cudnn_candidates(const ir::Layer& l, std::span<const TensorView> in,
                                      const TensorView& out_type, void* out, float out_scale,
                                      void* ws, size_t ws_bytes, float& best, Agrees&& agrees,
                                      TuneContext& ctx) {
  const int64_t cout = out_type.dims[out_type.dims.rank() - 1];
  std::vector<float> alpha(static_cast<size_t>(cout), (1.0f / 64) * (1.0f / 64)), bias;
  if (in.size() > 4 && in[4].data != nullptr) {  // the scratch bias, read back
    std::vector<uint8_t> host(static_cast<size_t>(in[4].numel()) * dtype_size(in[4].dtype));
    KILN_CUDA_RETURN(cudaMemcpy(host.data(), in[4].data, host.size(), cudaMemcpyDeviceToHost));
    for (int64_t c = 0; c < in[4].numel(); ++c)
      bias.push_back(static_cast<float>(load_as_double(host.data(), in[4].dtype, c)));
  }
  std::optional<float> mult;
  if (out_type.dtype == DataType::kInt8) mult = 1.0f / out_scale;
  KILN_ASSIGN_OR_RETURN(auto conv, QuantizedCudnnConv::create(l, alpha, bias, mult));
  const TensorView y{out, out_type.dtype, out_type.dims};
  auto n = conv->candidates(ctx.state.dnn, in, y);
  if (!n) {
    ctx.logger.log(Severity::kVerbose, "[backends.cuda] layer '" + l.name +
                                           "': no cuDNN int8 graph (" + n.status().message() + ")");
    return -1.0f;
  }
  int winner = -1;
  for (int i = 0; i < std::min(*n, kGraphCandidatesTimed); ++i) {
    auto t = time_on_stream(ctx.stream, 3, [&] {
      return conv->run(ctx.state.dnn, in, y, i, ws, ws_bytes, ctx.stream);
    });
    Status ok = t ? agrees("cuDNN int8 graph candidate " + std::to_string(i)) : t.status();
    ctx.logger.log(
        Severity::kVerbose,
        "[backends.cuda] layer '" + l.name + "': cuDNN int8 candidate " + std::to_string(i) +
            (ok.ok() ? ": " + std::to_string(*t) + " ms" : " not used (" + ok.message() + ")"));
    if (ok.ok() && *t < best) {
      best = *t;
      winner = i;
    }
  }
  return static_cast<float>(winner);
}

Expected<backend::KernelRecord> tune_quantized(int32_t layer, TuneContext& ctx) {
  const ir::Layer& l = ctx.graph.layers[static_cast<size_t>(layer)];
  backend::KernelRecord rec;
  rec.layers = {layer};
  rec.kernel = kQuantizedGemmKernel;
  rec.tactic = 0;
  // Views at the opt shapes on scratch memory, with random operands.
  std::vector<TensorView> in(l.inputs.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (l.inputs[i] < 0) continue;
    const TensorType& t = ctx.opt_types[static_cast<size_t>(l.inputs[i])];
    in[i] = TensorView{nullptr, t.dtype, t.dims};
  }
  const TensorType& ot = ctx.opt_types[static_cast<size_t>(l.outputs[0])];
  TensorView out{nullptr, ot.dtype, ot.dims};
  QuantizedGeometry g = quantized_geometry(l, in, out);
  const QuantizedLayout layout = layout_of(l);
  const bool try_gemm = gemm_capable(g);
  const std::string cudnn_refusal = quantized_cudnn_refusal(ctx.graph, l);
  const bool try_cudnn = cudnn_refusal.empty();
  if (ctx.optimization_level < 2 || (!try_gemm && !try_cudnn)) return rec;
  std::string key = "qgemm|" + std::string(dtype_name(in[0].dtype)) + "|" +
                    std::to_string(g.batch * g.out_vol()) + "x" + std::to_string(g.cout) + "x" +
                    std::to_string(g.cin * g.k_vol()) + "|lin" + std::to_string(g.linear);
  if (!g.linear) {  // the convolution's geometry, layout and epilogue (cuDNN candidates differ)
    key += "|in" + in[0].dims.to_string() + "|k" + in[1].dims.to_string() + "|s" +
           std::to_string(g.stride[1]) + "," + std::to_string(g.stride[2]) + "|p" +
           std::to_string(g.pad[1]) + "," + std::to_string(g.pad[2]) + "|d" +
           std::to_string(g.dil[1]) + "," + std::to_string(g.dil[2]) + "|g" +
           std::to_string(g.groups) + "|nhwc" +
           std::to_string(layout == QuantizedLayout::kChannelsLast) + "|out" +
           std::string(dtype_name(out.dtype)) + "|res" +
           std::to_string(l.inputs.size() > 5 && l.inputs[5] >= 0) + "|act" +
           std::to_string(static_cast<int>(epilogue_params(l).activation)) + "|cudnn" +
           std::to_string(try_cudnn);  // a cached cuDNN tactic only where it can run
  }
  if (ctx.cache) {
    if (auto hit = ctx.cache->find(key)) {
      rec.tactic = hit->tactic;
      return rec;
    }
  }
  // Scratch: every input, two outputs (direct, GEMM), the GEMM workspace.
  std::vector<size_t> sizes;
  for (const auto& v : in)
    sizes.push_back(v.dims.rank() >= 0 ? static_cast<size_t>(v.numel()) * dtype_size(v.dtype) : 0);
  const size_t out_bytes = static_cast<size_t>(out.numel()) * dtype_size(out.dtype);
  const size_t ws_bytes = std::max(gemm_workspace(g, layout), kQuantizedCudnnWorkspace);
  size_t total = 2 * (out_bytes + 256) + ws_bytes + 256;
  for (size_t s : sizes) total += s + 256;
  uint8_t* buf = nullptr;
  KILN_CUDA_RETURN(cudaMalloc(&buf, total));
  uint8_t* p = buf;
  auto take = [&](size_t n) {
    uint8_t* r = p;
    p += (n + 255) / 256 * 256;
    return r;
  };
  // Scales: powers of two (exact products); the output scale keeps most outputs in range.
  const double k_total = static_cast<double>(std::max<int64_t>(1, g.cin * g.k_vol() / g.groups));
  const float out_scale = std::exp2f(std::round(std::log2(std::sqrt(k_total) * 2.0)));
  std::mt19937 rng(12345);
  Status s;
  for (size_t i = 0; i < in.size() && s.ok(); ++i) {
    if (l.inputs[i] < 0) continue;
    in[i].data = take(sizes[i]);
    std::vector<uint8_t> host(sizes[i]);
    if (i == 2 || i == 3 || i == 6) {
      std::vector<float> v(static_cast<size_t>(in[i].numel()), i == 6 ? out_scale : 1.0f / 64);
      std::memcpy(host.data(), v.data(), host.size());
    } else if (in[i].dtype == DataType::kFloat8E4M3 || is_integer(in[i].dtype)) {
      // Random bytes; float8 codes masked to exponents below 8 (finite, below 1).
      for (auto& b : host)
        b = static_cast<uint8_t>(rng() & (in[i].dtype == DataType::kFloat8E4M3 ? 0xB7u : 0xFFu));
    } else {
      s = fill_random(in[i].data, in[i].dtype, in[i].numel(), ctx.stream, i);
      continue;
    }
    s = cuda_status(cudaMemcpy(in[i].data, host.data(), host.size(), cudaMemcpyHostToDevice),
                    "cudaMemcpy", __FILE__, __LINE__);
  }
  void* out_direct = take(out_bytes);
  void* out_gemm = take(out_bytes);
  void* ws = take(ws_bytes);
  float best_direct = 1e30f, best_gemm = 1e30f;
  if (s.ok()) {
    QuantizedEpilogueArgs e =
        quantized_epilogue(l, in, TensorView{out_direct, out.dtype, out.dims});
    auto t = time_on_stream(ctx.stream, 3, [&] {
      return launch_quantized_direct_kernel(g, layout, in[0].data, in[1].data, e, ctx.stream);
    });
    if (t)
      best_direct = *t;
    else
      s = t.status();
  }
  // Quantized outputs may differ by one step where float rounding tips; floats by rounding.
  auto agrees = [&](const std::string& what) {
    const bool q = !is_floating(out.dtype);
    return check_close(out_gemm, out_direct, out.dtype, out.numel(), q ? 0.0 : 1e-3, q ? 1.0 : 1e-3,
                       ctx.stream, std::string(what) + " of layer '" + l.name + "'");
  };
  // The GEMM path on the same data: weights from the scratch w (padded and summed on the host).
  if (s.ok() && try_gemm) {
    GemmWeights gw;
    LtGemm plan;
    const int64_t k = g.cin * g.k_vol();
    std::vector<uint8_t> wh(static_cast<size_t>(g.cout * k));
    Status ok = cuda_status(cudaMemcpy(wh.data(), in[1].data, wh.size(), cudaMemcpyDeviceToHost),
                            "cudaMemcpy", __FILE__, __LINE__);
    if (ok.ok()) ok = upload_padded(wh.data(), in[1].dtype, g.cout, k, gw);
    if (ok.ok()) ok = make_lt(ctx.state.lt, g.fp8, g.batch * g.out_vol(), g.cout, gw.kp, plan);
    QuantizedEpilogueArgs e = quantized_epilogue(l, in, TensorView{out_gemm, out.dtype, out.dims});
    if (ok.ok()) {
      auto t = time_on_stream(ctx.stream, 3, [&] {
        return run_gemm_path(ctx.state.lt, plan, g, layout, gw, in[0].data, e, ws, ws_bytes,
                             ctx.stream);
      });
      if (t)
        best_gemm = *t;
      else
        ok = t.status();
    }
    if (ok.ok() && best_gemm < best_direct) ok = agrees("int8/fp8 GEMM");
    if (!ok.ok()) {
      ctx.logger.log(Severity::kInfo, "[backends.cuda] layer '" + l.name +
                                          "': the cuBLASLt 8-bit GEMM is not used (" +
                                          ok.message() + ")");
      best_gemm = 1e30f;
    }
  }
  rec.tactic = best_gemm < best_direct ? 1 : 0;
  float best = std::min(best_gemm, best_direct);
  // cuDNN's int8 graph candidates on the same data, each checked against the direct kernel.
  if (s.ok() && try_cudnn) {
    Expected<float> t =
        time_cudnn_candidates(l, in, out, out_gemm, out_scale, ws, ws_bytes, best, agrees, ctx);
    if (t && *t >= 0) rec.tactic = kQuantizedCudnnTactic + static_cast<int64_t>(*t);
  }
  cudaStreamSynchronize(ctx.stream);
  cudaFree(buf);
  KILN_RETURN_IF_ERROR(s);
  if (ctx.cache) ctx.cache->put(key, builder::CachedTactic{rec.tactic, {}, best});
  return rec;
}

Expected<std::unique_ptr<backend::Kernel>> create_quantized_kernel(
    const ir::Graph& g, const backend::KernelRecord& rec) {
  const ir::Layer& l = g.layers[static_cast<size_t>(rec.layers[0])];
  if ((l.op != ir::OpKind::kQuantizedConvolution && l.op != ir::OpKind::kQuantizedLinear) ||
      rec.layers.size() != 1 || rec.tactic < 0 || (rec.tactic > 1 && !is_cudnn_tactic(rec.tactic)))
    return make_error(StatusCode::kCorruptPlan, "backends.cuda",
                      "bad quantized GEMM record for layer '" + l.name + "'");
  auto k = std::make_unique<QuantizedGemmKernel>(l, rec.tactic);
  KILN_RETURN_IF_ERROR(k->init(g));
  return std::unique_ptr<backend::Kernel>(std::move(k));
}

}  // namespace kiln::cuda
