// CUDA pooling: max/average pooling over 1-3 spatial dims and adaptive pooling, with the CPU
// reference's window rules (torch semantics: ceil_mode windows that run past the padded end,
// count_include_pad, divisor_override; adaptive windows [floor(o * in / out), ceil((o + 1) * in /
// out))). Spatial ranks below 3 are padded with unit axes. One thread per output element computes
// its window per axis (first valid tap, valid taps, taps inside the padded extent) and walks it.
// Global pooling (every output spatial dim 1, window = the whole plane) is a reduction instead: one
// warp per (n, c) plane, or one block per plane when there are few large planes, with 16-byte loads
// when aligned. Floats compute in float32 (max propagates NaN as torch); integer max pooling
// compares exactly. Max pooling can also write each maximum's int64 index in its plane.
#include <cmath>
#include <string>

#include "backends/cuda/cuda_kernels.h"
#include "backends/cuda/kernels/device_utils.cuh"

namespace kiln::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMax32 = (int64_t{1} << 31) - 1;

/// One spatial axis. Adaptive axes use only in/out.
struct PoolAxis {
  int64_t in = 1, out = 1, kernel = 1, stride = 1, pad_begin = 0, pad_end = 0, dilation = 1;
  bool adaptive = false;
};

enum class Divisor : int { kValid, kPadded, kFixed };

struct PoolArg {
  PoolAxis ax[3];
  int64_t fixed_divisor;
  Divisor divisor;
};

struct Window {
  int64_t first, count, padded, step;
};

__device__ __forceinline__ int64_t ceil_div(int64_t a, int64_t b) {
  return a >= 0 ? (a + b - 1) / b : -((-a) / b);
}

__device__ __forceinline__ Window window(const PoolAxis& a, int64_t o) {
  Window w;
  if (a.adaptive) {
    int64_t start, end;
    if ((o + 1) * a.in + a.out <=
        0xffffffffLL) {  // 32-bit division when it fits (always in practice)
      const auto in = static_cast<uint32_t>(a.in), out = static_cast<uint32_t>(a.out),
                 oo = static_cast<uint32_t>(o);
      start = (oo * in) / out;
      end = ((oo + 1) * in + out - 1) / out;
    } else {
      start = (o * a.in) / a.out;
      end = ((o + 1) * a.in + a.out - 1) / a.out;
    }
    w.first = start;
    w.count = end - start;
    w.padded = w.count;
    w.step = 1;
    return w;
  }
  const int64_t start = o * a.stride - a.pad_begin;
  int64_t j0, j1, jp;
  if (a.dilation == 1) {  // ceil_div(v, 1) == v: no divisions
    j0 = start >= 0 ? 0 : min(a.kernel, -start);
    j1 = min(max(a.in - start, j0), a.kernel);
    jp = min(max(a.in + a.pad_end - start, int64_t{0}), a.kernel);
  } else {
    j0 = start >= 0 ? 0 : min(a.kernel, ceil_div(-start, a.dilation));
    j1 = min(max(ceil_div(a.in - start, a.dilation), j0), a.kernel);
    jp = min(max(ceil_div(a.in + a.pad_end - start, a.dilation), int64_t{0}), a.kernel);
  }
  w.first = start + j0 * a.dilation;
  w.count = j1 - j0;
  w.padded = jp;
  w.step = a.dilation;
  return w;
}

/// `idx` (max only, may be null) receives each maximum's index in its plane, as torch: the first
/// maximum, or the last NaN; the window's first tap when every value is -inf.
template <class T, class Index>
__global__ void pool_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t* __restrict__ idx,
                            Index n, PoolArg p, bool is_max) {
  const int64_t in_plane = p.ax[0].in * p.ax[1].in * p.ax[2].in;
  const int64_t in_y = p.ax[1].in, in_x = p.ax[2].in;
  for (Index i = blockIdx.x * blockDim.x + threadIdx.x; i < n;
       i += static_cast<Index>(blockDim.x) * gridDim.x) {
    Index rest = i;
    Index ox = rest % static_cast<Index>(p.ax[2].out);
    rest /= static_cast<Index>(p.ax[2].out);
    Index oy = rest % static_cast<Index>(p.ax[1].out);
    rest /= static_cast<Index>(p.ax[1].out);
    Index oz = rest % static_cast<Index>(p.ax[0].out);
    const Index plane = rest / static_cast<Index>(p.ax[0].out);
    const Window wz = window(p.ax[0], oz), wy = window(p.ax[1], oy), wx = window(p.ax[2], ox);
    const T* xc = x + static_cast<int64_t>(plane) * in_plane;
    if (is_max) {
      int64_t best = (wz.first * in_y + wy.first) * in_x + wx.first;
      if constexpr (kIsFloat<T>) {
        float m = -INFINITY;
        for (int64_t a = 0; a < wz.count; ++a)
          for (int64_t b = 0; b < wy.count; ++b) {
            const int64_t row =
                ((wz.first + a * wz.step) * in_y + wy.first + b * wy.step) * in_x + wx.first;
            for (int64_t c = 0; c < wx.count; ++c) {
              float v = to_f32(xc[row + c * wx.step]);
              if (v > m || isnan(v)) {
                m = v;
                best = row + c * wx.step;
              }
            }
          }
        y[i] = from_f32<T>(m);
      } else {
        T m = std::numeric_limits<T>::lowest();
        bool first = true;
        for (int64_t a = 0; a < wz.count; ++a)
          for (int64_t b = 0; b < wy.count; ++b) {
            const int64_t row =
                ((wz.first + a * wz.step) * in_y + wy.first + b * wy.step) * in_x + wx.first;
            for (int64_t c = 0; c < wx.count; ++c) {
              T v = xc[row + c * wx.step];
              if (first || v > m) {
                m = v;
                best = row + c * wx.step;
                first = false;
              }
            }
          }
        y[i] = m;
      }
      if (idx != nullptr) idx[i] = best;
    } else if constexpr (kIsFloat<T>) {
      if (wz.count == 0 || wy.count == 0 || wx.count == 0) {
        y[i] = from_f32<T>(0.0f);
        continue;
      }
      float sum = 0.0f;
      for (int64_t a = 0; a < wz.count; ++a)
        for (int64_t b = 0; b < wy.count; ++b) {
          const T* row =
              xc + ((wz.first + a * wz.step) * in_y + wy.first + b * wy.step) * in_x + wx.first;
          for (int64_t c = 0; c < wx.count; ++c) sum += to_f32(row[c * wx.step]);
        }
      int64_t div = p.fixed_divisor;
      if (p.divisor == Divisor::kValid) div = wz.count * wy.count * wx.count;
      if (p.divisor == Divisor::kPadded) div = wz.padded * wy.padded * wx.padded;
      y[i] = from_f32<T>(sum / static_cast<float>(div));
    }
  }
}

// ---- global pooling ----

__device__ __forceinline__ float max_nan(float a, float b) {
  return (isnan(a) || isnan(b)) ? NAN : fmaxf(a, b);
}

template <bool kMax>
__device__ __forceinline__ float warp_reduce(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    float u = __shfl_xor_sync(0xffffffffu, v, o);
    v = kMax ? max_nan(v, u) : v + u;
  }
  return v;
}

/// kTPP threads (32: a warp, or the whole block) reduce one plane; V elements per (16-byte) load.
template <class T, int V, int kTPP, bool kMax>
__global__ void global_pool_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t planes,
                                   int64_t plane, float div) {
  static_assert(kThreads % kTPP == 0 && kTPP % 32 == 0, "threads per plane");
  constexpr int kGroups = kThreads / kTPP;
  const int g = static_cast<int>(threadIdx.x) / kTPP, t = static_cast<int>(threadIdx.x) % kTPP;
  const int64_t nvec = plane / V;
  for (int64_t p0 = static_cast<int64_t>(blockIdx.x) * kGroups; p0 < planes;
       p0 += static_cast<int64_t>(gridDim.x) * kGroups) {
    const int64_t p = p0 + g;
    float acc = kMax ? -INFINITY : 0.0f;
    if (p < planes) {
      const T* xc = x + p * plane;
      for (int64_t v = t; v < nvec; v += kTPP) {
        alignas(16) T e[V];
        if constexpr (V > 1) {
          *reinterpret_cast<uint4*>(e) = reinterpret_cast<const uint4*>(xc)[v];
        } else {
          e[0] = xc[v];
        }
#pragma unroll
        for (int k = 0; k < V; ++k) acc = kMax ? max_nan(acc, to_f32(e[k])) : acc + to_f32(e[k]);
      }
    }
    acc = warp_reduce<kMax>(acc);
    if constexpr (kTPP > 32) {
      __shared__ float partial[kThreads / 32];
      const int warp = static_cast<int>(threadIdx.x) / 32,
                lane = static_cast<int>(threadIdx.x) % 32;
      if (lane == 0) partial[warp] = acc;
      __syncthreads();
      if (warp == 0) {
        acc = lane < kThreads / 32 ? partial[lane] : (kMax ? -INFINITY : 0.0f);
        acc = warp_reduce<kMax>(acc);
        if (lane == 0 && p < planes) y[p] = from_f32<T>(kMax ? acc : acc / div);
      }
      __syncthreads();
    } else {
      if (t == 0 && p < planes) y[p] = from_f32<T>(kMax ? acc : acc / div);
    }
  }
}

template <class T>
void launch_global(const LaunchArgs& a, const T* x, T* y, int64_t planes, int64_t plane,
                   bool is_max, float div) {
  constexpr int V = 16 / sizeof(T);
  const bool vec = plane % V == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0;
  const int sms = a.state.num_sms > 0 ? a.state.num_sms : 132;
  const bool block_per_plane = plane >= 4096 && planes < static_cast<int64_t>(sms) * 32;
  auto go = [&](auto vc, auto tc, auto mc) {
    constexpr int kV = decltype(vc)::value, kT = decltype(tc)::value;
    constexpr bool kM = decltype(mc)::value;
    const int64_t blocks = (planes + (kThreads / kT) - 1) / (kThreads / kT);
    global_pool_kernel<T, kV, kT, kM>
        <<<grid_for(blocks, 1), kThreads, 0, a.stream>>>(x, y, planes, plane, div);
  };
  auto with_max = [&](auto vc, auto tc) {
    if (is_max) {
      go(vc, tc, std::true_type{});
    } else {
      go(vc, tc, std::false_type{});
    }
  };
  auto with_tpp = [&](auto vc) {
    if (block_per_plane) {
      with_max(vc, std::integral_constant<int, kThreads>{});
    } else {
      with_max(vc, std::integral_constant<int, 32>{});
    }
  };
  if (vec) {
    with_tpp(std::integral_constant<int, V>{});
  } else {
    with_tpp(std::integral_constant<int, 1>{});
  }
}

/// Checks ranks and the number of spatial parameters; returns the spatial rank (0 on error).
int spatial_rank(const LaunchArgs& a, size_t n_params) {
  const Dims &x = a.in[0].dims, &y = a.out[0].dims;
  int spatial = x.rank() - 2;
  if (spatial < 1 || spatial > 3 || y.rank() != x.rank() ||
      n_params != static_cast<size_t>(spatial) || y[0] != x[0] || y[1] != x[1])
    return 0;
  return spatial;
}

/// Runs the plan: the global reduction when `global` (every window is the whole plane, divisor
/// `global_div`), else the windowed kernel.
Status execute(const LaunchArgs& a, const PoolArg& p, bool is_max, bool global, float global_div) {
  const TensorView &x = a.in[0], &y = a.out[0];
  if (x.dtype != y.dtype || x.dtype == DataType::kBool || (!is_max && !is_floating(x.dtype)))
    return layer_error(a.layer, StatusCode::kTypeError,
                       "unsupported pooling dtype " + std::string(dtype_name(x.dtype)));
  int64_t* idx = nullptr;
  if (a.out.size() > 1) {
    if (!is_max || a.out[1].dtype != DataType::kInt64 || a.out[1].dims != y.dims)
      return layer_error(a.layer, StatusCode::kTypeError,
                         "indices must be int64 shaped like the output");
    idx = static_cast<int64_t*>(a.out[1].data);
  }
  const int64_t n = y.numel();
  if (n == 0) return {};
  const int64_t planes = x.dims[0] * x.dims[1];
  const int64_t plane = p.ax[0].in * p.ax[1].in * p.ax[2].in;
  bool done = false;
  if (global && plane > 0 && idx == nullptr) {
    done = visit_float_dtype(x.dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      launch_global<T>(a, static_cast<const T*>(x.data), static_cast<T*>(y.data), planes, plane,
                       is_max, global_div);
    });
  }
  if (!done) {
    visit_dtype(x.dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      if constexpr (!std::is_same_v<T, bool>) {
        const T* xp = static_cast<const T*>(x.data);
        T* yp = static_cast<T*>(y.data);
        if (n <= kMax32) {
          pool_kernel<T, uint32_t><<<grid_for(n, kThreads), kThreads, 0, a.stream>>>(
              xp, yp, idx, static_cast<uint32_t>(n), p, is_max);
        } else {
          pool_kernel<T, int64_t>
              <<<grid_for(n, kThreads), kThreads, 0, a.stream>>>(xp, yp, idx, n, p, is_max);
        }
      }
    });
  }
  KILN_CUDA_LAUNCH_CHECK();
  return {};
}

}  // namespace

Status launch_pooling(const LaunchArgs& a) {
  if (std::get<PoolingParams>(a.layer.params).channels_last) return launch_pooling_nhwc(a);
  const auto& p = std::get<PoolingParams>(a.layer.params);
  const size_t n = p.kernel.size();
  const int spatial = spatial_rank(a, n);
  if (spatial == 0 || p.strides.size() != n || p.pads_begin.size() != n || p.pads_end.size() != n ||
      p.dilations.size() != n)
    return layer_error(a.layer, StatusCode::kInvalidArgument,
                       "pooling parameters do not match the input rank");
  const Dims &x = a.in[0].dims, &y = a.out[0].dims;
  PoolArg arg{};
  if (p.divisor_override > 0) {
    arg.divisor = Divisor::kFixed;
    arg.fixed_divisor = p.divisor_override;
  } else {
    arg.divisor = p.count_include_pad ? Divisor::kPadded : Divisor::kValid;
    arg.fixed_divisor = 1;
  }
  bool global = true;
  int64_t volume = 1;
  for (int i = 0; i < spatial; ++i) {
    auto pi = static_cast<size_t>(i);
    if (p.kernel[pi] < 1 || p.strides[pi] < 1 || p.dilations[pi] < 1 || p.pads_begin[pi] < 0 ||
        p.pads_end[pi] < 0)
      return layer_error(a.layer, StatusCode::kInvalidArgument,
                         "kernel/strides/dilations must be >= 1 and pads >= 0");
    PoolAxis& ax = arg.ax[3 - spatial + i];
    ax.in = x[i + 2];
    ax.out = y[i + 2];
    ax.kernel = p.kernel[pi];
    ax.stride = p.strides[pi];
    ax.pad_begin = p.pads_begin[pi];
    ax.pad_end = p.pads_end[pi];
    ax.dilation = p.dilations[pi];
    global = global && ax.out == 1 && ax.pad_begin == 0 && ax.pad_end == 0 && ax.dilation == 1 &&
             ax.kernel == ax.in;
    volume *= ax.in;
  }
  // A whole-plane window holds `volume` valid taps, all inside the (unpadded) extent.
  const float div = static_cast<float>(arg.divisor == Divisor::kFixed ? arg.fixed_divisor : volume);
  return execute(a, arg, p.type == PoolingType::kMax, global, div);
}

Status launch_adaptive_pooling(const LaunchArgs& a) {
  if (std::get<AdaptivePoolingParams>(a.layer.params).channels_last)
    return launch_adaptive_pooling_nhwc(a);
  const auto& p = std::get<AdaptivePoolingParams>(a.layer.params);
  const int spatial = spatial_rank(a, p.output_size.size());
  if (spatial == 0)
    return layer_error(a.layer, StatusCode::kInvalidArgument,
                       "adaptive pooling output_size does not match the input rank");
  const Dims &x = a.in[0].dims, &y = a.out[0].dims;
  PoolArg arg{};
  arg.divisor = Divisor::kValid;
  arg.fixed_divisor = 1;
  bool global = true;
  int64_t volume = 1;
  for (int i = 0; i < spatial; ++i) {
    PoolAxis& ax = arg.ax[3 - spatial + i];
    ax.in = x[i + 2];
    ax.out = y[i + 2];
    ax.adaptive = true;
    if (ax.out < 1)
      return layer_error(a.layer, StatusCode::kShapeError,
                         "adaptive pooling output size must be >= 1");
    global = global && ax.out == 1;
    volume *= ax.in;
  }
  return execute(a, arg, p.type == PoolingType::kMax, global, static_cast<float>(volume));
}

}  // namespace kiln::cuda
