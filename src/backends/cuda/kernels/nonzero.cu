// CUDA nonzero: CUB's DeviceSelect::If compacts the linear indices of the non-zero elements (in
// order) into the workspace and writes their count into the layer's count output; one kernel then
// spreads each selected linear index into its coordinates. The count stays on the device: the
// runtime reads it back after the run (ExecutionContext::output_shape), so the launch neither
// synchronizes nor allocates and can be captured in a CUDA graph. Rows past the count are not
// written.
#include <thrust/iterator/counting_iterator.h>

#include <climits>
#include <cub/device/device_select.cuh>

#include "backends/cuda/cuda_kernels.h"
#include "backends/cuda/kernels/device_utils.cuh"

namespace kiln::cuda {
namespace {

constexpr int kThreads = 256;
constexpr size_t kAlign = 256;

template <class T>
struct IsNonZero {
  const T* x;
  __device__ __forceinline__ bool operator()(int64_t i) const {
    if constexpr (kIsFloat<T>) {
      return to_f32(x[i]) != 0.0f;  // NaN counts as non-zero, as in torch
    } else {
      return x[i] != T(0);
    }
  }
};

__global__ void coordinates_kernel(const int64_t* __restrict__ linear,
                                   const int64_t* __restrict__ count, int64_t bound, DimsArg dims,
                                   int64_t* __restrict__ out) {
  const int64_t n = *count;
  KILN_GRID_STRIDE_LOOP(i, bound) {
    if (i >= n) return;
    int64_t rest = linear[i];
    for (int d = dims.rank - 1; d >= 0; --d) {
      out[i * dims.rank + d] = rest % dims.d[d];
      rest /= dims.d[d];
    }
  }
}

size_t round_up(size_t v) { return (v + kAlign - 1) / kAlign * kAlign; }

// CUB's scratch for `n` items of dtype `dt` (0 when the query fails; the launch reports it).
size_t cub_bytes(DataType dt, int64_t n) {
  size_t bytes = 0;
  visit_dtype(dt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    cub::DeviceSelect::If(nullptr, bytes, thrust::counting_iterator<int64_t>(0),
                          static_cast<int64_t*>(nullptr), static_cast<int64_t*>(nullptr),
                          static_cast<int>(n), IsNonZero<T>{nullptr});
  });
  return bytes;
}

}  // namespace

size_t workspace_nonzero(const ir::Layer&, std::span<const TensorView> in,
                         std::span<const TensorView>) {
  const int64_t n = in[0].numel();
  if (n <= 0 || n > INT_MAX) return 0;
  return round_up(static_cast<size_t>(n) * sizeof(int64_t)) + cub_bytes(in[0].dtype, n);
}

Status supports_nonzero(const ir::Graph& g, const ir::Layer& l) {
  const Dims& d = g.tensors[static_cast<size_t>(l.inputs[0])].type.dims;
  if (d.is_static() && d.volume() > INT_MAX)
    return layer_error(l, StatusCode::kUnsupported, "nonzero of more than 2^31 - 1 elements");
  return {};
}

Status launch_nonzero(const LaunchArgs& a) {
  const TensorView &x = a.in[0], &idx = a.out[0], &count = a.out[1];
  const int64_t n = x.numel();
  auto* cnt = static_cast<int64_t*>(count.data);
  if (n == 0) {
    KILN_CUDA_RETURN(cudaMemsetAsync(cnt, 0, sizeof(int64_t), a.stream));
    return {};
  }
  if (n > INT_MAX)
    return layer_error(a.layer, StatusCode::kUnsupported, "nonzero of more than 2^31 - 1 elements");
  const size_t linear_bytes = round_up(static_cast<size_t>(n) * sizeof(int64_t));
  size_t temp_bytes = cub_bytes(x.dtype, n);
  if (a.workspace == nullptr || a.workspace_bytes < linear_bytes + temp_bytes)
    return layer_error(a.layer, StatusCode::kInternal, "nonzero workspace is too small");
  auto* linear = static_cast<int64_t*>(a.workspace);
  void* temp = static_cast<uint8_t*>(a.workspace) + linear_bytes;
  cudaError_t err = cudaSuccess;
  visit_dtype(x.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    err = cub::DeviceSelect::If(temp, temp_bytes, thrust::counting_iterator<int64_t>(0), linear,
                                cnt, static_cast<int>(n),
                                IsNonZero<T>{static_cast<const T*>(x.data)}, a.stream);
  });
  KILN_CUDA_RETURN(err);
  const int r = x.dims.rank();
  if (r > 0) {
    DimsArg dims = dims_arg(x.dims);
    coordinates_kernel<<<grid_for(n, kThreads), kThreads, 0, a.stream>>>(
        linear, cnt, n, dims, static_cast<int64_t*>(idx.data));
    KILN_CUDA_LAUNCH_CHECK();
  }
  return {};
}

}  // namespace kiln::cuda
