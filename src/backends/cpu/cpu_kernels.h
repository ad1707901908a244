// CPU reference kernels: one function per op, in one table (cpu_kernel_table.cpp). Plain C++,
// float32/float64 accumulation; the oracle every other backend is tested against.
#pragma once

#include <span>
#include <vector>

#include "backends/backend.h"
#include "ir/graph.h"
#include "kiln/status.h"

namespace kiln::cpu {

using backend::TensorView;

/// One layer's tensors. `in[i].data` is nullptr for an omitted optional input. Outputs are
/// preallocated with their concrete dims; an output may alias in[0] only for view ops.
struct CpuArgs {
  const ir::Layer& layer;
  std::span<const TensorView> in;
  std::span<const TensorView> out;
};

using CpuKernelFn = Status (*)(const CpuArgs&);

/// The kernel for `op` (never null: unsupported combinations return kUnsupported at run time).
CpuKernelFn cpu_kernel(ir::OpKind op);

/// "[backends.cpu] layer 'name' (op): msg".
Status cpu_error(const CpuArgs& a, StatusCode code, const std::string& msg);

// ---- kernels, by family file
// ------------------------------------------------------------------------ pointwise.cpp
Status run_binary(const CpuArgs&);
Status run_unary(const CpuArgs&);
Status run_where(const CpuArgs&);
Status run_cast(const CpuArgs&);
Status run_copy(const CpuArgs&);  // identity and view ops (reshape, squeeze, unsqueeze, flatten)
/// One unary op on one value, as run_unary computes it for float types (in double).
double unary_value(const UnaryParams& p, double v);
// quantize.cpp
Status run_quantize(const CpuArgs&);
Status run_dequantize(const CpuArgs&);
// quantized_layers.cpp
Status run_quantized_convolution(const CpuArgs&);
Status run_quantized_linear(const CpuArgs&);
// generators.cpp
Status run_fill(const CpuArgs&);
Status run_arange(const CpuArgs&);
Status run_shape(const CpuArgs&);
Status run_constant(const CpuArgs&);  // never executed: constants are bound to their weights
// reduce.cpp
Status run_reduce(const CpuArgs&);
Status run_cumsum(const CpuArgs&);
Status run_topk(const CpuArgs&);
// softmax_norm.cpp
Status run_softmax(const CpuArgs&);
Status run_layer_norm(const CpuArgs&);
Status run_group_norm(const CpuArgs&);
Status run_batch_norm(const CpuArgs&);
Status run_rms_norm(const CpuArgs&);
// convolution.cpp
Status run_convolution(const CpuArgs&);
// pooling.cpp
Status run_pooling(const CpuArgs&);
Status run_adaptive_pooling(const CpuArgs&);
// resize_pad.cpp
Status run_resize(const CpuArgs&);
// grid_sample.cpp
Status run_grid_sample(const CpuArgs&);
Status run_pad(const CpuArgs&);
// matmul.cpp
Status run_matmul(const CpuArgs&);
Status run_linear(const CpuArgs&);
// attention.cpp
Status run_attention(const CpuArgs&);
// indexing.cpp
Status run_gather(const CpuArgs&);
Status run_gather_elements(const CpuArgs&);
Status run_scatter(const CpuArgs&);
Status run_kv_cache_write(const CpuArgs&);  // writes into in[0]'s memory (out[0] aliases it)
Status run_nonzero(const CpuArgs&);
// data_movement.cpp
Status run_transpose(const CpuArgs&);
Status run_concat(const CpuArgs&);
Status run_split(const CpuArgs&);
Status run_slice(const CpuArgs&);
Status run_expand(const CpuArgs&);

// ---- helpers shared by kernel files ----

/// Row-major strides of dims (in elements).
std::vector<int64_t> contiguous_strides(const Dims& d);

/// Strides of `in` when broadcast to `out` (0 along broadcast dims), aligned to out's rank.
std::vector<int64_t> broadcast_strides(const Dims& in, const Dims& out);

/// Calls f(out_index, offsets...) for every output element, where offsets[k] is the element offset
/// into input k under its (broadcast) strides.
template <class F>
void for_each_broadcast(const Dims& out, std::span<const std::vector<int64_t>> strides, F&& f) {
  int r = out.rank();
  int64_t n = out.volume();
  std::vector<int64_t> idx(static_cast<size_t>(r), 0);
  std::vector<int64_t> off(strides.size(), 0);
  for (int64_t i = 0; i < n; ++i) {
    f(i, off);
    for (int d = r - 1; d >= 0; --d) {
      auto ud = static_cast<size_t>(d);
      ++idx[ud];
      for (size_t k = 0; k < strides.size(); ++k) off[k] += strides[k][ud];
      if (idx[ud] < out[d]) break;
      for (size_t k = 0; k < strides.size(); ++k) off[k] -= strides[k][ud] * out[d];
      idx[ud] = 0;
    }
  }
}

/// The tensor's elements as float32 (a copy for 16-bit floats; a view for f32 avoids no copy here:
/// callers use float_data() to skip it).
std::vector<float> to_float_vector(const TensorView& t);
/// Runs a channels-last layer (conv/pooling with channels_last set) through its channels-first
/// kernel: the first `num_layout_inputs` inputs are permuted [N, spatial..., C] -> [N, C,
/// spatial...], the output back.
Status run_channels_last_via_first(const CpuArgs& a, size_t num_layout_inputs, CpuKernelFn fn);

/// Writes float32 values into t (converting to its dtype).
void from_float_vector(const std::vector<float>& v, const TensorView& t);

}  // namespace kiln::cpu
