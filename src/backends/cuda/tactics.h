// Tuned kernels: layers with several implementations (cuBLASLt algorithms, cuDNN algorithms) are
// timed at build time on the profile's opt shapes; the winner is recorded in the plan (tactic +
// config blob) and cached in the timing cache.
#pragma once

#include <memory>
#include <vector>

#include "backends/cuda/cuda_common.h"
#include "builder/timing_cache.h"

namespace kiln::cuda {

struct AttentionStrides;  // cuda_kernels.h

struct TuneContext {
  const ir::Graph& graph;
  const std::vector<TensorType>& opt_types;  ///< concrete types of every tensor at the opt shapes
  CudaState& state;
  cudaStream_t stream;
  int optimization_level;
  uint64_t workspace_limit;
  builder::TimingCache* cache;
  Logger& logger;
  const std::vector<int32_t>* group = nullptr;  ///< the fused group being tuned (anchor first)
  const std::vector<bool>* executed =
      nullptr;                     ///< per layer: runs on the device (ir::device_layers)
  std::string kernel_cache_dir;    ///< BuilderConfig::kernel_cache_dir
  std::string conv_impl;           ///< BuildSwitches::conv_impl
  bool cudnn_legacy_only = false;  ///< BuildSwitches::cudnn_legacy_only
};

/// Chooses the kernel (and tactic) for one layer.
Expected<backend::KernelRecord> tune_layer(int32_t layer, TuneContext& ctx);

/// Creates the kernel a record names (at engine load); `executed` is ir::device_layers(g), made
/// once per engine.
Expected<std::unique_ptr<backend::Kernel>> create_kernel(const ir::Graph& g,
                                                         const backend::KernelRecord& rec,
                                                         const std::vector<bool>& executed);

// ---- per-family tuners and factories ----
Expected<backend::KernelRecord> tune_gemm(int32_t layer, TuneContext& ctx);
Expected<std::unique_ptr<backend::Kernel>> create_gemm_kernel(const ir::Graph& g,
                                                              const backend::KernelRecord& rec);
Expected<backend::KernelRecord> tune_convolution(int32_t layer, TuneContext& ctx);
Expected<std::unique_ptr<backend::Kernel>> create_convolution_kernel(
    const ir::Graph& g, const backend::KernelRecord& rec);
/// Attention: cuDNN's fused flash attention (cudnn/sdpa.cpp) timed against Kiln's own kernels;
/// the record names "cuda.attention_cudnn" when cuDNN won, else the own kernel.
Expected<backend::KernelRecord> tune_attention(int32_t layer, TuneContext& ctx);
bool is_cudnn_attention_kernel(const std::string& kernel);
/// cuDNN's fused attention of `layer` on these operands (strided views when `strides` is given):
/// kUnsupported when cuDNN cannot take the problem, the workspace is too small or the build lacks
/// the frontend (the caller then runs Kiln's kernel).
Status run_cudnn_attention(const ir::Layer& layer, std::span<const TensorView> in,
                           const TensorView& out, const AttentionStrides* strides, void* workspace,
                           size_t workspace_bytes, cudaStream_t stream, CudaState& state);
/// The workspace run_cudnn_attention needs for these operands (0 when cuDNN cannot run them).
size_t cudnn_attention_workspace(const ir::Layer& layer, std::span<const TensorView> in,
                                 const TensorView& out, const AttentionStrides* strides);
/// Attention with its operands' view chains absorbed (attention_views.cpp): `rec.layers` are the
/// group's layers in graph order; the record's kernel names the attention tactic.
Expected<std::unique_ptr<backend::Kernel>> create_attention_views_kernel(
    const ir::Graph& g, const backend::KernelRecord& rec);
Expected<std::unique_ptr<backend::Kernel>> create_attention_kernel(
    const ir::Graph& g, const backend::KernelRecord& rec);
/// Quantized convolution / linear (cublaslt/quantized_gemm.cpp): the direct kernel timed against
/// an int8 (IMMA) / float8 cuBLASLt GEMM (convolutions through im2col, groups 1) with the
/// requantizing epilogue; the GEMM path is checked against the direct kernel at build time.
inline constexpr const char* kQuantizedGemmKernel = "cuda.quantized_gemm";
Expected<backend::KernelRecord> tune_quantized(int32_t layer, TuneContext& ctx);
Expected<std::unique_ptr<backend::Kernel>> create_quantized_kernel(
    const ir::Graph& g, const backend::KernelRecord& rec);
/// Generated pointwise kernels (nvrtc/fused_pointwise.cpp): generate, compile, record source +
/// cubin.
Expected<backend::KernelRecord> tune_fused_pointwise(const std::vector<int32_t>& layers,
                                                     TuneContext& ctx);
Expected<std::unique_ptr<backend::Kernel>> create_fused_pointwise_kernel(
    const ir::Graph& g, const backend::KernelRecord& rec, const std::vector<bool>& executed);

/// A layer's input and output views among a run's tensors (an omitted input stays an empty view).
struct LayerViews {
  std::vector<TensorView> in, out;
};
LayerViews layer_views(const ir::Layer& layer, std::span<const TensorView> tensors);

/// The hand-written kernel of one layer (kernel_table.cpp), e.g. for a fused kernel's fallback
/// path.
std::unique_ptr<backend::Kernel> make_layer_kernel(const ir::Layer& layer);

/// Random device data for timing and tactic checks (scratch owned by the caller); `seed` varies it.
Status fill_random(void* data, DataType dt, int64_t n, cudaStream_t stream, uint64_t seed = 0);

/// Compares device results `got` and `want` (n elements of dt) on the host: elements beyond
/// atol + rtol * |want| (NaN only against NaN) may be at most max(1, n / 10000). OK, or kInternal
/// naming `what`, the count and the worst element. Synchronizes `stream`.
Status check_close(const void* got, const void* want, DataType dt, int64_t n, double rtol,
                   double atol, cudaStream_t stream, const std::string& what);

/// Times `fn` (median of `reps` after a warm-up) with CUDA events on `stream`, in milliseconds.
template <class F>
Expected<float> time_on_stream(cudaStream_t stream, int reps, F&& fn);

}  // namespace kiln::cuda

#include "backends/cuda/tactics_inl.h"
