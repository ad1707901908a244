// Channels-last pooling and adaptive pooling ([N, spatial..., C]): one thread per output element
// and V consecutive channels (16-byte loads) for float types, scalar otherwise; consecutive threads
// on consecutive channels (coalesced); global pooling (adaptive to 1 x 1): a block per batch and 32
// channels. Window rules match the CPU reference (src/backends/cpu/pooling.cpp): torch's ceil_mode
// / count_include_pad / divisor_override, NaN wins in max, adaptive windows [floor(o*in/out),
// ceil((o+1)*in/out)).
#include <cmath>

#include "backends/cuda/cuda_kernels.h"
#include "backends/cuda/kernels/device_utils.cuh"

namespace kiln::cuda {
namespace {

struct AxisArg {
  int64_t in = 1, out = 1, kernel = 1, stride = 1, pad_begin = 0, pad_end = 0, dilation = 1;
  bool adaptive = false;
};

struct PoolArg {
  AxisArg ax[3];  // padded to 3 spatial axes (unit axes in front)
  int64_t channels = 1, batch = 1;
  bool is_max = true;
  int divisor = 0;  // 0 valid taps, 1 taps inside the padded extent, 2 fixed
  int64_t fixed = 1;
};

__device__ __forceinline__ int64_t cdiv(int64_t a, int64_t b) {
  return a >= 0 ? (a + b - 1) / b : -((-a) / b);
}

// first valid input index, valid taps, taps inside the padded extent
__device__ __forceinline__ void window(const AxisArg& a, int64_t o, int64_t& first, int64_t& count,
                                       int64_t& padded) {
  if (a.adaptive) {
    int64_t s = (o * a.in) / a.out, e = ((o + 1) * a.in + a.out - 1) / a.out;
    first = s;
    count = e - s;
    padded = e - s;
    return;
  }
  int64_t start = o * a.stride - a.pad_begin;
  int64_t j0 = start >= 0 ? 0 : min(a.kernel, cdiv(-start, a.dilation));
  int64_t j1 = max(j0, min(a.kernel, cdiv(a.in - start, a.dilation)));
  int64_t jp = max(int64_t{0}, min(a.kernel, cdiv(a.in + a.pad_end - start, a.dilation)));
  first = start + j0 * a.dilation;
  count = j1 - j0;
  padded = jp;
}

// The input window of output pixel `pixel` (flattened [N, out0, out1, out2]) on every axis, and the
// element offset of its batch.
struct Window {
  int64_t first[3], count[3], padded[3], step[3];
  int64_t batch_offset;
};

__device__ __forceinline__ Window output_window(const PoolArg& p, int64_t pixel) {
  Window w;
  int64_t o[3];
  for (int a = 2; a >= 0; --a) {
    o[a] = pixel % p.ax[a].out;
    pixel /= p.ax[a].out;
  }
  for (int a = 0; a < 3; ++a) {
    window(p.ax[a], o[a], w.first[a], w.count[a], w.padded[a]);
    w.step[a] = p.ax[a].adaptive ? 1 : p.ax[a].dilation;
  }
  w.batch_offset = pixel * p.ax[0].in * p.ax[1].in * p.ax[2].in * p.channels;
  return w;
}

template <class T>
__global__ void pool_nhwc_kernel(const T* __restrict__ x, T* __restrict__ y, PoolArg p,
                                 int64_t total) {
  KILN_GRID_STRIDE_LOOP(i, total) {
    int64_t c = i % p.channels;
    int64_t r = i / p.channels;
    const Window w = output_window(p, r);
    const int64_t f0 = w.first[0], c0 = w.count[0], q0 = w.padded[0], d0 = w.step[0];
    const int64_t f1 = w.first[1], c1 = w.count[1], q1 = w.padded[1], d1 = w.step[1];
    const int64_t f2 = w.first[2], c2 = w.count[2], q2 = w.padded[2], d2 = w.step[2];
    const T* base = x + w.batch_offset + c;
    if (p.is_max) {
      if constexpr (kIsFloat<T>) {
        float m = -INFINITY;
        for (int64_t a = 0; a < c0; ++a)
          for (int64_t b = 0; b < c1; ++b)
            for (int64_t k = 0; k < c2; ++k) {
              int64_t off =
                  (((f0 + a * d0) * p.ax[1].in + f1 + b * d1) * p.ax[2].in + f2 + k * d2) *
                  p.channels;
              float v = to_f32(base[off]);
              if (v > m || isnan(v)) m = v;
            }
        y[i] = from_f32<T>(m);
      } else {
        int64_t m = static_cast<int64_t>(std::numeric_limits<T>::lowest());
        for (int64_t a = 0; a < c0; ++a)
          for (int64_t b = 0; b < c1; ++b)
            for (int64_t k = 0; k < c2; ++k) {
              int64_t off =
                  (((f0 + a * d0) * p.ax[1].in + f1 + b * d1) * p.ax[2].in + f2 + k * d2) *
                  p.channels;
              m = max(m, static_cast<int64_t>(base[off]));
            }
        y[i] = static_cast<T>(m);
      }
    } else {
      if constexpr (kIsFloat<T>) {
        if (c0 == 0 || c1 == 0 || c2 == 0) {
          y[i] = from_f32<T>(0.0f);
          continue;
        }
        float s = 0.0f;
        for (int64_t a = 0; a < c0; ++a)
          for (int64_t b = 0; b < c1; ++b)
            for (int64_t k = 0; k < c2; ++k)
              s += to_f32(
                  base[(((f0 + a * d0) * p.ax[1].in + f1 + b * d1) * p.ax[2].in + f2 + k * d2) *
                       p.channels]);
        float div = p.divisor == 0   ? static_cast<float>(c0 * c1 * c2)
                    : p.divisor == 1 ? static_cast<float>(q0 * q1 * q2)
                                     : static_cast<float>(p.fixed);
        y[i] = from_f32<T>(s / div);
      }
    }
  }
}

Status launch_scalar(const LaunchArgs& a, PoolArg p);

// Window pooling over V consecutive channels per thread (16-byte loads; float types, C % V == 0).
template <class T, int V>
__global__ void pool_nhwc_vec_kernel(const T* __restrict__ x, T* __restrict__ y, PoolArg p,
                                     int64_t total) {
  struct alignas(sizeof(T) * V) Pack {
    T v[V];
  };
  const int64_t groups = p.channels / V;
  KILN_GRID_STRIDE_LOOP(i, total) {
    int64_t c = (i % groups) * V;
    int64_t r = i / groups;
    const Window w = output_window(p, r);
    const int64_t f0 = w.first[0], c0 = w.count[0], q0 = w.padded[0], d0 = w.step[0];
    const int64_t f1 = w.first[1], c1 = w.count[1], q1 = w.padded[1], d1 = w.step[1];
    const int64_t f2 = w.first[2], c2 = w.count[2], q2 = w.padded[2], d2 = w.step[2];
    const T* base = x + w.batch_offset + c;
    float acc[V];
#pragma unroll
    for (int j = 0; j < V; ++j) acc[j] = p.is_max ? -INFINITY : 0.0f;
    for (int64_t a = 0; a < c0; ++a)
      for (int64_t b = 0; b < c1; ++b)
        for (int64_t k = 0; k < c2; ++k) {
          int64_t off =
              (((f0 + a * d0) * p.ax[1].in + f1 + b * d1) * p.ax[2].in + f2 + k * d2) * p.channels;
          const Pack v = *reinterpret_cast<const Pack*>(base + off);
#pragma unroll
          for (int j = 0; j < V; ++j) {
            float f = to_f32(v.v[j]);
            if (p.is_max) {
              if (f > acc[j] || isnan(f)) acc[j] = f;
            } else {
              acc[j] += f;
            }
          }
        }
    float div = 1.0f;
    if (!p.is_max) {
      div = p.divisor == 0   ? static_cast<float>(c0 * c1 * c2)
            : p.divisor == 1 ? static_cast<float>(q0 * q1 * q2)
                             : static_cast<float>(p.fixed);
    }
    const bool empty = c0 == 0 || c1 == 0 || c2 == 0;
    Pack out;
#pragma unroll
    for (int j = 0; j < V; ++j)
      out.v[j] = from_f32<T>(p.is_max ? acc[j] : (empty ? 0.0f : acc[j] / div));
    *reinterpret_cast<Pack*>(y + i * V) = out;
  }
}

// Global pooling ([N, HW, C] -> [N, C]): a block per (batch, 32 channels); 32 lanes on consecutive
// channels, kRows rows walk the spatial positions; partial results meet in shared memory.
constexpr int kGlobalRows = 16;

template <class T>
__global__ void global_pool_nhwc_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t hw,
                                        int64_t channels, bool is_max) {
  __shared__ float part[kGlobalRows][33];
  const int64_t n = blockIdx.y;
  const int64_t c = static_cast<int64_t>(blockIdx.x) * 32 + threadIdx.x;
  float acc = is_max ? -INFINITY : 0.0f;
  if (c < channels) {
    const T* base = x + n * hw * channels + c;
    for (int64_t s = threadIdx.y; s < hw; s += kGlobalRows) {
      float f = to_f32(base[s * channels]);
      if (is_max) {
        if (f > acc || isnan(f)) acc = f;
      } else {
        acc += f;
      }
    }
  }
  part[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && c < channels) {
    for (int r = 1; r < kGlobalRows; ++r) {
      float f = part[r][threadIdx.x];
      if (is_max) {
        if (f > acc || isnan(f)) acc = f;
      } else {
        acc += f;
      }
    }
    if (!is_max) acc = hw > 0 ? acc / static_cast<float>(hw) : 0.0f;
    y[n * channels + c] = from_f32<T>(acc);
  }
}

// Adaptive pooling to 1 x 1 (unit axes padded in front are plain 1-element windows).
bool global_pool(const PoolArg& p) {
  if (p.divisor != 0) return false;
  for (const auto& ax : p.ax) {
    if (ax.out != 1) return false;
    if (!ax.adaptive && !(ax.in == 1 && ax.kernel == 1 && ax.pad_begin == 0 && ax.pad_end == 0))
      return false;
  }
  return true;
}

bool aligned_to(const void* ptr, size_t bytes) {
  return reinterpret_cast<uintptr_t>(ptr) % bytes == 0;
}

Status launch(const LaunchArgs& a, PoolArg p) {
  const TensorView& x0 = a.in[0];
  const TensorView& y0 = a.out[0];
  if (y0.numel() == 0) return {};
  bool handled = false;
  Status fast;
  visit_float_dtype(x0.dtype, [&](auto t) {
    using T = typename decltype(t)::type;
    constexpr int V = 16 / sizeof(T);
    const int64_t hw = p.ax[0].in * p.ax[1].in * p.ax[2].in;
    if (global_pool(p) && hw > 0 && p.batch <= 65535) {
      dim3 block(32, kGlobalRows),
          grid(static_cast<unsigned>((p.channels + 31) / 32), static_cast<unsigned>(p.batch));
      global_pool_nhwc_kernel<T><<<grid, block, 0, a.stream>>>(
          static_cast<const T*>(x0.data), static_cast<T*>(y0.data), hw, p.channels, p.is_max);
      handled = true;
    } else if (p.channels % V == 0 && aligned_to(x0.data, 16) && aligned_to(y0.data, 16)) {
      const int64_t total = y0.numel() / V;
      pool_nhwc_vec_kernel<T, V><<<grid_for(total, 256), 256, 0, a.stream>>>(
          static_cast<const T*>(x0.data), static_cast<T*>(y0.data), p, total);
      handled = true;
    }
  });
  if (handled) {
    KILN_CUDA_LAUNCH_CHECK();
    return {};
  }
  return launch_scalar(a, p);
}

Status launch_scalar(const LaunchArgs& a, PoolArg p) {
  const TensorView &x = a.in[0], &y = a.out[0];
  int64_t total = y.numel();
  if (total == 0) return {};
  bool ok = visit_dtype(x.dtype, [&](auto t) {
    using T = typename decltype(t)::type;
    if constexpr (std::is_same_v<T, bool>) {
      return false;
    } else {
      pool_nhwc_kernel<T><<<grid_for(total, 256), 256, 0, a.stream>>>(
          static_cast<const T*>(x.data), static_cast<T*>(y.data), p, total);
      return true;
    }
  });
  if (!ok) return layer_error(a.layer, StatusCode::kUnsupported, "pooling of bool");
  KILN_CUDA_LAUNCH_CHECK();
  return {};
}

PoolArg base_arg(const TensorView& x, const TensorView& y, int spatial) {
  PoolArg p;
  p.batch = x.dims[0];
  p.channels = x.dims[x.dims.rank() - 1];
  for (int i = 0; i < spatial; ++i) {
    AxisArg& ax = p.ax[3 - spatial + i];
    ax.in = x.dims[1 + i];
    ax.out = y.dims[1 + i];
  }
  return p;
}

}  // namespace

Status launch_pooling_nhwc(const LaunchArgs& a) {
  const auto& pp = std::get<PoolingParams>(a.layer.params);
  int spatial = static_cast<int>(pp.kernel.size());
  PoolArg p = base_arg(a.in[0], a.out[0], spatial);
  p.is_max = pp.type == PoolingType::kMax;
  p.divisor = pp.divisor_override > 0 ? 2 : (pp.count_include_pad ? 1 : 0);
  p.fixed = pp.divisor_override;
  for (int i = 0; i < spatial; ++i) {
    AxisArg& ax = p.ax[3 - spatial + i];
    auto k = static_cast<size_t>(i);
    ax.kernel = pp.kernel[k];
    ax.stride = pp.strides[k];
    ax.pad_begin = pp.pads_begin[k];
    ax.pad_end = pp.pads_end[k];
    ax.dilation = pp.dilations[k];
  }
  return launch(a, p);
}

Status launch_adaptive_pooling_nhwc(const LaunchArgs& a) {
  const auto& pp = std::get<AdaptivePoolingParams>(a.layer.params);
  int spatial = static_cast<int>(pp.output_size.size());
  PoolArg p = base_arg(a.in[0], a.out[0], spatial);
  p.is_max = pp.type == PoolingType::kMax;
  p.divisor = 0;
  for (int i = 0; i < spatial; ++i) p.ax[3 - spatial + i].adaptive = true;
  return launch(a, p);
}

}  // namespace kiln::cuda
