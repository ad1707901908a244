// Kernels per forward of GPT-2 and a BERT encoder layer on the CUDA backend, planned without a GPU
// (cuda_plan.h: the pass pipeline for "cuda", then fusion planning). The networks are spelt as the
// torch converters spell the HF models (transformer_nets.h), so the counts pinned here are what
// `kiln_profile PLAN N order` lists for those models, record for record. Numerics of the same
// networks on a GPU: tests/gpu/test_cuda_fusion.cpp (TransformerNetsMatchCpu).
#include <gtest/gtest.h>

#include <cstdio>
#include <map>

#include "backends/cuda/cuda_plan.h"
#include "backends/transformer_nets.h"
#include "kiln/kiln.h"

namespace kiln {
namespace {

struct Count {
  std::vector<std::string> kinds;  ///< one per kernel record
  int views = 0;                   ///< aliasing views left without a record
};

Count kernels_of(const Network& net) {
  BuilderConfig cfg;
  cfg.enabled_precisions = {Precision::kFP32, Precision::kFP16};
  auto plan = cuda::plan_kernels(net, cfg);
  EXPECT_TRUE(plan.ok()) << plan.status().to_string();
  if (!plan.ok()) return {};
  Count c;
  for (const auto& k : plan->kernels) c.kinds.push_back(k.kind);
  c.views = plan->num_aliasing_views;
  return c;
}

std::string histogram(const std::vector<std::string>& kinds) {
  std::map<std::string, int> n;
  for (const auto& k : kinds) ++n[k];
  std::string s;
  for (const auto& [k, c] : n) s += "  " + std::to_string(c) + " x " + k + "\n";
  return s;
}

TEST(TransformerKernelCount, Gpt2BlockAndModel) {
  testing::TransformerShape s;
  Network one, two;
  testing::build_gpt2(one, s, 1);
  testing::build_gpt2(two, s, 2);
  const Count c1 = kernels_of(one), c2 = kernels_of(two);
  ASSERT_FALSE(c1.kinds.empty());
  const auto per_block = static_cast<int>(c2.kinds.size() - c1.kinds.size());
  const int outside = static_cast<int>(c1.kinds.size()) - per_block;
  const int views_per_block = c2.views - c1.views;
  std::printf(
      "GPT-2: %d kernels per block (+%d views without one), %d outside the blocks (+%d); "
      "GPT-2 small (12 blocks): %d (%d with the views)\none block:\n%s",
      per_block, views_per_block, outside, c1.views - views_per_block, outside + 12 * per_block,
      outside + 12 * per_block + c1.views + 11 * views_per_block, histogram(c1.kinds).c_str());
  // Pinned: lower is better; a change that adds kernels must say why here. Per block: ln_1, c_attn
  // GEMM, attention (+ its head views), c_proj GEMM + residual, ln_2, c_fc GEMM + gelu_tanh,
  // c_proj GEMM + residual; outside: wte gather, + wpe (folded: arange of a static length), ln_f.
  // Before aliasing views lost their records: 13 per block (159 for GPT-2 small).
  EXPECT_EQ(per_block, 7);
  EXPECT_EQ(views_per_block, 6);
  EXPECT_EQ(outside, 3);
}

TEST(TransformerKernelCount, BertEncoderLayer) {
  Network net;
  testing::build_bert_layer(net, testing::TransformerShape{});
  const Count c = kernels_of(net);
  std::printf("BERT layer: %zu kernels (+%d views without one)\n%s", c.kinds.size(), c.views,
              histogram(c.kinds).c_str());
  // q/k/v linears (one GEMM after fuse_parallel_linears), attention, out-proj + residual, LN,
  // up-proj + gelu, down-proj + residual, LN. Before: 8 (the merge-heads reshape had a record).
  EXPECT_EQ(c.kinds.size(), 7u);
}

}  // namespace
}  // namespace kiln
