// Depthwise 2-D convolution in channels-last (NHWC) layout with the epilogue fused: bias, residual
// add and any unary activation. One thread computes one output pixel for V consecutive channels
// (16-byte loads of input, weights and residual; fp32 accumulation); consecutive threads take
// consecutive channel vectors, so a warp reads contiguous memory per filter tap and neighbouring
// taps hit L1. Weights are pre-arranged tap-major ([R*S][C], depthwise_weight_taps) once per
// kernel. Row tiles (tile_w 4 or 8, filter width 3/5/7, stride 1/2, no dilation): a thread computes
// tile_w neighbouring outputs of a row, so each filter row's weights are loaded once per tile and
// each input column once per tile instead of once per tap and output (a 7x7 filter: 21 loads
// instead of 112 for 8 outputs of a row). Shared-memory tiles (tile_w 16, stride 1, 3x3 / 5x5 /
// 7x7): a block stages an input tile with its halo once, so the S input rows each output row needs
// come from shared memory instead of L1 / L2 (convnext's 7x7).
#include "backends/cuda/cuda_kernels.h"
#include "backends/cuda/kernels/device_utils.cuh"
#include "backends/cuda/kernels/unary_ops.cuh"

namespace kiln::cuda {
namespace {

template <class T, int V>
struct alignas(sizeof(T) * V) Pack {
  T v[V];
};

struct DwShape {
  int n, h, w, c, oh, ow, r, s;
  int sh, sw, ph, pw, dh, dw;
};

// The activation of the tiled kernel's TW x V outputs: out of line, so that the unrolled epilogue
// does not inline every unary op TW x V times (that made ptxas take minutes); identity skips the
// call.
__device__ __noinline__ float tiled_activation(UnaryOp act, float v, float alpha, float beta) {
  return unary_f(act, v, alpha, beta);
}

// The epilogue of one output vector: v (bias already added) + residual, activation, 16-byte store.
// kOutOfLine: the activation through tiled_activation (the tiled kernel's unrolled epilogue).
template <class T, int V, bool kOutOfLine, class I>
__device__ __forceinline__ void store_output(float (&v)[V], const T* __restrict__ res,
                                             T* __restrict__ y, I o, UnaryOp act, float alpha,
                                             float beta) {
  using P = Pack<T, V>;
  if (res != nullptr) {
    const P rv = *reinterpret_cast<const P*>(res + o);
#pragma unroll
    for (int j = 0; j < V; ++j) v[j] += to_f32(rv.v[j]);
  }
  P out;
#pragma unroll
  for (int j = 0; j < V; ++j) {
    float a;
    if constexpr (kOutOfLine) {
      a = act == UnaryOp::kIdentity ? v[j] : tiled_activation(act, v[j], alpha, beta);
    } else {
      a = unary_f(act, v[j], alpha, beta);
    }
    out.v[j] = from_f32<T>(a);
  }
  *reinterpret_cast<P*>(y + o) = out;
}

template <class T, int V, class I>
__global__ void depthwise_nhwc_kernel(const T* __restrict__ x, const T* __restrict__ wt,
                                      const T* __restrict__ bias, const T* __restrict__ res,
                                      T* __restrict__ y, DwShape p, UnaryOp act, float alpha,
                                      float beta) {
  using P = Pack<T, V>;
  const I cv = static_cast<I>(p.c / V);
  const I total = static_cast<I>(p.n) * p.oh * p.ow * cv;
  for (I i = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += static_cast<I>(gridDim.x) * blockDim.x) {
    const I c0 = (i % cv) * V;
    I pix = i / cv;
    const int ow = static_cast<int>(pix % p.ow);
    pix /= p.ow;
    const int oh = static_cast<int>(pix % p.oh);
    const I n = pix / p.oh;
    float acc[V];
#pragma unroll
    for (int j = 0; j < V; ++j) acc[j] = 0.0f;
    const int ih0 = oh * p.sh - p.ph, iw0 = ow * p.sw - p.pw;
    for (int r = 0; r < p.r; ++r) {
      const int ih = ih0 + r * p.dh;
      if (ih < 0 || ih >= p.h) continue;
      const I row = (n * p.h + ih) * p.w;
      for (int s = 0; s < p.s; ++s) {
        const int iw = iw0 + s * p.dw;
        if (iw < 0 || iw >= p.w) continue;
        const P xv = *reinterpret_cast<const P*>(x + (row + iw) * p.c + c0);
        const P wv = *reinterpret_cast<const P*>(wt + static_cast<I>(r * p.s + s) * p.c + c0);
#pragma unroll
        for (int j = 0; j < V; ++j) acc[j] = fmaf(to_f32(xv.v[j]), to_f32(wv.v[j]), acc[j]);
      }
    }
    if (bias != nullptr) {
      const P bv = *reinterpret_cast<const P*>(bias + c0);
#pragma unroll
      for (int j = 0; j < V; ++j) acc[j] += to_f32(bv.v[j]);
    }
    store_output<T, V, false>(acc, res, y, i * V, act, alpha,
                              beta);  // offset ((n*oh + oh)*ow + ow)*c + c0
  }
}

// Row-tiled variant: TW outputs along the width per thread, filter width S and stride SW known at
// compile time so the sliding window stays in registers.
template <class T, int V, int S, int SW, int TW>
__global__ void depthwise_nhwc_tiled_kernel(const T* __restrict__ x, const T* __restrict__ wt,
                                            const T* __restrict__ bias, const T* __restrict__ res,
                                            T* __restrict__ y, DwShape p, UnaryOp act, float alpha,
                                            float beta) {
  using P = Pack<T, V>;
  constexpr int K = (TW - 1) * SW + S;  // input columns a tile reads per filter row
  const int cv = p.c / V;
  const int tiles = (p.ow + TW - 1) / TW;
  const int total = p.n * p.oh * tiles * cv;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < total; i += gridDim.x * blockDim.x) {
    const int c0 = (i % cv) * V;
    int pix = i / cv;
    const int ow0 = (pix % tiles) * TW;
    pix /= tiles;
    const int oh = pix % p.oh;
    const int n = pix / p.oh;
    float acc[TW][V];
#pragma unroll
    for (int t = 0; t < TW; ++t)
#pragma unroll
      for (int j = 0; j < V; ++j) acc[t][j] = 0.0f;
    const int ih0 = oh * p.sh - p.ph, iw0 = ow0 * SW - p.pw;
    for (int r = 0; r < p.r; ++r) {
      const int ih = ih0 + r * p.dh;
      if (ih < 0 || ih >= p.h) continue;
      // Weights and inputs are converted to float once per load (not once per use): the inner loop
      // is FMAs only.
      float wf[S][V];
#pragma unroll
      for (int s = 0; s < S; ++s) {
        const P wv = *reinterpret_cast<const P*>(wt + (r * S + s) * p.c + c0);
#pragma unroll
        for (int j = 0; j < V; ++j) wf[s][j] = to_f32(wv.v[j]);
      }
      const T* xrow = x + static_cast<int64_t>((n * p.h + ih) * p.w) * p.c + c0;
#pragma unroll
      for (int k = 0; k < K; ++k) {
        const int iw = iw0 + k;
        if (iw < 0 || iw >= p.w) continue;
        const P xv = *reinterpret_cast<const P*>(xrow + iw * p.c);
        float xf[V];
#pragma unroll
        for (int j = 0; j < V; ++j) xf[j] = to_f32(xv.v[j]);
#pragma unroll
        for (int t = 0; t < TW; ++t) {
          const int s = k - t * SW;  // compile-time after unrolling
          if (s < 0 || s >= S) continue;
#pragma unroll
          for (int j = 0; j < V; ++j) acc[t][j] = fmaf(xf[j], wf[s][j], acc[t][j]);
        }
      }
    }
    P bv;
    if (bias != nullptr) bv = *reinterpret_cast<const P*>(bias + c0);
#pragma unroll
    for (int t = 0; t < TW; ++t) {
      if (ow0 + t >= p.ow) break;
      const int o = ((n * p.oh + oh) * p.ow + ow0 + t) * p.c + c0;
      float v[V];
#pragma unroll
      for (int j = 0; j < V; ++j) v[j] = acc[t][j] + (bias != nullptr ? to_f32(bv.v[j]) : 0.0f);
      store_output<T, V, true>(v, res, y, o, act, alpha, beta);
    }
  }
}

// Shared-memory tiled variant (tile_w 16; stride 1, square filter 3/5/7, no dilation): a block
// computes kTh output rows x kWt * kTw output columns for kCb channel vectors. It stages the input
// tile with its halo (zeros outside the image) and the filter in shared memory with 16-byte loads,
// so each input element is read from global memory (1 + (S - 1) / kTh) * (1 + (S - 1) / (kWt *
// kTw)) times instead of once per output row that needs it (S times, through L1 / L2). A thread
// slides a row of kTw outputs along its input row as the row-tiled kernel does. Consecutive threads
// take consecutive channel vectors, so a quarter warp reads 128 contiguous bytes of shared memory.
template <int S, int kCb>
struct SmemTile {
  static constexpr int kTh = 8;            // output rows per block
  static constexpr int kTw = 8;            // outputs per thread along the width
  static constexpr int kWt = 16 / kCb;     // threads along the width (128 threads a block)
  static constexpr int kOw = kWt * kTw;    // output columns per block
  static constexpr int kIh = kTh + S - 1;  // input rows staged
  static constexpr int kIw = kOw + S - 1;  // input columns staged
  static constexpr int kThreads = kCb * kWt * kTh;
  static constexpr int kInputVecs = kIh * kIw * kCb;
  static constexpr int kVecs = kInputVecs + S * S * kCb;  // input tile, then the filter
};

template <class T, int V, int S, int kCb>
__global__ void __launch_bounds__(SmemTile<S, kCb>::kThreads)
    depthwise_nhwc_smem_kernel(const T* __restrict__ x, const T* __restrict__ wt,
                               const T* __restrict__ bias, const T* __restrict__ res,
                               T* __restrict__ y, DwShape p, int tiles_w, UnaryOp act, float alpha,
                               float beta) {
  using P = Pack<T, V>;
  using Tile = SmemTile<S, kCb>;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  P* tile = reinterpret_cast<P*>(smem_raw);  // [kIh][kIw][kCb], then the filter [S*S][kCb]
  P* filt = tile + Tile::kInputVecs;
  const int cv = p.c / V;
  const int cb0 = blockIdx.y * kCb;
  const int n = blockIdx.z;
  const int oh0 = (blockIdx.x / tiles_w) * Tile::kTh;
  const int ow0 = (blockIdx.x % tiles_w) * Tile::kOw;
  const int tid = threadIdx.x;
  P zero;
#pragma unroll
  for (int j = 0; j < V; ++j) zero.v[j] = from_f32<T>(0.0f);
  for (int i = tid; i < Tile::kVecs; i += Tile::kThreads) {
    const int cx = i % kCb, cvec = cb0 + cx;
    P v = zero;
    if (i < Tile::kInputVecs) {
      const int col = (i / kCb) % Tile::kIw, row = i / (kCb * Tile::kIw);
      const int ih = oh0 - p.ph + row, iw = ow0 - p.pw + col;
      if (cvec < cv && ih >= 0 && ih < p.h && iw >= 0 && iw < p.w)
        v = *reinterpret_cast<const P*>(x + (((n * p.h + ih) * p.w + iw) * p.c + cvec * V));
    } else {
      const int tap = (i - Tile::kInputVecs) / kCb;
      if (cvec < cv) v = *reinterpret_cast<const P*>(wt + tap * p.c + cvec * V);
    }
    tile[i] = v;
  }
  __syncthreads();
  const int cx = tid % kCb, wx = (tid / kCb) % Tile::kWt, ty = tid / (kCb * Tile::kWt);
  const int c0 = (cb0 + cx) * V, oh = oh0 + ty, owt = ow0 + wx * Tile::kTw;
  if (cb0 + cx >= cv || oh >= p.oh || owt >= p.ow) return;
  float acc[Tile::kTw][V];
#pragma unroll
  for (int t = 0; t < Tile::kTw; ++t)
#pragma unroll
    for (int j = 0; j < V; ++j) acc[t][j] = 0.0f;
  constexpr int K = Tile::kTw + S - 1;  // input columns a thread reads per filter row
#pragma unroll 1
  for (int r = 0; r < S; ++r) {
    float wf[S][V];
#pragma unroll
    for (int s = 0; s < S; ++s) {
      const P wv = filt[(r * S + s) * kCb + cx];
#pragma unroll
      for (int j = 0; j < V; ++j) wf[s][j] = to_f32(wv.v[j]);
    }
    const P* xrow = tile + ((ty + r) * Tile::kIw + wx * Tile::kTw) * kCb + cx;
#pragma unroll
    for (int k = 0; k < K; ++k) {
      const P xv = xrow[k * kCb];
      float xf[V];
#pragma unroll
      for (int j = 0; j < V; ++j) xf[j] = to_f32(xv.v[j]);
#pragma unroll
      for (int t = 0; t < Tile::kTw; ++t) {
        const int s = k - t;  // compile-time after unrolling
        if (s < 0 || s >= S) continue;
#pragma unroll
        for (int j = 0; j < V; ++j) acc[t][j] = fmaf(xf[j], wf[s][j], acc[t][j]);
      }
    }
  }
  P bv;
  if (bias != nullptr) bv = *reinterpret_cast<const P*>(bias + c0);
#pragma unroll
  for (int t = 0; t < Tile::kTw; ++t) {
    if (owt + t >= p.ow) break;
    const int o = ((n * p.oh + oh) * p.ow + owt + t) * p.c + c0;
    float v[V];
#pragma unroll
    for (int j = 0; j < V; ++j) v[j] = acc[t][j] + (bias != nullptr ? to_f32(bv.v[j]) : 0.0f);
    store_output<T, V, true>(v, res, y, o, act, alpha, beta);
  }
}

template <class T>
__global__ void taps_kernel(const T* __restrict__ w, T* __restrict__ wt, int c, int taps) {
  const int64_t total = static_cast<int64_t>(c) * taps;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t ch = i / taps, t = i % taps;
    wt[t * c + ch] = w[i];
  }
}

DwShape shape_of(const DepthwiseConvArgs& a) {
  return DwShape{a.n, a.h,        a.w,        a.c,     a.oh,    a.ow,    a.r,
                 a.s, a.stride_h, a.stride_w, a.pad_h, a.pad_w, a.dil_h, a.dil_w};
}

template <class T, int V, int S, int SW, int TW>
void launch_tiled(const DepthwiseConvArgs& a) {
  const int64_t total = static_cast<int64_t>(a.n) * a.oh * ((a.ow + TW - 1) / TW) * (a.c / V);
  depthwise_nhwc_tiled_kernel<T, V, S, SW, TW><<<grid_for(total, 256), 256, 0, a.stream>>>(
      static_cast<const T*>(a.x), static_cast<const T*>(a.weight_taps),
      static_cast<const T*>(a.bias), static_cast<const T*>(a.residual), static_cast<T*>(a.y),
      shape_of(a), a.activation, a.alpha, a.beta);
}

template <class T, int V, int S, int kCb>
void launch_smem_cb(const DepthwiseConvArgs& a) {
  using Tile = SmemTile<S, kCb>;
  const int tiles_w = (a.ow + Tile::kOw - 1) / Tile::kOw;
  const int tiles_h = (a.oh + Tile::kTh - 1) / Tile::kTh;
  const int cv = a.c / V;
  const dim3 grid(static_cast<unsigned>(tiles_w * tiles_h),
                  static_cast<unsigned>((cv + kCb - 1) / kCb), static_cast<unsigned>(a.n));
  const size_t bytes = static_cast<size_t>(Tile::kVecs) * sizeof(T) * V;
  depthwise_nhwc_smem_kernel<T, V, S, kCb><<<grid, Tile::kThreads, bytes, a.stream>>>(
      static_cast<const T*>(a.x), static_cast<const T*>(a.weight_taps),
      static_cast<const T*>(a.bias), static_cast<const T*>(a.residual), static_cast<T*>(a.y),
      shape_of(a), tiles_w, a.activation, a.alpha, a.beta);
}

// 8 channel vectors a block where C allows (a quarter warp reads 128 contiguous bytes), else 4.
template <class T, int V, int S>
void launch_smem(const DepthwiseConvArgs& a) {
  if ((a.c / V) % 8 == 0)
    launch_smem_cb<T, V, S, 8>(a);
  else
    launch_smem_cb<T, V, S, 4>(a);
}

template <class T, int V, int S, int SW>
void launch_tiled_tw(const DepthwiseConvArgs& a) {
  if (a.tile_w == 4)
    launch_tiled<T, V, S, SW, 4>(a);
  else
    launch_tiled<T, V, S, SW, 8>(a);
}

template <class T, int V, int S>
void launch_tiled_sw(const DepthwiseConvArgs& a) {
  if (a.stride_w == 1)
    launch_tiled_tw<T, V, S, 1>(a);
  else
    launch_tiled_tw<T, V, S, 2>(a);
}

template <class T, int V>
Status launch_typed(const DepthwiseConvArgs& a) {
  if constexpr (V > 1 && !std::is_same_v<T, float>) {
    if (a.tile_w == 16 && depthwise_tile_supported(a)) {
      if (a.s == 3)
        launch_smem<T, V, 3>(a);
      else if (a.s == 5)
        launch_smem<T, V, 5>(a);
      else
        launch_smem<T, V, 7>(a);
      KILN_CUDA_LAUNCH_CHECK();
      return {};
    }
    if (a.tile_w != 16 && depthwise_tile_supported(a)) {
      if (a.s == 3)
        launch_tiled_sw<T, V, 3>(a);
      else if (a.s == 5)
        launch_tiled_sw<T, V, 5>(a);
      else
        launch_tiled_sw<T, V, 7>(a);
      KILN_CUDA_LAUNCH_CHECK();
      return {};
    }
  }
  DwShape p = shape_of(a);
  const int64_t total = static_cast<int64_t>(a.n) * a.oh * a.ow * (a.c / V);
  const int threads = 256;
  const unsigned blocks = grid_for(total, threads);
  auto* x = static_cast<const T*>(a.x);
  auto* wt = static_cast<const T*>(a.weight_taps);
  auto* b = static_cast<const T*>(a.bias);
  auto* r = static_cast<const T*>(a.residual);
  auto* y = static_cast<T*>(a.y);
  const int64_t biggest = std::max<int64_t>(total * V, static_cast<int64_t>(a.n) * a.h * a.w * a.c);
  if (biggest < (int64_t{1} << 30)) {  // 32-bit index math (the grid-stride step stays in range)
    depthwise_nhwc_kernel<T, V, int32_t>
        <<<blocks, threads, 0, a.stream>>>(x, wt, b, r, y, p, a.activation, a.alpha, a.beta);
  } else {
    depthwise_nhwc_kernel<T, V, int64_t>
        <<<blocks, threads, 0, a.stream>>>(x, wt, b, r, y, p, a.activation, a.alpha, a.beta);
  }
  KILN_CUDA_LAUNCH_CHECK();
  return {};
}

bool aligned(const void* p, size_t bytes) {
  return p == nullptr || reinterpret_cast<uintptr_t>(p) % bytes == 0;
}

}  // namespace

bool depthwise_tile_supported(const DepthwiseConvArgs& a) {
  if (a.tile_w != 4 && a.tile_w != 8 && a.tile_w != 16) return false;
  // Shared-memory tiles: stride 1, square filters, no dilation (the staged tile is contiguous).
  if (a.tile_w == 16 &&
      (a.stride_h != 1 || a.stride_w != 1 || a.dil_h != 1 || a.r != a.s || a.n > 65535))
    return false;
  if (a.dtype != DataType::kFloat16 && a.dtype != DataType::kBFloat16)
    return false;  // instantiated for these
  if (a.s != 3 && a.s != 5 && a.s != 7) return false;
  if ((a.stride_w != 1 && a.stride_w != 2) || a.dil_w != 1) return false;
  const int64_t v = 16 / static_cast<int64_t>(dtype_size(a.dtype));
  if (a.c % v != 0) return false;
  // 32-bit index math inside the tiled kernel.
  const int64_t biggest = std::max<int64_t>(static_cast<int64_t>(a.n) * a.oh * a.ow * a.c,
                                            static_cast<int64_t>(a.n) * a.h * a.w * a.c);
  return biggest < (int64_t{1} << 30);
}

Status launch_depthwise_nhwc(const DepthwiseConvArgs& a) {
  Status s = make_error(StatusCode::kUnsupported, "backends.cuda",
                        "depthwise convolution: unsupported dtype");
  visit_float_dtype(a.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    constexpr int V = 16 / sizeof(T);
    const size_t vb = sizeof(T) * V;
    bool vec = a.c % V == 0 && aligned(a.x, vb) && aligned(a.weight_taps, vb) &&
               aligned(a.bias, vb) && aligned(a.residual, vb) && aligned(a.y, vb);
    s = vec ? launch_typed<T, V>(a) : launch_typed<T, 1>(a);
  });
  return s;
}

Status launch_depthwise_weight_taps(const void* w, void* taps, DataType dt, int c,
                                    int taps_per_channel, cudaStream_t stream) {
  Status s = make_error(StatusCode::kUnsupported, "backends.cuda",
                        "depthwise convolution: unsupported dtype");
  visit_float_dtype(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t total = static_cast<int64_t>(c) * taps_per_channel;
    taps_kernel<T><<<grid_for(total, 256), 256, 0, stream>>>(
        static_cast<const T*>(w), static_cast<T*>(taps), c, taps_per_channel);
    cudaError_t e = cudaGetLastError();
    s = e == cudaSuccess ? Status{} : cuda_status(e, "taps_kernel", __FILE__, __LINE__);
  });
  return s;
}

}  // namespace kiln::cuda
