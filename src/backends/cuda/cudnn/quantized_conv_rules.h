// When a quantized convolution can run as a cuDNN int8 graph (cudnn/quantized_conv.h). Free of
// CUDA and cuDNN headers, so host tests ask it of a planned graph.
#pragma once

#include <string>

#include "ir/graph.h"

namespace kiln::cuda {

constexpr int64_t kQuantizedCudnnTactic = 2000;  ///< + i: the i-th engine candidate of the graph

/// Why the cuDNN int8 graph cannot run this layer; empty when it can: a channels-last 2-D
/// convolution of groups 1, int8 x with zero point 0, C and K multiples of 4, symmetric padding,
/// constant scales and bias, no activation or one cuDNN fuses (relu, silu, sigmoid, tanh, gelu,
/// gelu_tanh), a f32 / f16 / bf16 residual, and a f32 / f16 / bf16 output or an int8 one with zero
/// point 0 and the full [-128, 127] range.
std::string quantized_cudnn_refusal(const ir::Graph& g, const ir::Layer& l);

}  // namespace kiln::cuda
