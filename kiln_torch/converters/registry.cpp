// The one list of built-in converter families.
#include "converters/converter.h"
#include "converters/families.h"

namespace kiln::bridge {

void register_builtin_converters(ConverterRegistry& r) {
  register_evaluators(r);
  register_elementwise_converters(r);
  register_activation_converters(r);
  register_linear_converters(r);
  register_convolution_converters(r);
  register_pooling_converters(r);
  register_normalization_converters(r);
  register_reduction_converters(r);
  register_shape_converters(r);
  register_indexing_converters(r);
  register_rearrange_converters(r);
  register_creation_converters(r);
  register_resize_pad_converters(r);
  register_attention_converters(r);
  register_multi_head_attention_converters(r);
  register_quantization_converters(r);
  register_composed_math_converters(r);
  register_composed_op_converters(r);
  register_embedding_bag_converters(r);
  register_data_dependent_converters(r);
}

}  // namespace kiln::bridge
