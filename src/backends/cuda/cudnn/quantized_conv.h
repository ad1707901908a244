// The cuDNN tactic of channels-last int8 quantized convolutions: one operation graph (int8 x and
// w, int32 accumulation, per-channel scale, bias, residual, activation and the requantization to
// int8 fused in the kernel; conv_graph.h's int8 problem). cuDNN's int8 engines read NHWC with C a
// multiple of 4, which the layout pass gives quantized convolutions.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "backends/cuda/cuda_common.h"
#include "backends/cuda/cudnn/conv_graph.h"
#include "backends/cuda/cudnn/quantized_conv_rules.h"

namespace kiln::cuda {

constexpr size_t kQuantizedCudnnWorkspace = 32u << 20;

/// The tactic's device constants (alpha[c] = x_scale * w_scale[c], the bias in float32,
/// 1 / out_scale) and its graphs per concrete shape.
class QuantizedCudnnConv {
 public:
  ~QuantizedCudnnConv();
  QuantizedCudnnConv(const QuantizedCudnnConv&) = delete;
  QuantizedCudnnConv& operator=(const QuantizedCudnnConv&) = delete;
  /// With the layer's constant scales and bias (quantized_cudnn_refusal must be empty).
  static Expected<std::unique_ptr<QuantizedCudnnConv>> create(const ir::Graph& g,
                                                              const ir::Layer& l);
  /// With given constants (the tuner's scratch values): alpha [K], bias [K] or empty, the output
  /// multiplier (1 / out_scale) for an int8 output.
  static Expected<std::unique_ptr<QuantizedCudnnConv>> create(const ir::Layer& l,
                                                              const std::vector<float>& alpha,
                                                              const std::vector<float>& bias,
                                                              std::optional<float> out_multiplier);

  /// Engine candidates for the views' shape (builds the graph once per shape).
  Expected<int> candidates(cudnnHandle_t h, std::span<const TensorView> in,
                           const TensorView& out) const;
  /// Runs candidate `candidate` (or, when it does not build for this shape, the first that does).
  Status run(cudnnHandle_t h, std::span<const TensorView> in, const TensorView& out, int candidate,
             void* workspace, size_t workspace_bytes, cudaStream_t stream) const;

 private:
  explicit QuantizedCudnnConv(const ir::Layer& l) : layer_(l) {}
  Expected<ConvGraph*> graph_for(cudnnHandle_t h, std::span<const TensorView> in,
                                 const TensorView& out, int candidate) const;

  const ir::Layer& layer_;
  float* alpha_ = nullptr;           ///< [K]
  float* bias_ = nullptr;            ///< [K] or nullptr
  float* out_multiplier_ = nullptr;  ///< [1] or nullptr (a float output)
  mutable std::mutex mu_;
  /// by shape key and candidate; guarded by mu_
  mutable std::map<std::string, std::unique_ptr<ConvGraph>> graphs_;
};

}  // namespace kiln::cuda
