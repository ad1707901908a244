// Registration functions of the converter families (one file each).
#pragma once

#include "converters/converter.h"

namespace kiln::bridge {

void register_evaluators(ConverterRegistry& r);                       // evaluators.cpp
void register_elementwise_converters(ConverterRegistry& r);           // elementwise.cpp
void register_activation_converters(ConverterRegistry& r);            // activations.cpp
void register_linear_converters(ConverterRegistry& r);                // linear.cpp
void register_convolution_converters(ConverterRegistry& r);           // convolution.cpp
void register_pooling_converters(ConverterRegistry& r);               // pooling.cpp
void register_normalization_converters(ConverterRegistry& r);         // normalization.cpp
void register_reduction_converters(ConverterRegistry& r);             // reductions.cpp
void register_shape_converters(ConverterRegistry& r);                 // shape_ops.cpp
void register_indexing_converters(ConverterRegistry& r);              // indexing.cpp
void register_rearrange_converters(ConverterRegistry& r);             // rearrange.cpp
void register_creation_converters(ConverterRegistry& r);              // creation.cpp
void register_resize_pad_converters(ConverterRegistry& r);            // resize_pad.cpp
void register_attention_converters(ConverterRegistry& r);             // attention.cpp
void register_multi_head_attention_converters(ConverterRegistry& r);  // multi_head_attention.cpp
void register_quantization_converters(ConverterRegistry& r);          // quantization.cpp
void register_composed_math_converters(ConverterRegistry& r);         // composed_math.cpp
void register_composed_op_converters(ConverterRegistry& r);           // composed_ops.cpp
void register_embedding_bag_converters(ConverterRegistry& r);         // embedding_bag.cpp
void register_data_dependent_converters(ConverterRegistry& r);        // data_dependent.cpp

// Shared helpers for converter files.
/// Normalizes a possibly negative dim against rank.
int64_t norm_dim(int64_t d, int rank);
/// Adds an elementwise binary op with torch promotion of inputs a and b (node inputs ia, ib).
Expected<kiln::Tensor> binary(ConversionCtx& ctx, const Node& n, size_t ia, size_t ib, BinaryOp op);
/// x * alpha for a constant alpha (returns x when alpha == 1).
Expected<kiln::Tensor> scale(ConversionCtx& ctx, const Node& n, kiln::Tensor x, double alpha);
/// The graph value behind input i of `n` (its constant, meta, producer).
const Value& input_value(const OpGraph& g, const Node& n, size_t i);
/// False (with the reason) when a tensor input of `n` is float64: for converters whose engine
/// layers compute in float32 on every backend (convolution, attention, resize), so float64 stays in
/// PyTorch instead of losing precision.
bool no_float64_inputs(const OpGraph& g, const Node& n, std::string* why);
/// Sets output i of `n` to the checked result (helpers.cpp).
Status set_output_tensor(ConversionCtx& ctx, const Node& n, Expected<kiln::Tensor> r, size_t i = 0);
/// Extent of dim d of t: static, or an int64 rank-0 tensor read from shape(t).
Expected<ConversionCtx::Int> dim_extent(ConversionCtx& ctx, kiln::Tensor t, int64_t d);
/// arange(0, n) as int64 (n static or runtime).
Expected<kiln::Tensor> iota_of(ConversionCtx& ctx, const ConversionCtx::Int& n);
/// Float type used for float results of integer inputs (torch's default float dtype).
inline constexpr DataType kDefaultFloat = DataType::kFloat32;

}  // namespace kiln::bridge
