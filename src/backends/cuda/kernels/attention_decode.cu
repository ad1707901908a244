// Scaled dot-product attention, decode path (split-K / flash-decoding; see attention.cu for the
// paths and their semantics): a few query rows (Lq <= kDecodeMaxQ, the new tokens of a decode
// step) attend over many keys (the KV cache). The flash kernel would give one block per batch
// index with 63 of its 64 query rows empty, and few blocks in all; here the key range of every
// batch index is split across `splits` blocks instead.
//
//  * split kernel: block (batch index b, split s) of 4 warps takes keys [s * chunk, (s+1) * chunk).
//    A key is handled by E/8 lanes (16 bytes of K and of V each, one vector load); the block's
//    128 / (E/8) lane groups stride over the keys, several keys per step for memory parallelism.
//    Per query row every group keeps an online softmax (running max m, sum l, unnormalized
//    accumulator) in fp32 registers; scores stay in natural units (x = scale * q.k + mask), so a
//    finfo.min padding mask neither overflows nor counts as -inf. The groups merge through shared
//    memory; with one split the block writes the output, else (m, l, acc) to the workspace.
//  * combine kernel: per (batch index, query row) the splits' partials merge by log-sum-exp:
//    M = max m_s, out = sum_s exp(m_s - M) acc_s / sum_s exp(m_s - M) l_s.
//
// The split count comes from the number of SMs and the batch volume (about two blocks per SM),
// bounded by Lk / kDecodeMinKeys and kDecodeMaxSplits (the workspace is sized for that bound).
// Masks (bool / additive, any broadcast), causal (top-left) and fully masked rows (NaN, or zeros
// with zero_masked_rows) as every path; GQA/MQA as broadcast batch dims (k/v of stride 0 along the
// query-heads-per-key-head dim): consecutive blocks share a key head, so its keys come from L2.
#include <algorithm>

#include "backends/cuda/kernels/attention_common.cuh"

namespace kiln::cuda::attn {
namespace {

constexpr int kDecodeThreads = 128;
constexpr int kUnroll = 4;  // keys in flight per lane group

struct DecodeArgs {
  const uint16_t* q;
  const uint16_t* k;
  const uint16_t* v;
  uint16_t* o;
  const void* mask;
  float* part;  // [batch_volume * lq, splits, E + 2]: m, l, acc (splits > 1)
  int64_t lq, lk, chunk;
  int64_t msq, msk;
  int splits;
  float scale;
  int mask_kind, causal, zero_rows, nb;
  int64_t bdims[kMaxRank];
  int64_t sq[kMaxRank], sk[kMaxRank], sv[kMaxRank], sm[kMaxRank], so[kMaxRank];
  int64_t rq, rk, rv, ro;
};

template <class T>
__device__ __forceinline__ void unpack8(const uint4& u, float (&f)[8]) {
  const uint32_t w[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    float2 t;
    if constexpr (std::is_same_v<T, __half>) {
      t = __half22float2(*reinterpret_cast<const __half2*>(&w[i]));
    } else {
      t = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&w[i]));
    }
    f[2 * i] = t.x;
    f[2 * i + 1] = t.y;
  }
}

template <class T>
__device__ __forceinline__ float mask_score(const DecodeArgs& a, float x, int64_t moff, int64_t i,
                                            int64_t j) {
  if (a.mask_kind == kMaskBool) {
    if (static_cast<const uint8_t*>(a.mask)[moff + j * a.msk] == 0) return -INFINITY;
  } else if (a.mask_kind == kMaskFloat) {
    x += to_f32(static_cast<const T*>(a.mask)[moff + j * a.msk]);
  }
  if (a.causal && j > i) return -INFINITY;
  return x;
}

// Final value of one output element from merged (l, acc).
__device__ __forceinline__ float finish(float l, float acc, int zero_rows) {
  if (l > 0.0f) return acc / l;
  return zero_rows ? 0.0f : NAN;
}

template <class T, int kE, int kQ>
__global__ void __launch_bounds__(kDecodeThreads) decode_split_kernel(const DecodeArgs a) {
  constexpr int kLanes = kE / 8;  // lanes per key
  constexpr int kGroups = kDecodeThreads / kLanes;
  __shared__ float s_m[kGroups][kQ], s_l[kGroups][kQ];
  __shared__ float s_acc[kGroups][kQ][kE];
  const int g = threadIdx.x / kLanes, t = threadIdx.x % kLanes;
  const int64_t b = blockIdx.x / a.splits;
  const int split = static_cast<int>(blockIdx.x % a.splits);
  const int64_t j0 = split * a.chunk;
  const int64_t j1 = min(a.lk, j0 + a.chunk);
  const int nq = static_cast<int>(a.lq);

  const uint16_t* qb = a.q + batch_offset(b, a.nb, a.bdims, a.sq) + t * 8;
  const uint16_t* kb = a.k + batch_offset(b, a.nb, a.bdims, a.sk) + t * 8;
  const uint16_t* vb = a.v + batch_offset(b, a.nb, a.bdims, a.sv) + t * 8;
  const int64_t mb = a.mask_kind != kMaskNone ? batch_offset(b, a.nb, a.bdims, a.sm) : 0;

  float qf[kQ][8], acc[kQ][8], m[kQ], l[kQ];
#pragma unroll
  for (int i = 0; i < kQ; ++i) {
    m[i] = -INFINITY;
    l[i] = 0.0f;
#pragma unroll
    for (int e = 0; e < 8; ++e) acc[i][e] = qf[i][e] = 0.0f;
    if (i < nq) {
      unpack8<T>(*reinterpret_cast<const uint4*>(qb + i * a.rq), qf[i]);
#pragma unroll
      for (int e = 0; e < 8; ++e) qf[i][e] *= a.scale;
    }
  }

  // Every lane runs the same number of steps (the reductions shuffle within the lane group). The
  // mask is read first: a key masked out for every query row (-inf, false, causal) loads no K/V, so
  // the empty columns of a cache sized for max_seq_len cost almost nothing.
  for (int64_t base = j0; base < j1; base += static_cast<int64_t>(kGroups) * kUnroll) {
    uint4 kr[kUnroll], vr[kUnroll];
    float bias[kUnroll][kQ];
    bool live[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t j = base + u * kGroups + g;
      live[u] = false;
#pragma unroll
      for (int i = 0; i < kQ; ++i) {
        bias[u][i] = -INFINITY;
        if (i < nq && j < j1) {
          bias[u][i] = mask_score<T>(a, 0.0f, mb + i * a.msq, i, j);
          live[u] = live[u] || bias[u][i] != -INFINITY;
        }
      }
      if (live[u]) {
        kr[u] = __ldg(reinterpret_cast<const uint4*>(kb + j * a.rk));
        vr[u] = __ldg(reinterpret_cast<const uint4*>(vb + j * a.rv));
      } else {
        kr[u] = vr[u] = make_uint4(0, 0, 0, 0);
      }
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      float kf[8], vf[8];
      unpack8<T>(kr[u], kf);
      unpack8<T>(vr[u], vf);
#pragma unroll
      for (int i = 0; i < kQ; ++i) {
        if (i >= nq) break;
        float d = 0.0f;
#pragma unroll
        for (int e = 0; e < 8; ++e) d = fmaf(qf[i][e], kf[e], d);
#pragma unroll
        for (int o = kLanes / 2; o > 0; o >>= 1) d += __shfl_xor_sync(0xffffffffu, d, o);
        if (bias[u][i] == -INFINITY) continue;
        const float x = d + bias[u][i];
        if (x > m[i]) {
          const float r = exp2f((m[i] - x) * kLog2e);  // 0 while m is -inf
          l[i] *= r;
#pragma unroll
          for (int e = 0; e < 8; ++e) acc[i][e] *= r;
          m[i] = x;
        }
        const float p = exp2f((x - m[i]) * kLog2e);
        l[i] += p;
#pragma unroll
        for (int e = 0; e < 8; ++e) acc[i][e] = fmaf(p, vf[e], acc[i][e]);
      }
    }
  }

  // Merge the lane groups of the block.
#pragma unroll
  for (int i = 0; i < kQ; ++i) {
    if (t == 0) {
      s_m[g][i] = m[i];
      s_l[g][i] = l[i];
    }
#pragma unroll
    for (int e = 0; e < 8; ++e) s_acc[g][i][t * 8 + e] = acc[i][e];
  }
  __syncthreads();
  for (int idx = threadIdx.x; idx < nq * kE; idx += kDecodeThreads) {
    const int i = idx / kE, e = idx % kE;
    float mx = -INFINITY;
    for (int gg = 0; gg < kGroups; ++gg) mx = fmaxf(mx, s_m[gg][i]);
    float ls = 0.0f, as = 0.0f;
    if (mx != -INFINITY) {
      for (int gg = 0; gg < kGroups; ++gg) {
        if (s_m[gg][i] == -INFINITY) continue;
        const float r = exp2f((s_m[gg][i] - mx) * kLog2e);
        ls += r * s_l[gg][i];
        as += r * s_acc[gg][i][e];
      }
    }
    if (a.splits == 1) {
      T* out = reinterpret_cast<T*>(a.o) + batch_offset(b, a.nb, a.bdims, a.so) + i * a.ro + e;
      *out = from_f32<T>(finish(ls, as, a.zero_rows));
    } else {
      float* pp = a.part + ((b * a.lq + i) * a.splits + split) * (kE + 2);
      if (e == 0) {
        pp[0] = mx;
        pp[1] = ls;
      }
      pp[2 + e] = as;
    }
  }
}

template <class T, int kE>
__global__ void __launch_bounds__(kE) decode_combine_kernel(const DecodeArgs a) {
  const int64_t row = blockIdx.x;  // b * lq + i
  const int64_t b = row / a.lq, i = row % a.lq;
  const int e = threadIdx.x;
  const float* pp = a.part + row * a.splits * (kE + 2);
  float mx = -INFINITY;
  for (int s = 0; s < a.splits; ++s) mx = fmaxf(mx, pp[s * (kE + 2)]);
  float ls = 0.0f, as = 0.0f;
  if (mx != -INFINITY) {
    for (int s = 0; s < a.splits; ++s) {
      const float ms = pp[s * (kE + 2)];
      if (ms == -INFINITY) continue;
      const float r = exp2f((ms - mx) * kLog2e);
      ls += r * pp[s * (kE + 2) + 1];
      as += r * pp[s * (kE + 2) + 2 + e];
    }
  }
  T* out = reinterpret_cast<T*>(a.o) + batch_offset(b, a.nb, a.bdims, a.so) + i * a.ro + e;
  *out = from_f32<T>(finish(ls, as, a.zero_rows));
}

bool vec16(const void* ptr, const int64_t* batch_strides, int nb, int64_t row_stride) {
  if (reinterpret_cast<uintptr_t>(ptr) % 16 != 0 || row_stride % 8 != 0) return false;
  for (int d = 0; d < nb; ++d)
    if (batch_strides[d] % 8 != 0) return false;
  return true;
}

template <class T, int kE, int kQ>
Status launch_typed(const LaunchArgs& la, const DecodeArgs& a) {
  const int64_t blocks = (la.out[0].numel() / (a.lq * kE)) * a.splits;
  decode_split_kernel<T, kE, kQ>
      <<<static_cast<unsigned>(blocks), kDecodeThreads, 0, la.stream>>>(a);
  KILN_CUDA_LAUNCH_CHECK();
  if (a.splits > 1) {
    const int64_t rows = la.out[0].numel() / kE;
    decode_combine_kernel<T, kE><<<static_cast<unsigned>(rows), kE, 0, la.stream>>>(a);
    KILN_CUDA_LAUNCH_CHECK();
  }
  return {};
}

template <class T, int kE>
Status launch_q(const LaunchArgs& la, const DecodeArgs& a) {
  if (a.lq == 1) return launch_typed<T, kE, 1>(la, a);
  return launch_typed<T, kE, kDecodeMaxQ>(la, a);
}

template <class T>
Status launch_e(const LaunchArgs& la, const DecodeArgs& a, int64_t e) {
  if (e == 32) return launch_q<T, 32>(la, a);
  if (e == 64) return launch_q<T, 64>(la, a);
  return launch_q<T, 128>(la, a);
}

}  // namespace

int64_t decode_max_splits(const Problem& p) {
  const int64_t by_keys = (p.lk + kDecodeMinKeys - 1) / kDecodeMinKeys;
  return std::max<int64_t>(1, std::min<int64_t>(kDecodeMaxSplits, by_keys));
}

int64_t decode_splits(const Problem& p, int num_sms) {
  const int64_t sms = num_sms > 0 ? num_sms : 132;
  const int64_t want = (2 * sms + p.batch_volume - 1) / std::max<int64_t>(1, p.batch_volume);
  const int64_t splits = std::clamp<int64_t>(want, 1, decode_max_splits(p));
  // No empty split: the chunk is rounded up, the count recomputed from it.
  const int64_t chunk = (p.lk + splits - 1) / splits;
  return (p.lk + chunk - 1) / chunk;
}

size_t decode_workspace(const Problem& p) {
  if (decode_max_splits(p) <= 1) return 0;
  return static_cast<size_t>(p.batch_volume * p.lq * decode_max_splits(p) * (p.e + 2)) *
         sizeof(float);
}

Status launch_decode_attention(const LaunchArgs& la, const Problem& p, bool* launched) {
  *launched = false;
  // 16-byte vector loads of q, k and v rows: otherwise the flash path runs.
  if (!vec16(la.in[0].data, p.sq, p.nb, p.lq > 1 ? p.rq : 0) ||
      !vec16(la.in[1].data, p.sk, p.nb, p.rk) || !vec16(la.in[2].data, p.sv, p.nb, p.rv))
    return {};
  DecodeArgs a{};
  a.q = static_cast<const uint16_t*>(la.in[0].data);
  a.k = static_cast<const uint16_t*>(la.in[1].data);
  a.v = static_cast<const uint16_t*>(la.in[2].data);
  a.o = static_cast<uint16_t*>(la.out[0].data);
  a.mask = p.mask != kMaskNone ? la.in[3].data : nullptr;
  a.lq = p.lq;
  a.lk = p.lk;
  a.splits = static_cast<int>(decode_splits(p, la.state.num_sms));
  a.chunk = (p.lk + a.splits - 1) / a.splits;
  if (a.splits > 1) {
    if (la.workspace == nullptr || la.workspace_bytes < decode_workspace(p))
      return layer_error(la.layer, StatusCode::kInternal, "decode attention workspace too small");
    a.part = static_cast<float*>(la.workspace);
  }
  a.msq = p.msq;
  a.msk = p.msk;
  a.scale = p.scale;
  a.mask_kind = p.mask;
  a.causal = p.causal ? 1 : 0;
  a.zero_rows = p.zero_rows ? 1 : 0;
  a.nb = p.nb;
  a.rq = p.rq;
  a.rk = p.rk;
  a.rv = p.rv;
  a.ro = p.ro;
  for (int d = 0; d < p.nb; ++d) {
    a.bdims[d] = p.batch[d];
    a.sq[d] = p.sq[d];
    a.sk[d] = p.sk[d];
    a.sv[d] = p.sv[d];
    a.sm[d] = p.sm[d];
    a.so[d] = p.so[d];
  }
  *launched = true;
  if (p.dt == DataType::kFloat16) return launch_e<__half>(la, a, p.e);
  return launch_e<__nv_bfloat16>(la, a, p.e);
}

}  // namespace kiln::cuda::attn
