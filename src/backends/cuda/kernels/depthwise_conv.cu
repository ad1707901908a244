// Depthwise 2-D convolution in channels-last (NHWC) layout with the epilogue fused: bias, residual add
// and any unary activation. One thread computes one output pixel for V consecutive channels (16-byte
// loads of input, weights and residual; fp32 accumulation); consecutive threads take consecutive
// channel vectors, so a warp reads contiguous memory per filter tap and neighbouring taps hit L1.
// Weights are pre-arranged tap-major ([R*S][C], depthwise_weight_taps) once per kernel.
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

template <class T, int V, class I>
__global__ void depthwise_nhwc_kernel(const T* __restrict__ x, const T* __restrict__ wt, const T* __restrict__ bias,
                                      const T* __restrict__ res, T* __restrict__ y, DwShape p, UnaryOp act, float alpha,
                                      float beta) {
  using P = Pack<T, V>;
  const I cv = static_cast<I>(p.c / V);
  const I total = static_cast<I>(p.n) * p.oh * p.ow * cv;
  for (I i = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += static_cast<I>(gridDim.x) * blockDim.x) {
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
    const I o = i * V;  // output offset: ((n*oh + oh)*ow + ow)*c + c0
    if (res != nullptr) {
      const P rv = *reinterpret_cast<const P*>(res + o);
#pragma unroll
      for (int j = 0; j < V; ++j) acc[j] += to_f32(rv.v[j]);
    }
    P out;
#pragma unroll
    for (int j = 0; j < V; ++j) out.v[j] = from_f32<T>(unary_f(act, acc[j], alpha, beta));
    *reinterpret_cast<P*>(y + o) = out;
  }
}

template <class T>
__global__ void taps_kernel(const T* __restrict__ w, T* __restrict__ wt, int c, int taps) {
  const int64_t total = static_cast<int64_t>(c) * taps;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t ch = i / taps, t = i % taps;
    wt[t * c + ch] = w[i];
  }
}

template <class T, int V>
Status launch_typed(const DepthwiseConvArgs& a) {
  DwShape p{a.n, a.h, a.w, a.c, a.oh, a.ow, a.r, a.s, a.stride_h, a.stride_w, a.pad_h, a.pad_w, a.dil_h, a.dil_w};
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
    depthwise_nhwc_kernel<T, V, int32_t><<<blocks, threads, 0, a.stream>>>(x, wt, b, r, y, p, a.activation, a.alpha, a.beta);
  } else {
    depthwise_nhwc_kernel<T, V, int64_t><<<blocks, threads, 0, a.stream>>>(x, wt, b, r, y, p, a.activation, a.alpha, a.beta);
  }
  KILN_CUDA_LAUNCH_CHECK();
  return {};
}

bool aligned(const void* p, size_t bytes) { return p == nullptr || reinterpret_cast<uintptr_t>(p) % bytes == 0; }

}  // namespace

Status launch_depthwise_nhwc(const DepthwiseConvArgs& a) {
  Status s = make_error(StatusCode::kUnsupported, "backends.cuda", "depthwise convolution: unsupported dtype");
  visit_float_dtype(a.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    constexpr int V = 16 / sizeof(T);
    const size_t vb = sizeof(T) * V;
    bool vec = a.c % V == 0 && aligned(a.x, vb) && aligned(a.weight_taps, vb) && aligned(a.bias, vb) &&
               aligned(a.residual, vb) && aligned(a.y, vb);
    s = vec ? launch_typed<T, V>(a) : launch_typed<T, 1>(a);
  });
  return s;
}

Status launch_depthwise_weight_taps(const void* w, void* taps, DataType dt, int c, int taps_per_channel, cudaStream_t stream) {
  Status s = make_error(StatusCode::kUnsupported, "backends.cuda", "depthwise convolution: unsupported dtype");
  visit_float_dtype(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const int64_t total = static_cast<int64_t>(c) * taps_per_channel;
    taps_kernel<T><<<grid_for(total, 256), 256, 0, stream>>>(static_cast<const T*>(w), static_cast<T*>(taps), c, taps_per_channel);
    cudaError_t e = cudaGetLastError();
    s = e == cudaSuccess ? Status{} : cuda_status(e, "taps_kernel", __FILE__, __LINE__);
  });
  return s;
}

}  // namespace kiln::cuda
