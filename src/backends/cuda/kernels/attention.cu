// CUDA scaled dot-product attention: out = softmax(scale * q k^T + mask) v, with the semantics of
// the CPU reference (backends/cpu/attention.cpp): broadcasting batch dims, a bool (true = attend)
// or additive mask broadcastable to [..., Lq, Lk], top-left aligned `causal` (combinable with a
// mask), scale 0 = 1/sqrt(E), a fully masked row gives NaN (zeros with zero_masked_rows), Lk == 0
// gives zeros.
//
// Three paths, chosen from dtypes and shapes only (workspace_attention and launch_attention agree):
//
//  * decode (f16/bf16, E == Ev in {32, 64, 128}, Lq <= 4: the new tokens of a decode step over a
//    KV cache; attention_decode.cu): split-K flash decoding, the keys of each batch index split
//    across blocks and the partial softmaxes merged by log-sum-exp. Rows that are not 16-byte
//    aligned fall back to the flash path.
//
//  * flash (f16/bf16, E == Ev in {32, 64, 80, 96, 128}; any mask, any batch broadcasting, causal):
//    one fused kernel, FlashAttention-2 style. A block of 4 warps owns 64 query rows (16 per warp)
//    of one batch index; K/V tiles of kBc keys (64, or 32 for E = 128) are streamed through shared
//    memory with cp.async (K of the next tile loads during softmax + P.V, V of the next tile during
//    the next Q.K^T). Q.K^T and P.V run on tensor cores (mma.sync m16n8k16, fp32 accumulators;
//    operands from shared memory by ldmatrix, V with .trans); the softmax is online (running max
//    and sum in fp32 per row), P stays in registers (the accumulator layout of Q.K^T is the
//    A-operand layout of P.V). Scores stay in natural units (x = scale * qk + mask) so huge
//    additive masks (finfo.min) do not overflow; exp(x - m) is computed as exp2((x - m) * log2 e).
//    Masks are read straight from global memory with their broadcast strides. No workspace.
//
//  * general (everything else: f32, other head dims, E != Ev): S = scale * Q K^T by cuBLASLt
//  (strided
//    batched, fp32 scores in the workspace), a masked softmax kernel (one warp per row, in place;
//    16-bit types write P in their own dtype to a second workspace region), then O = P V by
//    cuBLASLt. Batch broadcasting: the batch dims are split into an outer part looped on the host
//    and an inner
#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "backends/cuda/kernels/attention_common.cuh"
#include "common/unverified.h"

namespace kiln::cuda {
using namespace attn;
// The split-K decode path (see set_up's p.decode). KILN_UNVERIFIED (common/unverified.h): true once
// CudaDecodeAttention.* (test_cuda_kv_cache) has passed on a GPU.
constexpr bool kDecodeKernelEnabled = kUnverifiedKernelsOn;

namespace {

// ---- problem analysis (host) ----

Dims leading(const Dims& d, int count) {
  return Dims(std::span<const int64_t>(d.begin(), static_cast<size_t>(count)));
}

// Element strides of an operand's batch dims `ob` (same rank as `batch`) with `mat` elements per
// matrix.
void batch_strides(const Dims& ob, const Dims& batch, int64_t mat, int64_t* out) {
  int64_t stride = mat;
  for (int d = ob.rank() - 1; d >= 0; --d) {
    out[d] = (ob[d] == 1 && batch[d] != 1) ? 0 : stride;
    stride *= ob[d];
  }
}

Status analyze(const ir::Layer& layer, std::span<const TensorView> in,
               std::span<const TensorView> out, Problem& p,
               const AttentionStrides* strides = nullptr) {
  if (layer.op != ir::OpKind::kAttention || in.size() < 3 || out.empty())
    return layer_error(layer, StatusCode::kInternal,
                       "attention expects q, k, v (and a mask) and one output");
  const auto& params = std::get<AttentionParams>(layer.params);
  const TensorView& q = in[0];
  const TensorView& k = in[1];
  const TensorView& v = in[2];
  const bool has_mask = in.size() > 3 && layer.inputs.size() > 3 && layer.inputs[3] >= 0;
  if ((q.dtype != DataType::kFloat32 && q.dtype != DataType::kFloat16 &&
       q.dtype != DataType::kBFloat16) ||
      k.dtype != q.dtype || v.dtype != q.dtype || out[0].dtype != q.dtype)
    return layer_error(layer, StatusCode::kTypeError,
                       "attention needs float q/k/v/output of one dtype");
  const int r = q.dims.rank();
  if (r < 2 || k.dims.rank() != r || v.dims.rank() != r)
    return layer_error(layer, StatusCode::kShapeError, "q, k, v must have the same rank >= 2");
  p.dt = q.dtype;
  p.nb = r - 2;
  p.lq = q.dims[r - 2];
  p.e = q.dims[r - 1];
  p.lk = k.dims[r - 2];
  p.ev = v.dims[r - 1];
  if (k.dims[r - 1] != p.e || v.dims[r - 2] != p.lk) {
    return layer_error(layer, StatusCode::kShapeError,
                       "q " + q.dims.to_string() + ", k " + k.dims.to_string() + ", v " +
                           v.dims.to_string() + " do not fit");
  }
  for (int64_t d : {p.lq, p.lk, p.e, p.ev}) {
    if (d < 0 || d > static_cast<int64_t>(INT_MAX))
      return layer_error(layer, StatusCode::kUnsupported, "attention dims must be in [0, INT_MAX]");
  }
  p.qb = leading(q.dims, p.nb);
  p.kb = leading(k.dims, p.nb);
  p.vb = leading(v.dims, p.nb);
  p.batch = Dims();
  for (int d = 0; d < p.nb; ++d) {
    int64_t x = 1;
    for (int64_t y : {p.qb[d], p.kb[d], p.vb[d]}) {
      if (y == 1) continue;
      if (x != 1 && x != y)
        return layer_error(layer, StatusCode::kShapeError, "q/k/v batch dims do not broadcast");
      x = y;
    }
    p.batch.push_back(x);
  }
  p.batch_volume = p.batch.volume();
  Dims expect = p.batch;
  expect.push_back(p.lq);
  expect.push_back(p.ev);
  if (expect != out[0].dims) {
    return layer_error(
        layer, StatusCode::kShapeError,
        "output dims " + out[0].dims.to_string() + " != expected " + expect.to_string());
  }
  batch_strides(p.qb, p.batch, p.lq * p.e, p.sq);
  batch_strides(p.kb, p.batch, p.lk * p.e, p.sk);
  batch_strides(p.vb, p.batch, p.lk * p.ev, p.sv);
  batch_strides(p.batch, p.batch, p.lq * p.ev, p.so);
  p.rq = p.e;
  p.rk = p.e;
  p.rv = p.ev;
  p.ro = p.ev;
  if (strides != nullptr) {
    p.strided = true;
    const Dims* own[4] = {&p.qb, &p.kb, &p.vb, &p.batch};
    int64_t* dst[4] = {p.sq, p.sk, p.sv, p.so};
    for (int o = 0; o < 4; ++o)
      for (int d = 0; d < p.nb; ++d)  // a broadcast dim reads its one entry: stride 0
        dst[o][d] = ((*own[o])[d] == 1 && p.batch[d] != 1) ? 0 : strides->batch[o][d];
    p.rq = strides->row[0];
    p.rk = strides->row[1];
    p.rv = strides->row[2];
    p.ro = strides->row[3];
  }
  p.causal = params.causal;
  p.zero_rows = params.zero_masked_rows;
  p.scale = params.scale != 0.0 ? static_cast<float>(params.scale)
                                : static_cast<float>(1.0 / std::sqrt(static_cast<double>(p.e)));
  p.mask = kMaskNone;
  if (has_mask) {
    const TensorView& m = in[3];
    if (m.dtype != DataType::kBool && m.dtype != q.dtype)
      return layer_error(layer, StatusCode::kTypeError, "mask must be bool or the dtype of q");
    Dims scores = p.batch;
    scores.push_back(p.lq);
    scores.push_back(p.lk);
    const int rm = m.dims.rank();
    if (rm > r)
      return layer_error(layer, StatusCode::kShapeError, "mask rank exceeds the scores rank");
    int64_t full[kMaxRank] = {};
    int64_t stride = 1;
    for (int d = r - 1; d >= 0; --d) {
      const int md = d - (r - rm);
      if (md < 0) {
        full[d] = 0;
        continue;
      }
      if (m.dims[md] != scores[d] && m.dims[md] != 1) {
        return layer_error(
            layer, StatusCode::kShapeError,
            "mask " + m.dims.to_string() + " does not broadcast to scores " + scores.to_string());
      }
      full[d] = m.dims[md] == 1 ? 0 : stride;
      stride *= m.dims[md];
    }
    for (int d = 0; d < p.nb; ++d) p.sm[d] = full[d];
    p.msq = full[r - 2];
    p.msk = full[r - 1];
    p.mask = m.dtype == DataType::kBool ? kMaskBool : kMaskFloat;
  }
  p.flash = false;
  if ((p.dt == DataType::kFloat16 || p.dt == DataType::kBFloat16) && p.e == p.ev &&
      flash_head_dim(p.e)) {
    p.num_q_tiles = (p.lq + kFlashBr - 1) / kFlashBr;
    // One block per (query tile, batch index): the grid must fit gridDim.x.
    p.flash = p.num_q_tiles == 0 || p.batch_volume <= static_cast<int64_t>(INT_MAX) / p.num_q_tiles;
    // A few query rows over keys (a decode step over the KV cache): split-K over the keys.
    // Off until its GPU tests have passed (kDecodeKernelEnabled).
    p.decode = kDecodeKernelEnabled && p.flash && p.lq >= 1 && p.lq <= kDecodeMaxQ && p.lk >= 1 &&
               decode_head_dim(p.e) &&
               p.batch_volume <= static_cast<int64_t>(INT_MAX) / kDecodeMaxSplits;
  }
  return {};
}

size_t align_up(size_t v) { return (v + kAlign - 1) / kAlign * kAlign; }

// Workspace of the general path: fp32 scores, P in the operand dtype (16-bit types), cuBLASLt
// scratch.
struct GeneralLayout {
  size_t scores = 0, probs = 0, lt = 0, total = 0;
};

GeneralLayout general_layout(const Problem& p) {
  GeneralLayout l;
  const auto n =
      static_cast<size_t>(p.batch_volume) * static_cast<size_t>(p.lq) * static_cast<size_t>(p.lk);
  l.scores = 0;
  l.probs = align_up(n * sizeof(float));
  l.lt = l.probs + (p.dt == DataType::kFloat32 ? 0 : align_up(n * dtype_size(p.dt)));
  l.total = l.lt + kLtWorkspace;
  return l;
}

// ---- general path: masked softmax ----

struct SoftmaxArgs {
  float* s;  // [rows, lk] fp32 scores, in place
  void* p;   // [rows, lk] probabilities in T (== s when T is float)
  const void* mask;
  int64_t rows, lq, lk;
  int64_t msq, msk;
  int mask_kind;
  int causal;
  int zero_rows;  // fully masked rows give zeros (else NaN)
  int nb;
  int64_t bdims[kMaxRank], sm[kMaxRank];
};

constexpr int kSoftmaxThreads = 256;  // one warp per row
constexpr int kSoftmaxRowsPerBlock = kSoftmaxThreads / 32;

template <class T>
__global__ void __launch_bounds__(kSoftmaxThreads) masked_softmax_kernel(const SoftmaxArgs a) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const auto* mask_b = static_cast<const uint8_t*>(a.mask);
  const auto* mask_f = static_cast<const T*>(a.mask);
  for (int64_t row = static_cast<int64_t>(blockIdx.x) * kSoftmaxRowsPerBlock + warp; row < a.rows;
       row += static_cast<int64_t>(gridDim.x) * kSoftmaxRowsPerBlock) {
    const int64_t i = row % a.lq, b = row / a.lq;  // query index, batch index
    float* sr = a.s + row * a.lk;
    T* pr = static_cast<T*>(a.p) + row * a.lk;
    const int64_t mo =
        a.mask_kind != kMaskNone ? batch_offset(b, a.nb, a.bdims, a.sm) + i * a.msq : 0;
    // Each lane only ever touches columns j = lane (mod 32): in place is safe, also for T = float.
    float mx = -INFINITY;
    for (int64_t j = lane; j < a.lk; j += 32) {
      float x = sr[j];
      if (a.mask_kind == kMaskBool) {
        if (mask_b[mo + j * a.msk] == 0) x = -INFINITY;
      } else if (a.mask_kind == kMaskFloat) {
        x += to_f32(mask_f[mo + j * a.msk]);
      }
      if (a.causal && j > i) x = -INFINITY;
      sr[j] = x;
      mx = fmaxf(mx, x);
    }
    mx = warp_max(mx);
    if (mx == -INFINITY) {  // fully masked row: NaN, as the reference (zeros with zero_masked_rows)
      for (int64_t j = lane; j < a.lk; j += 32) pr[j] = from_f32<T>(a.zero_rows ? 0.0f : NAN);
      continue;
    }
    float sum = 0.0f;
    for (int64_t j = lane; j < a.lk; j += 32) {
      const float ex = expf(sr[j] - mx);
      sr[j] = ex;
      sum += ex;
    }
    const float inv = 1.0f / warp_sum(sum);
    for (int64_t j = lane; j < a.lk; j += 32) pr[j] = from_f32<T>(sr[j] * inv);
  }
}

// ---- general path: cuBLASLt ----

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

int alignment_of(uintptr_t v) {
  int a = 256;
  while (a > 1 && v % static_cast<uintptr_t>(a) != 0) a /= 2;
  return a;
}

// A column-major cuBLASLt problem D = op(A) op(B) (matrices as stored: rows x cols, ld = rows),
// batched `batch` times with element strides (0 = broadcast), run once per entry of `calls`.
struct LtProblem {
  cudaDataType_t ta = CUDA_R_32F, tb = CUDA_R_32F, td = CUDA_R_32F;
  cublasComputeType_t compute = CUBLAS_COMPUTE_32F;
  cublasOperation_t opa = CUBLAS_OP_N, opb = CUBLAS_OP_N;
  uint64_t a_rows = 0, a_cols = 0, b_rows = 0, b_cols = 0, d_rows = 0, d_cols = 0;
  int32_t batch = 1;
  int64_t sa = 0, sb = 0, sd = 0;
  size_t ea = 4, eb = 4, ed = 4;  // element bytes
};

struct LtCall {
  const void* a;
  const void* b;
  void* d;
};

struct LtDescs {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t la = nullptr, lb = nullptr, ld = nullptr;
  cublasLtMatmulPreference_t pref = nullptr;
  LtDescs() = default;
  LtDescs(const LtDescs&) = delete;
  LtDescs& operator=(const LtDescs&) = delete;
  ~LtDescs() {
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
    if (ld) cublasLtMatrixLayoutDestroy(ld);
    if (lb) cublasLtMatrixLayoutDestroy(lb);
    if (la) cublasLtMatrixLayoutDestroy(la);
    if (op) cublasLtMatmulDescDestroy(op);
  }
};

Status set_batch(cublasLtMatrixLayout_t l, int32_t count, int64_t stride) {
  KILN_CUBLAS_RETURN(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count,
                                                      sizeof count));
  KILN_CUBLAS_RETURN(cublasLtMatrixLayoutSetAttribute(
      l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof stride));
  return {};
}

// Heuristic algorithm per problem (+ alignments, device), cached across launches.
std::mutex g_algo_mu;
std::map<std::string, cublasLtMatmulAlgo_t>& algo_cache() {
  static std::map<std::string, cublasLtMatmulAlgo_t> cache;
  return cache;
}

Status run_lt(const LaunchArgs& args, const LtProblem& g, float alpha,
              const std::vector<LtCall>& calls, void* ws, size_t ws_bytes) {
  if (calls.empty()) return {};
  LtDescs d;
  KILN_CUBLAS_RETURN(cublasLtMatmulDescCreate(&d.op, g.compute, CUDA_R_32F));
  KILN_CUBLAS_RETURN(
      cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_TRANSA, &g.opa, sizeof g.opa));
  KILN_CUBLAS_RETURN(
      cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_TRANSB, &g.opb, sizeof g.opb));
  KILN_CUBLAS_RETURN(
      cublasLtMatrixLayoutCreate(&d.la, g.ta, g.a_rows, g.a_cols, static_cast<int64_t>(g.a_rows)));
  KILN_CUBLAS_RETURN(
      cublasLtMatrixLayoutCreate(&d.lb, g.tb, g.b_rows, g.b_cols, static_cast<int64_t>(g.b_rows)));
  KILN_CUBLAS_RETURN(
      cublasLtMatrixLayoutCreate(&d.ld, g.td, g.d_rows, g.d_cols, static_cast<int64_t>(g.d_rows)));
  if (g.batch > 1) {
    KILN_RETURN_IF_ERROR(set_batch(d.la, g.batch, g.sa));
    KILN_RETURN_IF_ERROR(set_batch(d.lb, g.batch, g.sb));
    KILN_RETURN_IF_ERROR(set_batch(d.ld, g.batch, g.sd));
  }
  // Smallest alignment any call (and any batch member) sees.
  int al[3] = {256, 256, 256};
  for (const LtCall& c : calls) {
    al[0] = std::min(al[0], alignment_of(reinterpret_cast<uintptr_t>(c.a)));
    al[1] = std::min(al[1], alignment_of(reinterpret_cast<uintptr_t>(c.b)));
    al[2] = std::min(al[2], alignment_of(reinterpret_cast<uintptr_t>(c.d)));
  }
  if (g.batch > 1) {
    if (g.sa != 0) al[0] = std::min(al[0], alignment_of(static_cast<uintptr_t>(g.sa) * g.ea));
    if (g.sb != 0) al[1] = std::min(al[1], alignment_of(static_cast<uintptr_t>(g.sb) * g.eb));
    if (g.sd != 0) al[2] = std::min(al[2], alignment_of(static_cast<uintptr_t>(g.sd) * g.ed));
  }
  std::string key =
      std::to_string(args.state.device) + "|" + std::to_string(static_cast<int>(g.ta)) + "," +
      std::to_string(static_cast<int>(g.tb)) + "," + std::to_string(static_cast<int>(g.td)) + "," +
      std::to_string(static_cast<int>(g.compute)) + "|" + std::to_string(static_cast<int>(g.opa)) +
      std::to_string(static_cast<int>(g.opb)) + "|" + std::to_string(g.a_rows) + "x" +
      std::to_string(g.a_cols) + "," + std::to_string(g.b_rows) + "x" + std::to_string(g.b_cols) +
      "," + std::to_string(g.d_rows) + "x" + std::to_string(g.d_cols) + "|b" +
      std::to_string(g.batch) + "|s" + std::to_string(g.sa) + "," + std::to_string(g.sb) + "," +
      std::to_string(g.sd) + "|al" + std::to_string(al[0]) + "," + std::to_string(al[1]) + "," +
      std::to_string(al[2]) + "|ws" + std::to_string(ws_bytes);
  cublasLtMatmulAlgo_t algo{};
  bool found = false;
  {
    std::lock_guard<std::mutex> lock(g_algo_mu);
    auto it = algo_cache().find(key);
    if (it != algo_cache().end()) {
      algo = it->second;
      found = true;
    }
  }
  if (!found) {
    KILN_CUBLAS_RETURN(cublasLtMatmulPreferenceCreate(&d.pref));
    uint64_t max_ws = ws_bytes;
    KILN_CUBLAS_RETURN(cublasLtMatmulPreferenceSetAttribute(
        d.pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &max_ws, sizeof max_ws));
    const cublasLtMatmulPreferenceAttributes_t attrs[4] = {
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES};
    const uint32_t vals[4] = {static_cast<uint32_t>(al[0]), static_cast<uint32_t>(al[1]),
                              static_cast<uint32_t>(al[2]), static_cast<uint32_t>(al[2])};
    for (int i = 0; i < 4; ++i)
      KILN_CUBLAS_RETURN(
          cublasLtMatmulPreferenceSetAttribute(d.pref, attrs[i], &vals[i], sizeof vals[i]));
    cublasLtMatmulHeuristicResult_t result{};
    int returned = 0;
    KILN_CUBLAS_RETURN(cublasLtMatmulAlgoGetHeuristic(args.state.lt, d.op, d.la, d.lb, d.ld, d.ld,
                                                      d.pref, 1, &result, &returned));
    if (returned == 0 || result.state != CUBLAS_STATUS_SUCCESS)
      return layer_error(args.layer, StatusCode::kUnsupported,
                         "no cuBLASLt algorithm for an attention GEMM");
    algo = result.algo;
    std::lock_guard<std::mutex> lock(g_algo_mu);
    algo_cache().emplace(key, algo);
  }
  const float beta = 0.0f;
  for (const LtCall& c : calls) {
    KILN_CUBLAS_RETURN(cublasLtMatmul(args.state.lt, d.op, &alpha, c.a, d.la, c.b, d.lb, &beta, c.d,
                                      d.ld, c.d, d.ld, &algo, ws, ws_bytes, args.stream));
  }
  return {};
}

// First batch dim from which every operand is complete or fully broadcast (see the file comment).
int inner_split(const Problem& p) {
  const Dims* ops[3] = {&p.qb, &p.kb, &p.vb};
  for (int s = 0; s < p.nb; ++s) {
    bool ok = true;
    for (const Dims* op : ops) {
      bool full = true, bcast = true;
      for (int d = s; d < p.nb; ++d) {
        if (p.batch[d] == 1) continue;
        if ((*op)[d] == p.batch[d]) {
          bcast = false;
        } else {
          full = false;
        }
      }
      ok = ok && (full || bcast);
    }
    if (ok) return s;
  }
  return p.nb;
}

// Is operand `ob` complete (not broadcast) along batch dims [s, nb)?
bool complete_from(const Problem& p, const Dims& ob, int s) {
  for (int d = s; d < p.nb; ++d)
    if (p.batch[d] != 1 && ob[d] != p.batch[d]) return false;
  return true;
}

template <class T>
Status launch_general(const LaunchArgs& a, const Problem& p) {
  const GeneralLayout lay = general_layout(p);
  if (a.workspace == nullptr || a.workspace_bytes < lay.total) {
    return layer_error(a.layer, StatusCode::kInternal,
                       "attention workspace too small: " + std::to_string(a.workspace_bytes) +
                           " < " + std::to_string(lay.total));
  }
  auto* ws = static_cast<uint8_t*>(a.workspace);
  float* scores = reinterpret_cast<float*>(ws + lay.scores);
  T* probs = std::is_same_v<T, float> ? reinterpret_cast<T*>(scores)
                                      : reinterpret_cast<T*>(ws + lay.probs);
  void* lt_ws = ws + lay.lt;
  const size_t es = sizeof(T);

  const int split = inner_split(p);
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < split; ++d) outer *= p.batch[d];
  for (int d = split; d < p.nb; ++d) inner *= p.batch[d];
  if (inner > static_cast<int64_t>(INT_MAX))
    return layer_error(a.layer, StatusCode::kUnsupported,
                       "attention batch exceeds the cuBLASLt batch count");
  // Per outer index: element offsets of q, k, v (their outer dims' strides).
  std::vector<int64_t> oq(static_cast<size_t>(outer)), ok(static_cast<size_t>(outer)),
      ov(static_cast<size_t>(outer));
  for (int64_t o = 0; o < outer; ++o) {
    int64_t rem = o, xq = 0, xk = 0, xv = 0;
    for (int d = split - 1; d >= 0; --d) {
      const int64_t c = rem % p.batch[d];
      rem /= p.batch[d];
      xq += c * p.sq[d];
      xk += c * p.sk[d];
      xv += c * p.sv[d];
    }
    oq[static_cast<size_t>(o)] = xq;
    ok[static_cast<size_t>(o)] = xk;
    ov[static_cast<size_t>(o)] = xv;
  }
  const auto* Q = static_cast<const uint8_t*>(a.in[0].data);
  const auto* K = static_cast<const uint8_t*>(a.in[1].data);
  const auto* V = static_cast<const uint8_t*>(a.in[2].data);
  auto* O = static_cast<uint8_t*>(a.out[0].data);
  const int64_t s_mat = p.lq * p.lk;  // elements per score matrix
  const cublasComputeType_t compute = (p.dt == DataType::kFloat32 && a.state.allow_tf32)
                                          ? CUBLAS_COMPUTE_32F_FAST_TF32
                                          : CUBLAS_COMPUTE_32F;

  // 1) scores (row-major [Lq, Lk]) = scale * Q K^T, as column-major D (Lk x Lq) = K^T' Q: Lt A = K
  //    memory (E x Lk, transposed), Lt B = Q memory (E x Lq).
  if (p.e == 0) {
    KILN_CUDA_RETURN(cudaMemsetAsync(
        scores, 0, static_cast<size_t>(p.batch_volume * s_mat) * sizeof(float), a.stream));
  } else {
    LtProblem g;
    g.ta = g.tb = cuda_type(p.dt);
    g.td = CUDA_R_32F;
    g.compute = compute;
    g.opa = CUBLAS_OP_T;
    g.opb = CUBLAS_OP_N;
    g.a_rows = static_cast<uint64_t>(p.e);
    g.a_cols = static_cast<uint64_t>(p.lk);
    g.b_rows = static_cast<uint64_t>(p.e);
    g.b_cols = static_cast<uint64_t>(p.lq);
    g.d_rows = static_cast<uint64_t>(p.lk);
    g.d_cols = static_cast<uint64_t>(p.lq);
    g.batch = static_cast<int32_t>(inner);
    g.sa = complete_from(p, p.kb, split) ? p.lk * p.e : 0;
    g.sb = complete_from(p, p.qb, split) ? p.lq * p.e : 0;
    g.sd = s_mat;
    g.ea = g.eb = es;
    g.ed = sizeof(float);
    std::vector<LtCall> calls(static_cast<size_t>(outer));
    for (int64_t o = 0; o < outer; ++o) {
      const auto u = static_cast<size_t>(o);
      calls[u] = {K + ok[u] * static_cast<int64_t>(es), Q + oq[u] * static_cast<int64_t>(es),
                  scores + o * inner * s_mat};
    }
    KILN_RETURN_IF_ERROR(run_lt(a, g, p.scale, calls, lt_ws, kLtWorkspace));
  }

  // 2) masked softmax, rows of Lk.
  SoftmaxArgs sa{};
  sa.s = scores;
  sa.p = probs;
  sa.mask = p.mask != kMaskNone ? a.in[3].data : nullptr;
  sa.rows = p.batch_volume * p.lq;
  sa.lq = p.lq;
  sa.lk = p.lk;
  sa.msq = p.msq;
  sa.msk = p.msk;
  sa.mask_kind = p.mask;
  sa.causal = p.causal ? 1 : 0;
  sa.zero_rows = p.zero_rows ? 1 : 0;
  sa.nb = p.nb;
  for (int d = 0; d < p.nb; ++d) {
    sa.bdims[d] = p.batch[d];
    sa.sm[d] = p.sm[d];
  }
  const int64_t blocks =
      std::min<int64_t>((sa.rows + kSoftmaxRowsPerBlock - 1) / kSoftmaxRowsPerBlock, 1 << 20);
  masked_softmax_kernel<T><<<static_cast<unsigned>(blocks), kSoftmaxThreads, 0, a.stream>>>(sa);
  KILN_CUDA_LAUNCH_CHECK();

  // 3) out (row-major [Lq, Ev]) = P V, as column-major D (Ev x Lq) = V' P': Lt A = V memory (Ev x
  // Lk),
  //    Lt B = P memory (Lk x Lq).
  {
    LtProblem g;
    g.ta = g.tb = g.td = cuda_type(p.dt);
    g.compute = compute;
    g.opa = CUBLAS_OP_N;
    g.opb = CUBLAS_OP_N;
    g.a_rows = static_cast<uint64_t>(p.ev);
    g.a_cols = static_cast<uint64_t>(p.lk);
    g.b_rows = static_cast<uint64_t>(p.lk);
    g.b_cols = static_cast<uint64_t>(p.lq);
    g.d_rows = static_cast<uint64_t>(p.ev);
    g.d_cols = static_cast<uint64_t>(p.lq);
    g.batch = static_cast<int32_t>(inner);
    g.sa = complete_from(p, p.vb, split) ? p.lk * p.ev : 0;
    g.sb = s_mat;
    g.sd = p.lq * p.ev;
    g.ea = g.eb = g.ed = es;
    std::vector<LtCall> calls(static_cast<size_t>(outer));
    for (int64_t o = 0; o < outer; ++o) {
      const auto u = static_cast<size_t>(o);
      calls[u] = {V + ov[u] * static_cast<int64_t>(es), probs + o * inner * s_mat,
                  O + o * inner * p.lq * p.ev * static_cast<int64_t>(es)};
    }
    KILN_RETURN_IF_ERROR(run_lt(a, g, 1.0f, calls, lt_ws, kLtWorkspace));
  }
  return {};
}

}  // namespace

size_t workspace_attention(const ir::Layer& layer, std::span<const TensorView> in,
                           std::span<const TensorView> out) {
  Problem p;
  if (!analyze(layer, in, out, p).ok()) return 0;  // the launch reports the error
  if (out[0].numel() <= 0 || p.lk == 0) return 0;
  if (p.decode) return decode_workspace(p);
  if (p.flash) return 0;
  return general_layout(p).total;
}

Status launch_attention(const LaunchArgs& a) { return launch_attention_strided(a, nullptr); }

Status launch_attention_strided(const LaunchArgs& a, const AttentionStrides* strides) {
  Problem p;
  KILN_RETURN_IF_ERROR(analyze(a.layer, a.in, a.out, p, strides));
  if (a.out[0].numel() == 0) return {};
  if (p.strided && (!p.flash || p.lk == 0))
    return layer_error(a.layer, StatusCode::kInternal,
                       "attention through strided views needs the flash path (f16/bf16, head dim "
                       "32/64/80/96/128) and keys");
  if (p.lk == 0) {  // softmax over nothing: zeros, as the reference
    KILN_CUDA_RETURN(cudaMemsetAsync(a.out[0].data, 0, a.out[0].bytes(), a.stream));
    return {};
  }
  if (a.in[0].data == nullptr || a.in[1].data == nullptr || a.in[2].data == nullptr ||
      a.out[0].data == nullptr || (p.mask != kMaskNone && a.in[3].data == nullptr))
    return layer_error(a.layer, StatusCode::kInternal, "attention operand without device memory");
  if (p.decode) {
    bool launched = false;
    KILN_RETURN_IF_ERROR(launch_decode_attention(a, p, &launched));
    if (launched) return {};
  }
  if (p.flash) {
    return launch_flash_attention(a, p);
  }
  switch (p.dt) {
    case DataType::kFloat16:
      return launch_general<__half>(a, p);
    case DataType::kBFloat16:
      return launch_general<__nv_bfloat16>(a, p);
    default:
      return launch_general<float>(a, p);
  }
}

}  // namespace kiln::cuda
