// Scaled dot-product attention, flash path (see attention.cu for both paths and their semantics).
#include "backends/cuda/kernels/attention_common.cuh"

namespace kiln::cuda::attn {
namespace {

// ---- flash path ----

struct FlashArgs {
  const uint16_t* q;  // 16-bit element bits
  const uint16_t* k;
  const uint16_t* v;
  uint16_t* o;
  const void* mask;  // uint8_t (bool) or T (additive); offsets below
  int64_t lq, lk;
  int64_t msq, msk;
  int64_t num_q_tiles;
  float scale;
  int mask_kind;
  int causal;
  int zero_rows;  // l == 0 (every key masked out) gives zeros, else NaN
  int vec_load;   // q, k, v 16-byte aligned: cp.async; else element copies
  int vec_store;  // o 16-byte aligned
  int nb;
  int64_t bdims[kMaxRank];
  int64_t sq[kMaxRank], sk[kMaxRank], sv[kMaxRank], sm[kMaxRank], so[kMaxRank];
  int64_t rq, rk, rv, ro;  // element strides between rows (along Lq / Lk) of q, k, v, o
};

// Copies rows [row0, row0 + kRows) of a [n_rows, kE] matrix whose rows are `pitch` elements apart
// into smem (pitch kStride); rows past the end are zero (so padded K rows score 0 before masking
// and padded V rows add 0 * 0).
template <int kRows, int kE, int kStride>
__device__ __forceinline__ void load_tile(uint16_t* s, const uint16_t* g, int64_t pitch,
                                          int64_t row0, int64_t n_rows, bool vec) {
  constexpr int kChunks = kE / 8;  // 16-byte chunks per row
  for (int c = threadIdx.x; c < kRows * kChunks; c += kFlashThreads) {
    const int r = c / kChunks, cc = c % kChunks;
    const int64_t gr = row0 + r;
    const bool valid = gr < n_rows;
    uint16_t* dst = s + r * kStride + cc * 8;
    const uint16_t* src =
        g + (valid ? gr : 0) * pitch + cc * 8;  // row 0 always exists (n_rows >= 1)
    if (vec) {
      cp_async16(dst, src, valid);
    } else {
#pragma unroll
      for (int i = 0; i < 8; ++i) dst[i] = valid ? src[i] : uint16_t(0);
    }
  }
}

template <class T, int kE>
__global__ void __launch_bounds__(kFlashThreads) flash_attention_kernel(const FlashArgs p) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  constexpr int kBr = kFlashBr;
  constexpr int kBc = FlashTile<kE>::kBc;
  constexpr int kS = FlashTile<kE>::kStride;
  constexpr int kKSteps = kE / 16;   // k-steps of Q.K^T
  constexpr int kNTilesS = kBc / 8;  // n-tiles (8 keys) of S
  constexpr int kNTilesO = kE / 8;   // n-tiles (8 dims) of O
  static_assert(kNTilesS % 2 == 0 && kNTilesO % 2 == 0, "ldmatrix.x4 loads pairs of n-tiles");
  __shared__ __align__(16) uint16_t s_q[kBr * kS];
  __shared__ __align__(16) uint16_t s_k[kBc * kS];
  __shared__ __align__(16) uint16_t s_v[kBc * kS];

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int g = lane >> 2, t = lane & 3;  // mma fragment coordinates: row group, thread in group
  const int64_t tile = static_cast<int64_t>(blockIdx.x) % p.num_q_tiles;
  const int64_t b = static_cast<int64_t>(blockIdx.x) / p.num_q_tiles;
  const uint16_t* Q = p.q + batch_offset(b, p.nb, p.bdims, p.sq);
  const uint16_t* K = p.k + batch_offset(b, p.nb, p.bdims, p.sk);
  const uint16_t* V = p.v + batch_offset(b, p.nb, p.bdims, p.sv);
  const int64_t mask_off = p.mask_kind != kMaskNone ? batch_offset(b, p.nb, p.bdims, p.sm) : 0;
  const uint8_t* mask_b = static_cast<const uint8_t*>(p.mask) + mask_off;
  const T* mask_f = static_cast<const T*>(p.mask) + mask_off;
  const bool vec = p.vec_load != 0;

  const int64_t q0 = tile * kBr;
  const int64_t warp_row0 = q0 + warp * 16;
  const bool warp_active =
      warp_row0 < p.lq;  // warps with no valid row skip the math (not the barriers)
  const int64_t row_a = warp_row0 + g, row_b = row_a + 8;
  // Causal: no row of this block sees keys >= q0 + kBr.
  const int64_t kv_end = (p.causal && q0 + kBr < p.lk) ? q0 + kBr : p.lk;
  const int64_t n_tiles = (kv_end + kBc - 1) / kBc;  // >= 1: lk >= 1 here

  load_tile<kBr, kE, kS>(s_q, Q, p.rq, q0, p.lq, vec);
  load_tile<kBc, kE, kS>(s_k, K, p.rk, 0, p.lk, vec);
  cp_async_commit();
  load_tile<kBc, kE, kS>(s_v, V, p.rv, 0, p.lk, vec);
  cp_async_commit();

  uint32_t qf[kKSteps][4];
  float o_acc[kNTilesO][4];
#pragma unroll
  for (int n = 0; n < kNTilesO; ++n) o_acc[n][0] = o_acc[n][1] = o_acc[n][2] = o_acc[n][3] = 0.0f;
  float m_run[2] = {-INFINITY, -INFINITY};  // running max of rows g and g + 8 (natural units)
  float l_run[2] = {0.0f, 0.0f};            // this thread's part of the running sums

  for (int64_t j = 0; j < n_tiles; ++j) {
    const int64_t k0 = j * kBc;
    const bool more = j + 1 < n_tiles;
    cp_async_wait<1>();  // everything but the newest group (V_j): Q (first time) and K_j are in
    __syncthreads();
    float s[kNTilesS][4];
#pragma unroll
    for (int n = 0; n < kNTilesS; ++n) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.0f;
    if (warp_active) {
      if (j == 0) {
        // A fragments of this warp's 16 query rows: matrices (rows 0-7 | 8-15) x (cols lo | hi).
#pragma unroll
        for (int kk = 0; kk < kKSteps; ++kk) {
          const int row = warp * 16 + (lane & 7) + ((lane >> 3) & 1) * 8;
          const int col = kk * 16 + (lane >> 4) * 8;
          ldmatrix_x4(qf[kk], s_q + row * kS + col);
        }
      }
      // S = Q K^T: B fragments straight from K rows (K row-major = B column-major).
#pragma unroll
      for (int kk = 0; kk < kKSteps; ++kk) {
#pragma unroll
        for (int n = 0; n < kNTilesS; n += 2) {
          uint32_t kf[4];  // (keys n, cols lo), (keys n, cols hi), (keys n+1, lo), (keys n+1, hi)
          const int key = n * 8 + (lane & 7) + (lane >> 4) * 8;
          const int col = kk * 16 + ((lane >> 3) & 1) * 8;
          ldmatrix_x4(kf, s_k + key * kS + col);
          mma_16816<T>(s[n], qf[kk], kf[0], kf[1]);
          mma_16816<T>(s[n + 1], qf[kk], kf[2], kf[3]);
        }
      }
    }
    __syncthreads();  // every warp is done with K_j
    if (more) load_tile<kBc, kE, kS>(s_k, K, p.rk, k0 + kBc, p.lk, vec);
    cp_async_commit();  // (possibly empty) group keeps the wait counts uniform

    if (warp_active) {
      // Scale, then mask: keys past Lk, the user's mask, causal (key > query). Element cc of n-tile
      // n is (row_a, col) and element cc + 2 is (row_b, col).
      const bool need_mask =
          p.mask_kind != kMaskNone || k0 + kBc > p.lk || (p.causal && k0 + kBc - 1 > warp_row0);
#pragma unroll
      for (int n = 0; n < kNTilesS; ++n) {
#pragma unroll
        for (int cc = 0; cc < 2; ++cc) {
          float xa = s[n][cc] * p.scale, xb = s[n][cc + 2] * p.scale;
          if (need_mask) {
            const int64_t col = k0 + n * 8 + 2 * t + cc;
            if (col >= p.lk) {
              xa = xb = -INFINITY;
            } else {
              if (p.mask_kind != kMaskNone &&
                  row_a < p.lq) {  // (row_b >= lq: its result is never stored)
                const int64_t mo_a = row_a * p.msq + col * p.msk;
                const bool per_row =
                    p.msq != 0 && row_b < p.lq;  // else row_b reads row_a's element
                const int64_t mo_b = row_b * p.msq + col * p.msk;
                if (p.mask_kind == kMaskBool) {
                  const bool keep_a = mask_b[mo_a] != 0;
                  const bool keep_b = per_row ? mask_b[mo_b] != 0 : keep_a;
                  if (!keep_a) xa = -INFINITY;
                  if (!keep_b) xb = -INFINITY;
                } else {
                  const float add_a = to_f32(mask_f[mo_a]);
                  xa += add_a;
                  xb += per_row ? to_f32(mask_f[mo_b]) : add_a;
                }
              }
              if (p.causal) {
                if (col > row_a) xa = -INFINITY;
                if (col > row_b) xb = -INFINITY;
              }
            }
          }
          s[n][cc] = xa;
          s[n][cc + 2] = xb;
        }
      }
      // Online softmax: rows g (elements 0, 1) and g + 8 (elements 2, 3); a row lives in 4 lanes.
      float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
      for (int n = 0; n < kNTilesS; ++n) {
        mx[0] = fmaxf(mx[0], fmaxf(s[n][0], s[n][1]));
        mx[1] = fmaxf(mx[1], fmaxf(s[n][2], s[n][3]));
      }
      float mu[2], alpha[2];
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        mx[i] = fmaxf(mx[i], __shfl_xor_sync(0xffffffffu, mx[i], 1));
        mx[i] = fmaxf(mx[i], __shfl_xor_sync(0xffffffffu, mx[i], 2));
        const float m_new = fmaxf(m_run[i], mx[i]);
        mu[i] = m_new == -INFINITY ? 0.0f : m_new;  // all masked so far: exp(-inf - 0) = 0, no NaN
        alpha[i] = exp2f((m_run[i] - mu[i]) * kLog2e);
        m_run[i] = m_new;
        l_run[i] *= alpha[i];
      }
#pragma unroll
      for (int n = 0; n < kNTilesS; ++n) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const float pe = exp2f((s[n][e] - mu[e >> 1]) * kLog2e);
          s[n][e] = pe;
          l_run[e >> 1] += pe;
        }
      }
#pragma unroll
      for (int n = 0; n < kNTilesO; ++n) {
        o_acc[n][0] *= alpha[0];
        o_acc[n][1] *= alpha[0];
        o_acc[n][2] *= alpha[1];
        o_acc[n][3] *= alpha[1];
      }
    }

    cp_async_wait<1>();  // everything but K_{j+1}: V_j is in
    __syncthreads();
    if (warp_active) {
      // O += P V: P's A fragments are S's accumulators of n-tiles 2c and 2c + 1.
#pragma unroll
      for (int c = 0; c < kBc / 16; ++c) {
        const uint32_t pa[4] = {
            pack2<T>(s[2 * c][0], s[2 * c][1]), pack2<T>(s[2 * c][2], s[2 * c][3]),
            pack2<T>(s[2 * c + 1][0], s[2 * c + 1][1]), pack2<T>(s[2 * c + 1][2], s[2 * c + 1][3])};
#pragma unroll
        for (int n = 0; n < kNTilesO; n += 2) {
          uint32_t vf[4];  // (keys lo, dims n), (keys hi, dims n), (keys lo, dims n+1), (keys hi,
                           // dims n+1)
          const int key = c * 16 + (lane & 7) + ((lane >> 3) & 1) * 8;
          const int col = n * 8 + (lane >> 4) * 8;
          ldmatrix_x4_trans(vf, s_v + key * kS + col);
          mma_16816<T>(o_acc[n], pa, vf[0], vf[1]);
          mma_16816<T>(o_acc[n + 1], pa, vf[2], vf[3]);
        }
      }
    }
    __syncthreads();  // every warp is done with V_j
    if (more) load_tile<kBc, kE, kS>(s_v, V, p.rv, k0 + kBc, p.lk, vec);
    cp_async_commit();
  }
  cp_async_wait<0>();

  if (!warp_active) return;
  float inv[2];
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    float l = l_run[i];
    l += __shfl_xor_sync(0xffffffffu, l, 1);
    l += __shfl_xor_sync(0xffffffffu, l, 2);
    inv[i] =
        l > 0.0f
            ? 1.0f / l
            : (p.zero_rows ? 0.0f : NAN);  // l == 0: every key masked out (NaN, as the reference)
  }
  // Stage this warp's 16 output rows in its own rows of s_q (only this warp ever read them), then
  // write them out row by row.
  uint16_t* so = s_q + warp * 16 * kS;
#pragma unroll
  for (int n = 0; n < kNTilesO; ++n) {
    const int col = n * 8 + 2 * t;
    *reinterpret_cast<uint32_t*>(so + g * kS + col) =
        pack2<T>(o_acc[n][0] * inv[0], o_acc[n][1] * inv[0]);
    *reinterpret_cast<uint32_t*>(so + (g + 8) * kS + col) =
        pack2<T>(o_acc[n][2] * inv[1], o_acc[n][3] * inv[1]);
  }
  __syncwarp();
  uint16_t* O = p.o + batch_offset(b, p.nb, p.bdims, p.so);
  constexpr int kChunks = kE / 8;
  for (int c = lane; c < 16 * kChunks; c += 32) {
    const int r = c / kChunks, cc = c % kChunks;
    const int64_t row = warp_row0 + r;
    if (row >= p.lq) continue;
    const uint16_t* src = so + r * kS + cc * 8;
    uint16_t* dst = O + row * p.ro + cc * 8;
    if (p.vec_store) {
      *reinterpret_cast<uint4*>(dst) = *reinterpret_cast<const uint4*>(src);
    } else {
#pragma unroll
      for (int i = 0; i < 8; ++i) dst[i] = src[i];
    }
  }
#else
  __trap();  // needs sm_80+ (cp.async, bf16 mma)
#endif
}

bool aligned16(const void* ptr) { return reinterpret_cast<uintptr_t>(ptr) % 16 == 0; }

// 16-byte row chunks stay aligned: the base is, and every batch / row stride is a multiple of 8
// elements.
bool vec_ok(const void* ptr, const int64_t* batch_strides, int nb, int64_t row_stride) {
  if (!aligned16(ptr) || row_stride % 8 != 0) return false;
  for (int d = 0; d < nb; ++d)
    if (batch_strides[d] % 8 != 0) return false;
  return true;
}

template <class T, int kE>
Status launch_flash_typed(const LaunchArgs& a, const Problem& p) {
  FlashArgs f{};
  f.q = static_cast<const uint16_t*>(a.in[0].data);
  f.k = static_cast<const uint16_t*>(a.in[1].data);
  f.v = static_cast<const uint16_t*>(a.in[2].data);
  f.o = static_cast<uint16_t*>(a.out[0].data);
  f.mask = p.mask != kMaskNone ? a.in[3].data : nullptr;
  f.lq = p.lq;
  f.lk = p.lk;
  f.msq = p.msq;
  f.msk = p.msk;
  f.num_q_tiles = p.num_q_tiles;
  f.scale = p.scale;
  f.mask_kind = p.mask;
  f.causal = p.causal ? 1 : 0;
  f.zero_rows = p.zero_rows ? 1 : 0;
  f.vec_load = vec_ok(f.q, p.sq, p.nb, p.rq) && vec_ok(f.k, p.sk, p.nb, p.rk) &&
                       vec_ok(f.v, p.sv, p.nb, p.rv)
                   ? 1
                   : 0;
  f.vec_store = vec_ok(f.o, p.so, p.nb, p.ro) ? 1 : 0;
  f.rq = p.rq;
  f.rk = p.rk;
  f.rv = p.rv;
  f.ro = p.ro;
  f.nb = p.nb;
  for (int d = 0; d < p.nb; ++d) {
    f.bdims[d] = p.batch[d];
    f.sq[d] = p.sq[d];
    f.sk[d] = p.sk[d];
    f.sv[d] = p.sv[d];
    f.sm[d] = p.sm[d];
    f.so[d] = p.so[d];
  }
  const int64_t blocks = p.num_q_tiles * p.batch_volume;  // <= INT_MAX (analyze)
  flash_attention_kernel<T, kE><<<static_cast<unsigned>(blocks), kFlashThreads, 0, a.stream>>>(f);
  KILN_CUDA_LAUNCH_CHECK();
  return {};
}

template <class T>
Status launch_flash(const LaunchArgs& a, const Problem& p) {
  switch (p.e) {
    case 32:
      return launch_flash_typed<T, 32>(a, p);
    case 64:
      return launch_flash_typed<T, 64>(a, p);
    case 80:
      return launch_flash_typed<T, 80>(a, p);
    case 96:
      return launch_flash_typed<T, 96>(a, p);
    case 128:
      return launch_flash_typed<T, 128>(a, p);
    default:
      return layer_error(a.layer, StatusCode::kInternal, "flash attention: unsupported head dim");
  }
}

}  // namespace

Status launch_flash_attention(const LaunchArgs& a, const Problem& p) {
  if (p.dt == DataType::kFloat16) return launch_flash<__half>(a, p);
  return launch_flash<__nv_bfloat16>(a, p);
}

}  // namespace kiln::cuda::attn
