// Matmul and linear through cuBLASLt. Row-major C[M,N] = A[M,K] B[K,N] is computed as the
// column-major product D(N x M) = B^T A^T, so no operand is ever copied. Linear adds its bias in
// the epilogue. Algorithms: chosen by timing at build time for the opt shape (tactic + algo bytes
// in the plan), by cuBLASLt's heuristic (cached per shape) for other shapes.
#include <cstring>
#include <map>
#include <mutex>

#include "backends/cuda/cuda_kernels.h"
#include "backends/cuda/cutlass/gemm_sm90.h"
#include "backends/cuda/fusion.h"
#include "backends/cuda/tactics.h"

namespace kiln::cuda {

Status launch_matmul_int(const LaunchArgs& a);  // kernels/matmul_int.cu

namespace {

constexpr size_t kGemmWorkspace = 32u << 20;
constexpr uint32_t kAlgoMagic = 0x4b4c4741;  // "KLGA"
// Tactics from here on name a CUTLASS configuration (tactic - kCutlassTactic, cutlass/gemm_sm90.h).
constexpr int64_t kCutlassTactic = 1000;

// Exact (erf) GELU is not a cuBLASLt epilogue: a CUTLASS GEMM applies it, or it runs in place after
// the cuBLASLt GEMM.
Status gelu_in_place(const ir::Layer& act, const TensorView& t, void* ws, size_t ws_bytes,
                     cudaStream_t stream, CudaState& state) {
  TensorView views[1] = {t};
  LaunchArgs args{act, views, views, ws, ws_bytes, stream, state};
  return launch_unary(args);
}

// The CUTLASS form of a linear + bias (+ residual) + exact GELU group, or nullopt when it has none.
std::optional<cutlass_gemm::Problem> cutlass_problem(const ir::Layer& layer,
                                                     std::span<const TensorView> in,
                                                     const TensorView& out, const void* residual) {
  if (layer.op != ir::OpKind::kLinear || in.size() < 3 || in[2].data == nullptr)
    return std::nullopt;
  const Dims& x = in[0].dims;
  int64_t m = 1;
  for (int i = 0; i + 1 < x.rank(); ++i) m *= x[i];
  const int64_t k = x[x.rank() - 1], n = in[1].dims[0];
  if (m > INT32_MAX || n > INT32_MAX || k > INT32_MAX) return std::nullopt;
  cutlass_gemm::Problem p;
  p.dt = in[0].dtype;
  p.m = static_cast<int>(m);
  p.n = static_cast<int>(n);
  p.k = static_cast<int>(k);
  p.a = in[0].data;
  p.b = in[1].data;
  p.bias = in[2].data;
  p.c = residual;
  p.d = out.data;
  p.activation = UnaryOp::kGelu;
  return p;
}

// The problem a matmul/linear layer poses for concrete shapes.
struct GemmProblem {
  DataType dt = DataType::kFloat32;
  int64_t m = 0, n = 0, k = 0;
  bool ta = false, tb = false;
  int64_t batch = 1;
  int64_t stride_a = 0, stride_b = 0, stride_c = 0;  // elements; 0 = broadcast
  bool general_broadcast = false;                    // needs per-batch offsets
  bool has_bias = false;
  bool has_residual = false;                // D = AB + C (C = residual)
  UnaryOp activation = UnaryOp::kIdentity;  // relu / gelu_tanh epilogue
  std::vector<int64_t> off_a, off_b;        // per batch (general broadcast only)

  std::string key() const {
    return std::string(dtype_name(dt)) + "|" + std::to_string(m) + "x" + std::to_string(n) + "x" +
           std::to_string(k) + "|t" + std::to_string(ta) + std::to_string(tb) + "|b" +
           std::to_string(batch) + "|s" + std::to_string(stride_a != 0) +
           std::to_string(stride_b != 0) + "|bias" + std::to_string(has_bias) + "|res" +
           std::to_string(has_residual) + "|act" + std::to_string(static_cast<int>(activation));
  }
};

// Batch dims of an operand of rank r (r >= 2 after 1-D promotion).
Dims batch_of(const Dims& d) {
  return Dims(std::span<const int64_t>(d.begin(), static_cast<size_t>(std::max(0, d.rank() - 2))));
}

GemmProblem make_problem(const ir::Layer& layer, std::span<const TensorView> in,
                         std::span<const TensorView> out) {
  GemmProblem p;
  p.dt = in[0].dtype;
  if (layer.op == ir::OpKind::kLinear) {
    const Dims& x = in[0].dims;
    p.k = x[x.rank() - 1];
    p.m = 1;
    for (int i = 0; i + 1 < x.rank(); ++i) p.m *= x[i];
    p.n = in[1].dims[0];
    p.tb = true;  // W is [N, K]
    p.has_bias = in.size() > 2 && in[2].data != nullptr;
    return p;
  }
  const auto& mp = std::get<MatMulParams>(layer.params);
  Dims a = in[0].dims, b = in[1].dims;
  bool a_vec = a.rank() == 1, b_vec = b.rank() == 1;
  if (a_vec) a = Dims{1, a[0]};
  if (b_vec) b = Dims{b[0], 1};
  p.ta = mp.transpose_a && !a_vec;
  p.tb = mp.transpose_b && !b_vec;
  int ra = a.rank(), rb = b.rank();
  p.m = p.ta ? a[ra - 1] : a[ra - 2];
  p.k = p.ta ? a[ra - 2] : a[ra - 1];
  p.n = p.tb ? b[rb - 2] : b[rb - 1];
  Dims ba = batch_of(a), bb = batch_of(b);
  // Output batch dims.
  Dims ob;
  int r = std::max(ba.rank(), bb.rank());
  for (int i = 0; i < r; ++i) {
    int ia = i - (r - ba.rank()), ib = i - (r - bb.rank());
    int64_t da = ia >= 0 ? ba[ia] : 1, db = ib >= 0 ? bb[ib] : 1;
    ob.push_back(std::max(da, db));
  }
  p.batch = ob.volume();
  p.stride_c = p.m * p.n;
  int64_t va = ba.volume(), vb = bb.volume();
  // Simple cases: each operand's batch is either everything or a single matrix.
  auto simple = [&](const Dims& bd, int64_t v) {
    if (v == 1) return true;
    if (v != p.batch) return false;
    int lead = r - bd.rank();
    for (int i = 0; i < bd.rank(); ++i)
      if (bd[i] != ob[i + lead]) return false;
    return true;
  };
  if (simple(ba, va) && simple(bb, vb)) {
    p.stride_a = va == 1 ? 0 : p.m * p.k;
    p.stride_b = vb == 1 ? 0 : p.k * p.n;
    return p;
  }
  p.general_broadcast = true;
  p.off_a.resize(static_cast<size_t>(p.batch));
  p.off_b.resize(static_cast<size_t>(p.batch));
  for (int64_t bi = 0; bi < p.batch; ++bi) {
    int64_t rem = bi, oa = 0, obb = 0, sa = 1, sb = 1;
    for (int d = r - 1; d >= 0; --d) {
      int64_t c = rem % ob[d];
      rem /= ob[d];
      int ia = d - (r - ba.rank()), ib = d - (r - bb.rank());
      if (ia >= 0) {
        if (ba[ia] != 1) oa += c * sa;
        sa *= ba[ia];
      }
      if (ib >= 0) {
        if (bb[ib] != 1) obb += c * sb;
        sb *= bb[ib];
      }
    }
    p.off_a[static_cast<size_t>(bi)] = oa * p.m * p.k;
    p.off_b[static_cast<size_t>(bi)] = obb * p.k * p.n;
  }
  return p;
}

cudaDataType_t cuda_type(DataType dt) {
  switch (dt) {
    case DataType::kFloat16:
      return CUDA_R_16F;
    case DataType::kBFloat16:
      return CUDA_R_16BF;
    default:
      return CUDA_R_32F;
  }
}

int alignment_of(const void* p) {
  auto v = reinterpret_cast<uintptr_t>(p);
  int a = 256;
  while (a > 1 && v % static_cast<uintptr_t>(a) != 0) a /= 2;
  return a;
}

// cuBLASLt descriptors for one problem (+ pointer alignment), and the algorithm to use.
struct LtPlan {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t la = nullptr, lb = nullptr, lc = nullptr;
  cublasLtMatmulAlgo_t algo{};
  bool has_algo = false;
  size_t workspace = 0;

  LtPlan() = default;
  LtPlan(const LtPlan&) = delete;
  LtPlan& operator=(const LtPlan&) = delete;
  ~LtPlan() {
    if (op) cublasLtMatmulDescDestroy(op);
    if (la) cublasLtMatrixLayoutDestroy(la);
    if (lb) cublasLtMatrixLayoutDestroy(lb);
    if (lc) cublasLtMatrixLayoutDestroy(lc);
  }
};

Status make_descriptors(const GemmProblem& p, bool tf32, LtPlan& plan) {
  cublasComputeType_t compute =
      (p.dt == DataType::kFloat32 && tf32) ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  KILN_CUBLAS_RETURN(cublasLtMatmulDescCreate(&plan.op, compute, CUDA_R_32F));
  // Lt "A" = B's memory, Lt "B" = A's memory (see the file comment).
  cublasOperation_t opa = p.tb ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasOperation_t opb = p.ta ? CUBLAS_OP_T : CUBLAS_OP_N;
  KILN_CUBLAS_RETURN(
      cublasLtMatmulDescSetAttribute(plan.op, CUBLASLT_MATMUL_DESC_TRANSA, &opa, sizeof opa));
  KILN_CUBLAS_RETURN(
      cublasLtMatmulDescSetAttribute(plan.op, CUBLASLT_MATMUL_DESC_TRANSB, &opb, sizeof opb));
  cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_DEFAULT;
  if (p.activation == UnaryOp::kRelu) {
    epi = p.has_bias ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_RELU;
  } else if (p.activation == UnaryOp::kGeluTanh) {
    epi = p.has_bias ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_GELU;
  } else if (p.has_bias) {
    epi = CUBLASLT_EPILOGUE_BIAS;
  }
  if (epi != CUBLASLT_EPILOGUE_DEFAULT)
    KILN_CUBLAS_RETURN(
        cublasLtMatmulDescSetAttribute(plan.op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi));
  cudaDataType_t t = cuda_type(p.dt);
  uint64_t a_rows = p.tb ? p.k : p.n, a_cols = p.tb ? p.n : p.k;
  uint64_t b_rows = p.ta ? p.m : p.k, b_cols = p.ta ? p.k : p.m;
  KILN_CUBLAS_RETURN(
      cublasLtMatrixLayoutCreate(&plan.la, t, a_rows, a_cols, static_cast<int64_t>(a_rows)));
  KILN_CUBLAS_RETURN(
      cublasLtMatrixLayoutCreate(&plan.lb, t, b_rows, b_cols, static_cast<int64_t>(b_rows)));
  KILN_CUBLAS_RETURN(cublasLtMatrixLayoutCreate(&plan.lc, t, static_cast<uint64_t>(p.n),
                                                static_cast<uint64_t>(p.m), p.n));
  if (!p.general_broadcast && p.batch > 1) {
    auto count = static_cast<int32_t>(p.batch);
    int64_t sa = p.stride_b, sb = p.stride_a, sc = p.stride_c;  // swapped roles
    KILN_CUBLAS_RETURN(cublasLtMatrixLayoutSetAttribute(plan.la, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT,
                                                        &count, sizeof count));
    KILN_CUBLAS_RETURN(cublasLtMatrixLayoutSetAttribute(
        plan.la, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &sa, sizeof sa));
    KILN_CUBLAS_RETURN(cublasLtMatrixLayoutSetAttribute(plan.lb, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT,
                                                        &count, sizeof count));
    KILN_CUBLAS_RETURN(cublasLtMatrixLayoutSetAttribute(
        plan.lb, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &sb, sizeof sb));
    KILN_CUBLAS_RETURN(cublasLtMatrixLayoutSetAttribute(plan.lc, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT,
                                                        &count, sizeof count));
    KILN_CUBLAS_RETURN(cublasLtMatrixLayoutSetAttribute(
        plan.lc, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &sc, sizeof sc));
  }
  return {};
}

Status heuristics(cublasLtHandle_t lt, LtPlan& plan, size_t max_workspace, int align[4], int want,
                  std::vector<cublasLtMatmulHeuristicResult_t>& results) {
  cublasLtMatmulPreference_t pref = nullptr;
  KILN_CUBLAS_RETURN(cublasLtMatmulPreferenceCreate(&pref));
  uint64_t ws = max_workspace;
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws,
                                       sizeof ws);
  const cublasLtMatmulPreferenceAttributes_t attrs[4] = {
      CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
      CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES};
  for (int i = 0; i < 4; ++i) {
    uint32_t a = static_cast<uint32_t>(align[i]);
    cublasLtMatmulPreferenceSetAttribute(pref, attrs[i], &a, sizeof a);
  }
  results.resize(static_cast<size_t>(want));
  int returned = 0;
  cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(
      lt, plan.op, plan.la, plan.lb, plan.lc, plan.lc, pref, want, results.data(), &returned);
  cublasLtMatmulPreferenceDestroy(pref);
  KILN_CUBLAS_RETURN(st);
  results.resize(static_cast<size_t>(returned));
  if (returned == 0)
    return make_error(StatusCode::kUnsupported, "backends.cuda.cublaslt",
                      "no cuBLASLt algorithm for this GEMM");
  return {};
}

Status run_lt(cublasLtHandle_t lt, const LtPlan& plan, const cublasLtMatmulAlgo_t* algo,
              const GemmProblem& p, const void* a, const void* b, void* c, const void* bias,
              void* ws, size_t ws_bytes, cudaStream_t stream, const void* residual = nullptr) {
  float alpha = 1.0f, beta = residual != nullptr ? 1.0f : 0.0f;
  const void* cin = residual != nullptr ? residual : c;
  if (p.has_bias) {
    KILN_CUBLAS_RETURN(cublasLtMatmulDescSetAttribute(plan.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                                                      &bias, sizeof bias));
  }
  size_t es = dtype_size(p.dt);
  if (!p.general_broadcast) {
    KILN_CUBLAS_RETURN(cublasLtMatmul(lt, plan.op, &alpha, b, plan.la, a, plan.lb, &beta, cin,
                                      plan.lc, c, plan.lc, algo, ws, ws_bytes, stream));
    return {};
  }
  for (int64_t i = 0; i < p.batch; ++i) {
    const auto* pa =
        static_cast<const uint8_t*>(a) + p.off_a[static_cast<size_t>(i)] * static_cast<int64_t>(es);
    const auto* pb =
        static_cast<const uint8_t*>(b) + p.off_b[static_cast<size_t>(i)] * static_cast<int64_t>(es);
    auto* pc = static_cast<uint8_t*>(c) + i * p.stride_c * static_cast<int64_t>(es);
    const auto* pcin = residual != nullptr ? static_cast<const uint8_t*>(residual) +
                                                 i * p.stride_c * static_cast<int64_t>(es)
                                           : pc;
    KILN_CUBLAS_RETURN(cublasLtMatmul(lt, plan.op, &alpha, pb, plan.la, pa, plan.lb, &beta, pcin,
                                      plan.lc, pc, plan.lc, algo, ws, ws_bytes, stream));
  }
  return {};
}

// A GEMM kernel: tuned algo for the opt problem, heuristic (cached) for others.
class GemmKernel final : public backend::Kernel {
 public:
  GemmKernel(const ir::Layer& layer, EpilogueSpec epi, std::string tuned_key,
             std::optional<cublasLtMatmulAlgo_t> tuned, int64_t tactic, const ir::Layer* activation)
      : layer_(layer),
        epi_(epi),
        tuned_key_(std::move(tuned_key)),
        tuned_(tuned),
        tactic_(tactic),
        act_(activation) {}
  bool fused() const { return epi_.residual >= 0 || epi_.activation != UnaryOp::kIdentity; }

  Status run(const backend::RunContext& ctx) const override {
    std::vector<TensorView> in(layer_.inputs.size()), out(layer_.outputs.size());
    for (size_t i = 0; i < in.size(); ++i)
      if (layer_.inputs[i] >= 0) in[i] = ctx.tensors[static_cast<size_t>(layer_.inputs[i])];
    // The GEMM's own dims; a fused group writes its last layer's tensor (the same elements in the
    // same order: a view before the residual add only renames the dims).
    out[0] = ctx.tensors[static_cast<size_t>(layer_.outputs[0])];
    if (fused()) out[0].data = ctx.tensors[static_cast<size_t>(epi_.output)].data;
    auto& state = *static_cast<CudaState*>(ctx.backend_state);
    if (!is_floating(in[0].dtype)) {
      LaunchArgs args{layer_,
                      in,
                      out,
                      ctx.workspace,
                      ctx.workspace_bytes,
                      static_cast<cudaStream_t>(ctx.stream),
                      state};
      return launch_matmul_int(args);
    }
    if (out[0].numel() == 0) return {};
    GemmProblem p = make_problem(layer_, in, out);
    p.has_residual = epi_.residual >= 0;
    const bool erf_gelu = epi_.activation == UnaryOp::kGelu;
    p.activation = erf_gelu ? UnaryOp::kIdentity : epi_.activation;
    const void* residual =
        p.has_residual ? ctx.tensors[static_cast<size_t>(epi_.residual)].data : nullptr;
    const auto stream = static_cast<cudaStream_t>(ctx.stream);
    if (erf_gelu && tactic_ >= kCutlassTactic) {
      if (auto cp = cutlass_problem(layer_, in, out[0], residual)) {
        Status s = cutlass_gemm::run(*cp, static_cast<int>(tactic_ - kCutlassTactic), ctx.workspace,
                                     ctx.workspace_bytes, stream);
        if (s.ok() || s.code() != StatusCode::kUnsupported) return s;
      }
    }
    if (p.k == 0 && fused())
      return layer_error(layer_, StatusCode::kUnsupported, "fused GEMM with K = 0");
    if (p.k == 0) {  // empty reduction: zeros (plus bias for linear)
      KILN_CUDA_RETURN(
          cudaMemsetAsync(out[0].data, 0, out[0].bytes(), static_cast<cudaStream_t>(ctx.stream)));
      if (!p.has_bias) return {};
    }
    int align[4] = {alignment_of(in[1].data), alignment_of(in[0].data), alignment_of(out[0].data),
                    alignment_of(out[0].data)};
    std::string key = p.key() + "|al" + std::to_string(align[0]) + "," + std::to_string(align[1]) +
                      "," + std::to_string(align[2]) + "|tf" + std::to_string(state.allow_tf32);
    const LtPlan* plan = nullptr;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = plans_.find(key);
      if (it == plans_.end()) {
        auto np = std::make_unique<LtPlan>();
        KILN_RETURN_IF_ERROR(make_descriptors(p, state.allow_tf32, *np));
        // The tuned algorithm was timed with this group's epilogue (bias, residual, activation).
        if (tuned_ && p.key() == tuned_key_ && align[0] >= 16 && align[1] >= 16 && align[2] >= 16) {
          cublasLtMatmulHeuristicResult_t check{};
          if (cublasLtMatmulAlgoCheck(state.lt, np->op, np->la, np->lb, np->lc, np->lc, &*tuned_,
                                      &check) == CUBLAS_STATUS_SUCCESS &&
              check.workspaceSize <= ctx.workspace_bytes) {
            np->algo = *tuned_;
            np->has_algo = true;
            np->workspace = check.workspaceSize;
          }
        }
        if (!np->has_algo) {
          std::vector<cublasLtMatmulHeuristicResult_t> results;
          KILN_RETURN_IF_ERROR(heuristics(state.lt, *np, ctx.workspace_bytes, align, 1, results));
          np->algo = results[0].algo;
          np->has_algo = true;
          np->workspace = results[0].workspaceSize;
        }
        it = plans_.emplace(key, std::move(np)).first;
      }
      plan = it->second.get();
    }
    const void* bias = p.has_bias ? in[2].data : nullptr;
    KILN_RETURN_IF_ERROR(run_lt(state.lt, *plan, &plan->algo, p, in[0].data, in[1].data,
                                out[0].data, bias, ctx.workspace, ctx.workspace_bytes, stream,
                                residual));
    if (erf_gelu)
      return gelu_in_place(*act_, out[0], ctx.workspace, ctx.workspace_bytes, stream, state);
    return {};
  }

  size_t workspace_bytes(std::span<const TensorView>) const override { return kGemmWorkspace; }
  std::string describe() const override {
    std::string d = tactic_ >= kCutlassTactic
                        ? "cuda.gemm.cutlass#" +
                              cutlass_gemm::config_name(static_cast<int>(tactic_ - kCutlassTactic))
                        : "cuda.gemm.cublaslt#" + std::to_string(tactic_);
    if (epi_.residual >= 0) d += "+add";
    if (epi_.activation == UnaryOp::kRelu) d += "+relu";
    if (epi_.activation == UnaryOp::kGeluTanh) d += "+gelu_tanh";
    if (epi_.activation == UnaryOp::kGelu) d += "+gelu";
    return d;
  }

 private:
  const ir::Layer& layer_;
  EpilogueSpec epi_;
  std::string tuned_key_;
  std::optional<cublasLtMatmulAlgo_t> tuned_;
  int64_t tactic_;
  const ir::Layer* act_;  ///< the activation layer of the group, or nullptr
  mutable std::mutex mu_;
  mutable std::map<std::string, std::unique_ptr<LtPlan>>
      plans_;  // guarded by mu_; LtPlans are then read-only
};

std::vector<uint8_t> encode_config(const std::string& key, const cublasLtMatmulAlgo_t& algo) {
  std::vector<uint8_t> c(4 + 4 + key.size() + sizeof algo);
  uint32_t magic = kAlgoMagic, n = static_cast<uint32_t>(key.size());
  std::memcpy(c.data(), &magic, 4);
  std::memcpy(c.data() + 4, &n, 4);
  std::memcpy(c.data() + 8, key.data(), key.size());
  std::memcpy(c.data() + 8 + key.size(), &algo, sizeof algo);
  return c;
}

bool decode_config(const std::vector<uint8_t>& c, std::string& key, cublasLtMatmulAlgo_t& algo) {
  if (c.size() < 8) return false;
  uint32_t magic, n;
  std::memcpy(&magic, c.data(), 4);
  std::memcpy(&n, c.data() + 4, 4);
  if (magic != kAlgoMagic || c.size() != 8 + static_cast<size_t>(n) + sizeof algo) return false;
  key.assign(reinterpret_cast<const char*>(c.data() + 8), n);
  std::memcpy(&algo, c.data() + 8 + n, sizeof algo);
  return true;
}

}  // namespace

size_t workspace_gemm(const ir::Layer&, std::span<const TensorView>, std::span<const TensorView>) {
  return kGemmWorkspace;
}

Status launch_matmul(const LaunchArgs& a) {
  return layer_error(a.layer, StatusCode::kInternal, "matmul runs through the tuned GEMM kernel");
}
Status launch_linear(const LaunchArgs& a) {
  return layer_error(a.layer, StatusCode::kInternal, "linear runs through the tuned GEMM kernel");
}

Expected<backend::KernelRecord> tune_gemm(int32_t layer, TuneContext& ctx) {
  const ir::Layer& l = ctx.graph.layers[static_cast<size_t>(layer)];
  backend::KernelRecord rec;
  rec.layers = {layer};
  rec.kernel = "cuda.gemm";
  rec.tactic = -1;  // heuristic only
  std::vector<TensorView> in(l.inputs.size()), out(1);
  for (size_t i = 0; i < in.size(); ++i) {
    if (l.inputs[i] < 0) continue;
    const TensorType& t = ctx.opt_types[static_cast<size_t>(l.inputs[i])];
    // Non-null marks presence (make_problem reads the bias from it); never dereferenced here.
    in[i] = TensorView{reinterpret_cast<void*>(1), t.dtype, t.dims};
  }
  const TensorType& ot = ctx.opt_types[static_cast<size_t>(l.outputs[0])];
  out[0] = TensorView{nullptr, ot.dtype, ot.dims};
  if (!is_floating(in[0].dtype) || ctx.optimization_level < 2 || out[0].numel() == 0) return rec;
  GemmProblem p = make_problem(l, in, out);
  if (p.k == 0 || p.general_broadcast) return rec;
  // Timed with the fused group's epilogue: the best algorithm for a plain GEMM need not be the best
  // (or even available) with a residual or an activation in its epilogue.
  EpilogueSpec epi;
  if (ctx.group != nullptr && decode_epilogue(ctx.graph, *ctx.group, epi)) {
    p.has_residual = epi.residual >= 0;
    p.activation = epi.activation;
  }
  // Exact GELU: cuBLASLt runs the GEMM without it (then a GELU kernel); CUTLASS candidates fuse it.
  const bool erf_gelu = p.activation == UnaryOp::kGelu;
  std::string key = "gemm|" + p.key() + "|tf" + std::to_string(ctx.state.allow_tf32);
  if (ctx.cache) {
    if (auto hit = ctx.cache->find(key)) {
      rec.tactic = hit->tactic;
      rec.config = hit->config;
      return rec;
    }
  }
  size_t ws_limit =
      ctx.workspace_limit ? std::min<size_t>(ctx.workspace_limit, kGemmWorkspace) : kGemmWorkspace;
  LtPlan plan;
  GemmProblem lt_p = p;
  if (erf_gelu) lt_p.activation = UnaryOp::kIdentity;
  KILN_RETURN_IF_ERROR(make_descriptors(lt_p, ctx.state.allow_tf32, plan));
  int align[4] = {256, 256, 256, 256};
  std::vector<cublasLtMatmulHeuristicResult_t> results;
  int want = ctx.optimization_level >= 4 ? 16 : 8;
  Status hs = heuristics(ctx.state.lt, plan, ws_limit, align, want, results);
  if (!hs.ok()) return rec;
  // Random operands at the opt shape.
  size_t es = dtype_size(p.dt);
  size_t a_bytes = static_cast<size_t>(in[0].numel()) * es,
         b_bytes = static_cast<size_t>(in[1].numel()) * es;
  size_t c_bytes = static_cast<size_t>(out[0].numel()) * es,
         bias_bytes = p.has_bias ? static_cast<size_t>(p.n) * es : 0;
  size_t r_bytes = p.has_residual ? c_bytes : 0;
  uint8_t* buf = nullptr;
  size_t total = a_bytes + b_bytes + c_bytes + bias_bytes + r_bytes + ws_limit + 5 * 256;
  KILN_CUDA_RETURN(cudaMalloc(&buf, total));
  auto align_up = [](size_t v) { return (v + 255) / 256 * 256; };
  uint8_t* pa = buf;
  uint8_t* pb = pa + align_up(a_bytes);
  uint8_t* pc = pb + align_up(b_bytes);
  uint8_t* pbias = pc + align_up(c_bytes);
  uint8_t* pres = pbias + align_up(bias_bytes);
  uint8_t* pws = pres + align_up(r_bytes);
  Status s = fill_random(pa, p.dt, in[0].numel(), ctx.stream);
  if (s.ok()) s = fill_random(pb, p.dt, in[1].numel(), ctx.stream, 1);
  if (s.ok() && p.has_bias) s = fill_random(pbias, p.dt, p.n, ctx.stream, 2);
  if (s.ok() && p.has_residual) s = fill_random(pres, p.dt, out[0].numel(), ctx.stream, 3);
  float best = 1e30f;
  int best_i = -1;
  for (size_t i = 0; s.ok() && i < results.size(); ++i) {
    if (results[i].workspaceSize > ws_limit) continue;
    auto t = time_on_stream(ctx.stream, 5, [&] {
      return run_lt(ctx.state.lt, plan, &results[i].algo, lt_p, pa, pb, pc, pbias, pws, ws_limit,
                    ctx.stream, p.has_residual ? pres : nullptr);
    });
    if (!t) continue;  // an algorithm that fails is skipped
    if (*t < best) {
      best = *t;
      best_i = static_cast<int>(i);
    }
  }
  int best_cutlass = -1;
  if (s.ok() && erf_gelu && best_i >= 0) {
    // The cuBLASLt path pays for the separate GELU kernel too.
    const ir::Layer& act = ctx.graph.layers[static_cast<size_t>(epi.activation_layer)];
    TensorView cv{pc, p.dt, out[0].dims};
    auto tg = time_on_stream(ctx.stream, 5, [&] {
      return gelu_in_place(act, cv, pws, ws_limit, ctx.stream, ctx.state);
    });
    if (tg) best += *tg;
    std::vector<TensorView> tin = {TensorView{pa, p.dt, in[0].dims},
                                   TensorView{pb, p.dt, in[1].dims},
                                   TensorView{p.has_bias ? pbias : nullptr, p.dt, Dims{p.n}}};
    // CUTLASS candidates from optimization level 4: not yet measured on a GPU (until then opt-in).
    auto cp = ctx.optimization_level >= 4
                  ? cutlass_problem(l, tin, TensorView{pc, p.dt, out[0].dims},
                                    p.has_residual ? pres : nullptr)
                  : std::nullopt;
    for (int c = 0; cp && c < cutlass_gemm::kNumConfigs; ++c) {
      auto t = time_on_stream(ctx.stream, 5,
                              [&] { return cutlass_gemm::run(*cp, c, pws, ws_limit, ctx.stream); });
      if (!t) continue;  // a configuration that cannot take the problem is skipped
      if (*t < best) {
        best = *t;
        best_cutlass = c;
      }
    }
    // The winner must agree with cuBLASLt + GELU on the same operands (else it is not used).
    if (best_cutlass >= 0 && cp) {
      uint8_t* pref = nullptr;
      Status v = cuda_status(cudaMalloc(&pref, c_bytes), "cudaMalloc", __FILE__, __LINE__);
      if (v.ok())
        v = run_lt(ctx.state.lt, plan, &results[static_cast<size_t>(best_i)].algo, lt_p, pa, pb,
                   pref, pbias, pws, ws_limit, ctx.stream, p.has_residual ? pres : nullptr);
      if (v.ok())
        v = gelu_in_place(act, TensorView{pref, p.dt, out[0].dims}, pws, ws_limit, ctx.stream,
                          ctx.state);
      if (v.ok()) v = cutlass_gemm::run(*cp, best_cutlass, pws, ws_limit, ctx.stream);
      const double tol = p.dt == DataType::kBFloat16 ? 6e-2 : 2e-2;
      if (v.ok())
        v = check_close(pc, pref, p.dt, out[0].numel(), tol, tol, ctx.stream,
                        "CUTLASS GEMM " + cutlass_gemm::config_name(best_cutlass) + " of layer '" +
                            l.name + "'");
      if (pref) cudaFree(pref);
      if (!v.ok()) {
        ctx.logger.log(Severity::kWarning, v.message() + "; cuBLASLt + GELU is used");
        best_cutlass = -1;
      }
    }
  }
  cudaStreamSynchronize(ctx.stream);
  cudaFree(buf);
  KILN_RETURN_IF_ERROR(s);
  if (best_i < 0) return rec;
  if (best_cutlass >= 0) {
    rec.tactic = kCutlassTactic + best_cutlass;
    if (ctx.cache) ctx.cache->put(key, builder::CachedTactic{rec.tactic, rec.config, best});
    return rec;
  }
  rec.tactic = best_i;
  rec.config = encode_config(lt_p.key(), results[static_cast<size_t>(best_i)].algo);
  if (ctx.cache) ctx.cache->put(key, builder::CachedTactic{rec.tactic, rec.config, best});
  return rec;
}

Expected<std::unique_ptr<backend::Kernel>> create_gemm_kernel(const ir::Graph& g,
                                                              const backend::KernelRecord& rec) {
  const ir::Layer& l = g.layers[static_cast<size_t>(rec.layers[0])];
  if (l.op != ir::OpKind::kMatMul && l.op != ir::OpKind::kLinear)
    return make_error(StatusCode::kCorruptPlan, "backends.cuda",
                      "gemm kernel record does not name a matmul/linear layer");
  EpilogueSpec epi;
  if (!decode_epilogue(g, rec.layers, epi))
    return make_error(StatusCode::kCorruptPlan, "backends.cuda",
                      "bad fused group at layer '" + l.name + "'");
  std::optional<cublasLtMatmulAlgo_t> algo;
  std::string key;
  const ir::Layer* act =
      epi.activation_layer >= 0 ? &g.layers[static_cast<size_t>(epi.activation_layer)] : nullptr;
  if (rec.tactic >= kCutlassTactic) {
    if (epi.activation != UnaryOp::kGelu || !rec.config.empty())
      return make_error(StatusCode::kCorruptPlan, "backends.cuda",
                        "bad CUTLASS tactic for layer '" + l.name + "'");
  } else if (rec.tactic >= 0) {
    cublasLtMatmulAlgo_t a{};
    if (!decode_config(rec.config, key, a))
      return make_error(StatusCode::kCorruptPlan, "backends.cuda",
                        "bad GEMM tactic config for layer '" + l.name + "'");
    algo = a;
  }
  return std::unique_ptr<backend::Kernel>(
      std::make_unique<GemmKernel>(l, epi, key, algo, rec.tactic, act));
}

}  // namespace kiln::cuda
