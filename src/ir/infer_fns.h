// Declarations of the per-op inference functions (defined in infer_<family>.cpp).
#pragma once

#include <span>

#include "ir/shape_inference.h"

namespace kiln::ir {

// infer_pointwise.cpp
Status infer_binary(const Layer&, std::span<const InferInput>, InferResult&);
Status infer_unary(const Layer&, std::span<const InferInput>, InferResult&);
Status infer_where(const Layer&, std::span<const InferInput>, InferResult&);
Status infer_cast(const Layer&, std::span<const InferInput>, InferResult&);
Status infer_identity(const Layer&, std::span<const InferInput>, InferResult&);
void value_binary(const Layer&, std::span<const InferInput>, InferResult&);
void value_unary(const Layer&, std::span<const InferInput>, InferResult&);
void value_where(const Layer&, std::span<const InferInput>, InferResult&);
void value_cast(const Layer&, std::span<const InferInput>, InferResult&);
void value_passthrough(const Layer&, std::span<const InferInput>, InferResult&);

// infer_quantize.cpp
Status infer_quantize(const Layer&, std::span<const InferInput>, InferResult&);
Status infer_dequantize(const Layer&, std::span<const InferInput>, InferResult&);
// infer_quantized_layers.cpp
Status infer_quantized_convolution(const Layer&, std::span<const InferInput>, InferResult&);
Status infer_quantized_linear(const Layer&, std::span<const InferInput>, InferResult&);

// infer_linalg.cpp
Status infer_convolution(const Layer&, std::span<const InferInput>, InferResult&);
Status infer_matmul(const Layer&, std::span<const InferInput>, InferResult&);
Status infer_linear(const Layer&, std::span<const InferInput>, InferResult&);
Status infer_attention(const Layer&, std::span<const InferInput>, InferResult&);

// infer_spatial.cpp
Status infer_pooling(const Layer&, std::span<const InferInput>, InferResult&);
Status infer_adaptive_pooling(const Layer&, std::span<const InferInput>, InferResult&);
Status infer_resize(const Layer&, std::span<const InferInput>, InferResult&);
Status infer_pad(const Layer&, std::span<const InferInput>, InferResult&);
Status infer_grid_sample(const Layer&, std::span<const InferInput>, InferResult&);

// infer_reduce_norm.cpp
Status infer_reduce(const Layer&, std::span<const InferInput>, InferResult&);
Status infer_softmax(const Layer&, std::span<const InferInput>, InferResult&);
Status infer_layer_norm(const Layer&, std::span<const InferInput>, InferResult&);
Status infer_group_norm(const Layer&, std::span<const InferInput>, InferResult&);
Status infer_batch_norm(const Layer&, std::span<const InferInput>, InferResult&);
Status infer_rms_norm(const Layer&, std::span<const InferInput>, InferResult&);
Status infer_cumsum(const Layer&, std::span<const InferInput>, InferResult&);
Status infer_topk(const Layer&, std::span<const InferInput>, InferResult&);
void value_reduce(const Layer&, std::span<const InferInput>, InferResult&);

// infer_shape_ops.cpp
Status infer_constant(const Layer&, std::span<const InferInput>, InferResult&);
Status infer_reshape(const Layer&, std::span<const InferInput>, InferResult&);
Status infer_transpose(const Layer&, std::span<const InferInput>, InferResult&);
Status infer_concat(const Layer&, std::span<const InferInput>, InferResult&);
Status infer_split(const Layer&, std::span<const InferInput>, InferResult&);
Status infer_slice(const Layer&, std::span<const InferInput>, InferResult&);
Status infer_expand(const Layer&, std::span<const InferInput>, InferResult&);
Status infer_squeeze(const Layer&, std::span<const InferInput>, InferResult&);
Status infer_unsqueeze(const Layer&, std::span<const InferInput>, InferResult&);
Status infer_flatten(const Layer&, std::span<const InferInput>, InferResult&);
Status infer_shape(const Layer&, std::span<const InferInput>, InferResult&);
Status infer_fill(const Layer&, std::span<const InferInput>, InferResult&);
Status infer_arange(const Layer&, std::span<const InferInput>, InferResult&);
void value_concat(const Layer&, std::span<const InferInput>, InferResult&);
void value_split(const Layer&, std::span<const InferInput>, InferResult&);
void value_slice(const Layer&, std::span<const InferInput>, InferResult&);
void value_expand(const Layer&, std::span<const InferInput>, InferResult&);
void value_shape(const Layer&, std::span<const InferInput>, InferResult&);
void value_fill(const Layer&, std::span<const InferInput>, InferResult&);
void value_arange(const Layer&, std::span<const InferInput>, InferResult&);

// infer_indexing.cpp
Status infer_gather(const Layer&, std::span<const InferInput>, InferResult&);
Status infer_gather_elements(const Layer&, std::span<const InferInput>, InferResult&);
Status infer_scatter(const Layer&, std::span<const InferInput>, InferResult&);
Status infer_kv_cache_write(const Layer&, std::span<const InferInput>, InferResult&);
Status infer_nonzero(const Layer&, std::span<const InferInput>, InferResult&);
void value_gather(const Layer&, std::span<const InferInput>, InferResult&);

/// Python slice semantics on an axis of extent n: first index and count (n must be >= 0).
struct SliceRange {
  int64_t start = 0;
  int64_t count = 0;
};
SliceRange slice_range(int64_t n, int64_t start, int64_t end, int64_t step);

}  // namespace kiln::ir
