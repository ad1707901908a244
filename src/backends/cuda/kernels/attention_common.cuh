// Shared by the attention kernels (attention.cu: problem analysis, general path, dispatch;
// attention_flash.cu: the fused flash kernel): the analyzed problem and the device helpers.
#pragma once

#include <climits>
#include <cstdint>

#include "backends/cuda/cuda_kernels.h"
#include "backends/cuda/kernels/device_utils.cuh"

namespace kiln::cuda::attn {

constexpr float kLog2e = 1.4426950408889634f;
constexpr size_t kLtWorkspace = 4u << 20;  // cuBLASLt scratch of the general path
constexpr size_t kAlign = 256;             // workspace sub-buffer alignment

enum MaskKind : int { kMaskNone = 0, kMaskBool = 1, kMaskFloat = 2 };

// ---- problem analysis (host) ----

struct Problem {
  DataType dt = DataType::kFloat32;
  int nb = 0;       // batch rank (rank - 2)
  Dims batch;       // broadcast batch dims (of the output)
  Dims qb, kb, vb;  // the operands' own batch dims (same rank as `batch`)
  int64_t batch_volume = 0;
  int64_t lq = 0, lk = 0, e = 0, ev = 0;
  float scale = 1.0f;
  bool causal = false;
  bool zero_rows = false;  // zero_masked_rows
  int mask = kMaskNone;
  // Element strides along the batch dims (0 where broadcast), including the matrix size.
  int64_t sq[kMaxRank] = {}, sk[kMaxRank] = {}, sv[kMaxRank] = {}, sm[kMaxRank] = {};
  int64_t so[kMaxRank] = {};  // output batch strides
  int64_t msq = 0, msk = 0;   // mask element strides along Lq and Lk (0 where broadcast)
  // Element strides between consecutive rows (along Lq / Lk); the last dim is contiguous. Row-major
  // operands have e, e, ev, ev; strided views (launch_attention_strided) anything.
  int64_t rq = 0, rk = 0, rv = 0, ro = 0;
  bool strided = false;  // operands are strided views: only the flash path reads them
  bool flash = false;
  bool decode = false;      // the split-K decode kernel may run (attention_decode.cu)
  int64_t num_q_tiles = 0;  // flash only
};

// Decode path (attention_decode.cu): at most kDecodeMaxQ query rows, head dims 32/64/128, at least
// kDecodeMinKeys keys per split, at most kDecodeMaxSplits splits.
constexpr int64_t kDecodeMaxQ = 4;
constexpr int64_t kDecodeMinKeys = 64;
constexpr int64_t kDecodeMaxSplits = 64;

inline bool decode_head_dim(int64_t e) { return e == 32 || e == 64 || e == 128; }

constexpr int kFlashThreads = 128;  // 4 warps
constexpr int kFlashBr = 64;        // query rows per block (16 per warp)

template <int kE>
struct FlashTile {
  static constexpr int kBc =
      kE <= 96 ? 64 : 32;                 // keys per K/V tile (static smem stays under 48 KiB)
  static constexpr int kStride = kE + 8;  // smem row pitch (halves): conflict-free ldmatrix
  static constexpr size_t kSmemBytes = static_cast<size_t>(kFlashBr + 2 * kBc) * kStride * 2;
  static_assert(kE % 16 == 0, "head dim must be a multiple of 16");
  static_assert(kSmemBytes <= 48 * 1024, "static shared memory limit");
};

inline bool flash_head_dim(int64_t e) {
  return e == 32 || e == 64 || e == 80 || e == 96 || e == 128;
}

// ---- device helpers ----

// Offset of batch index `b` (flattened over the nb batch dims) for per-dim element strides `st`.
__device__ __forceinline__ int64_t batch_offset(int64_t b, int nb, const int64_t (&dims)[kMaxRank],
                                                const int64_t (&st)[kMaxRank]) {
  int64_t off = 0;
#pragma unroll
  for (int d = kMaxRank - 1; d >= 0; --d) {
    if (d < nb) {
      const int64_t c = b % dims[d];
      b /= dims[d];
      off += c * st[d];
    }
  }
  return off;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Bits of a 16-bit float.
template <class T>
__device__ __forceinline__ uint16_t bits16(T v) {
  if constexpr (std::is_same_v<T, __half>) {
    return __half_as_ushort(v);
  } else {
    return __bfloat16_as_ushort(v);
  }
}

// Two floats rounded to T, packed low (first) / high (second) in one register.
template <class T>
__device__ __forceinline__ uint32_t pack2(float lo, float hi) {
  return static_cast<uint32_t>(bits16(from_f32<T>(lo))) |
         (static_cast<uint32_t>(bits16(from_f32<T>(hi))) << 16);
}

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16-byte global -> shared copy; `valid` false zero-fills the destination (nothing is read).
__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, bool valid) {
  const int n = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(smem)),
               "l"(__cvta_generic_to_global(gmem)), "r"(n)
               : "memory");
}
__device__ __forceinline__ void cp_async_commit() {
  asm volatile("cp.async.commit_group;\n" ::: "memory");
}
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* smem) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(smem))
               : "memory");
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const void* smem) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(smem))
               : "memory");
}

// d += a (16x16, row) * b (16x8, col); fp32 accumulators.
template <class T>
__device__ __forceinline__ void mma_16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0,
                                          uint32_t b1) {
  if constexpr (std::is_same_v<T, __half>) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
        "{%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  } else {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
        "{%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
}

/// The flash path (attention_flash.cu), f16 / bf16, head dims of flash_head_dim.
Status launch_flash_attention(const LaunchArgs& a, const Problem& p);

/// The decode path (attention_decode.cu) for a problem with `decode` set. `launched` false (and
/// nothing run) when the operands are not 16-byte aligned rows: the flash path runs then.
Status launch_decode_attention(const LaunchArgs& a, const Problem& p, bool* launched);
/// Splits of the key range for this problem on a device with `num_sms` SMs.
int64_t decode_splits(const Problem& p, int num_sms);
/// Workspace of the decode path (the splits' partials; 0 when one split always suffices).
size_t decode_workspace(const Problem& p);

}  // namespace kiln::cuda::attn
