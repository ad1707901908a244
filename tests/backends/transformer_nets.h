// Transformer networks spelt the way the torch converters spell the HF models (addmm as matmul +
// bias add, Conv1D views, split + view + transpose around attention, gelu_new written out), shared
// by the kernel-count test (no GPU: tests/backends/cuda/test_transformer_kernel_count.cpp) and the
// GPU test that runs them against the CPU reference (tests/gpu/test_cuda_fusion.cpp).
#pragma once

#include "test_util.h"

namespace kiln::testing {

struct TransformerShape {
  int64_t batch = 1;  ///< kDynamic: a dynamic batch dim (reshape targets use -1 for it)
  int64_t seq = 16, embed = 128, heads = 2;
  DataType dtype = DataType::kFloat16;
};

/// GPT2Model: wte(ids) + wpe(arange(seq)), `layers` pre-LN blocks (causal attention), ln_f.
/// Input "input_ids" [batch, seq] int64 (values below 64), output "last_hidden_state".
void build_gpt2(Network& net, const TransformerShape& s, int layers);

/// A BERT encoder layer (post-LN): q/k/v linears, an additive mask [batch, 1, 1, seq], erf GELU.
/// Inputs "hidden" [batch, seq, embed], "mask"; output "out".
void build_bert_layer(Network& net, const TransformerShape& s);

}  // namespace kiln::testing
