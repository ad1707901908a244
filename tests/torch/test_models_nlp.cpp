// HF transformers models exported by export_models.py (small configs, random weights, traced; HF
// models do not script): BERT, GPT-2, T5 (encoder-decoder), ViT and Llama, each with eager and SDPA
// attention, compiled on the CPU with require_full_compilation and compared with the loaded
// module's eager forward. Plus a dynamic sequence length BERT and a partial-fallback BERT.
#include <ATen/ATen.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <sstream>

#include "torch_test_util.h"

namespace kiln {
namespace {

using testing::outputs_match;

enum class Inputs { kText, kSeq2Seq, kImage };

struct NlpModel {
  const char* file;
  Inputs inputs;
};

std::optional<torch::jit::Module> load(const std::string& file) {
  std::string path = testing::models_dir() + "/" + file;
  if (!std::filesystem::exists(path)) return std::nullopt;
  torch::jit::Module m = torch::jit::load(path);
  m.eval();
  return m;
}

// input_ids in [0, 1000) and an int64 attention mask with padding at the end of the last sequence.
std::vector<c10::IValue> text_inputs(int64_t batch, int64_t seq, uint64_t seed) {
  at::manual_seed(seed);
  at::Tensor ids = at::randint(0, 1000, {batch, seq}, at::kLong);
  at::Tensor mask = at::ones({batch, seq}, at::kLong);
  if (seq > 2)
    mask.index_put_({batch - 1, at::indexing::Slice(seq - seq / 4, at::indexing::None)}, 0);
  return {ids, mask};
}

std::vector<c10::IValue> model_inputs(Inputs kind, uint64_t seed) {
  switch (kind) {
    case Inputs::kText:
      return text_inputs(2, 16, seed);
    case Inputs::kSeq2Seq: {
      auto in = text_inputs(2, 16, seed);
      in.push_back(at::randint(0, 1000, {2, 8}, at::kLong));
      return in;
    }
    case Inputs::kImage:
      at::manual_seed(seed);
      return {at::randn({2, 3, 32, 32})};
  }
  return {};
}

torchscript::CompileSpec spec_for(Inputs kind) {
  std::vector<std::pair<std::vector<int64_t>, at::ScalarType>> in;
  switch (kind) {
    case Inputs::kText:
      in = {{{2, 16}, at::kLong}, {{2, 16}, at::kLong}};
      break;
    case Inputs::kSeq2Seq:
      in = {{{2, 16}, at::kLong}, {{2, 16}, at::kLong}, {{2, 8}, at::kLong}};
      break;
    case Inputs::kImage:
      in = {{{2, 3, 32, 32}, at::kFloat}};
      break;
  }
  return testing::cpu_spec(in, /*full=*/true);
}

class NlpModelTest : public ::testing::TestWithParam<NlpModel> {};

TEST_P(NlpModelTest, CompilesFullyAndMatchesEager) {
  const NlpModel& p = GetParam();
  auto m = load(p.file);
  if (!m)
    GTEST_SKIP() << p.file << " not exported (run tests/torch/export_models.py "
                 << testing::models_dir() << ")";
  auto spec = spec_for(p.inputs);
  auto compiled = torchscript::compile(*m, spec);
  ASSERT_TRUE(compiled.ok()) << compiled.status().to_string();
  EXPECT_EQ(testing::count_engines(*compiled), 1);
  at::NoGradGuard no_grad;
  for (uint64_t seed : {1, 2}) {
    auto in = model_inputs(p.inputs, seed);
    c10::IValue want = m->forward(in);
    c10::IValue got = compiled->forward(in);
    EXPECT_TRUE(outputs_match(got, want, 1e-4, 1e-4)) << p.file << " seed " << seed;
  }
}

INSTANTIATE_TEST_SUITE_P(Transformers, NlpModelTest,
                         ::testing::Values(NlpModel{"bert_small_traced.ts", Inputs::kText},
                                           NlpModel{"bert_sdpa_traced.ts", Inputs::kText},
                                           NlpModel{"gpt2_eager_traced.ts", Inputs::kText},
                                           NlpModel{"gpt2_sdpa_traced.ts", Inputs::kText},
                                           NlpModel{"t5_eager_traced.ts", Inputs::kSeq2Seq},
                                           NlpModel{"t5_sdpa_traced.ts", Inputs::kSeq2Seq},
                                           NlpModel{"vit_hf_eager_traced.ts", Inputs::kImage},
                                           NlpModel{"vit_hf_sdpa_traced.ts", Inputs::kImage},
                                           NlpModel{"llama_eager_traced.ts", Inputs::kText},
                                           NlpModel{"llama_sdpa_traced.ts", Inputs::kText}),
                         [](const ::testing::TestParamInfo<NlpModel>& info) {
                           std::string s = info.param.file;
                           s = s.substr(0, s.find('.'));
                           for (char& c : s)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return s;
                         });

// Dynamic batch size and sequence length (int64 input_ids and mask; shape analysis feeds ones to
// int inputs: valid ids and an all-attend mask). Every op must run in Kiln except those in
// `torch_ok` (ops whose dynamic-shape converters are still missing; they fall back to PyTorch).
// Seq2seq models also get dynamic decoder_input_ids (batch as the encoder's, its own length).
void dynamic_sequence_case(const char* file, const std::set<std::string>& torch_ok,
                           bool seq2seq = false) {
  auto m = load(file);
  if (!m) GTEST_SKIP() << file << " not exported";
  torchscript::CompileSpec spec;
  spec.inputs.emplace_back(std::vector<int64_t>{1, 4}, std::vector<int64_t>{2, 16},
                           std::vector<int64_t>{4, 32}, at::kLong);
  spec.inputs.emplace_back(std::vector<int64_t>{1, 4}, std::vector<int64_t>{2, 16},
                           std::vector<int64_t>{4, 32}, at::kLong);
  if (seq2seq)
    spec.inputs.emplace_back(std::vector<int64_t>{1, 1}, std::vector<int64_t>{2, 8},
                             std::vector<int64_t>{4, 16}, at::kLong);
  spec.device.type = torchscript::DeviceType::kCPU;
  spec.min_block_size = 1;
  spec.require_full_compilation = torch_ok.empty();
  auto report = torchscript::check_method_support(*m, "forward", spec);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  std::istringstream lines(*report);
  for (std::string line; std::getline(lines, line);) {
    if (line.find(" in PyTorch") == std::string::npos || line.rfind("  ", 0) != 0) continue;
    std::string op = line.substr(2, line.find(": ") - 2);
    EXPECT_TRUE(torch_ok.count(op)) << file << ": " << line;
  }
  auto compiled = torchscript::compile(*m, spec);
  ASSERT_TRUE(compiled.ok()) << compiled.status().to_string();
  if (torch_ok.empty()) EXPECT_EQ(testing::count_engines(*compiled), 1);
  at::NoGradGuard no_grad;
  uint64_t seed = 10;
  for (auto [b, s] : {std::pair<int64_t, int64_t>{1, 4}, {2, 16}, {3, 9}, {4, 32}, {1, 31}}) {
    auto in = text_inputs(b, s, ++seed);
    if (seq2seq) in.push_back(at::randint(0, 1000, {b, std::max<int64_t>(1, s / 2)}, at::kLong));
    EXPECT_TRUE(outputs_match(compiled->forward(in), m->forward(in), 1e-4, 1e-4))
        << file << " batch " << b << " seq " << s;
  }
}

// HF's mask code gathers attention_mask[batch_idx, kv_idx]: aten::index.Tensor with two index
// tensors over two dynamic dims, which the indexing converters do not handle yet.
const std::set<std::string> kDynamicIndex = {"aten::index.Tensor"};

TEST(NlpModels, BertDynamicSequenceLength) {
  dynamic_sequence_case("bert_small_traced.ts", kDynamicIndex);
}
TEST(NlpModels, BertSdpaDynamicSequenceLength) {
  dynamic_sequence_case("bert_sdpa_traced.ts", kDynamicIndex);
}
TEST(NlpModels, Gpt2DynamicSequenceLength) {
  dynamic_sequence_case("gpt2_eager_traced.ts", kDynamicIndex);
}
TEST(NlpModels, T5DynamicSequenceLengths) {
  dynamic_sequence_case("t5_sdpa_traced.ts", kDynamicIndex, /*seq2seq=*/true);
}
TEST(NlpModels, LlamaDynamicSequenceLength) {
  dynamic_sequence_case("llama_sdpa_traced.ts", kDynamicIndex);
}

// Ops forced to PyTorch split the model into several engines; the stitched module still matches.
TEST(NlpModels, BertPartialFallback) {
  auto m = load("bert_small_traced.ts");
  if (!m) GTEST_SKIP() << "bert_small_traced.ts not exported";
  auto spec = spec_for(Inputs::kText);
  spec.require_full_compilation = false;
  spec.min_block_size = 3;
  spec.torch_executed_ops = {"aten::gelu", "aten::softmax"};
  auto compiled = torchscript::compile(*m, spec);
  ASSERT_TRUE(compiled.ok()) << compiled.status().to_string();
  EXPECT_GT(testing::count_engines(*compiled), 1);
  EXPECT_EQ(testing::count_nodes(*compiled, "aten::gelu"), 2);
  EXPECT_EQ(testing::count_nodes(*compiled, "aten::softmax"), 2);
  at::NoGradGuard no_grad;
  auto in = model_inputs(Inputs::kText, 3);
  EXPECT_TRUE(outputs_match(compiled->forward(in), m->forward(in), 1e-4, 1e-4));
  // The support report names the forced ops.
  auto report = torchscript::check_method_support(*m, "forward", spec);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_NE(report->find("aten::gelu: 2 in PyTorch (listed in torch_executed_ops)"),
            std::string::npos)
      << *report;
}

// Saved and reloaded, the compiled BERT still runs and matches.
TEST(NlpModels, BertSaveLoadRoundTrip) {
  auto m = load("bert_sdpa_traced.ts");
  if (!m) GTEST_SKIP() << "bert_sdpa_traced.ts not exported";
  auto compiled = torchscript::compile(*m, spec_for(Inputs::kText));
  ASSERT_TRUE(compiled.ok()) << compiled.status().to_string();
  std::string path = ::testing::TempDir() + "/kiln_bert_sdpa.ts";
  compiled->save(path);
  auto loaded = torch::jit::load(path);
  at::NoGradGuard no_grad;
  auto in = model_inputs(Inputs::kText, 4);
  EXPECT_TRUE(outputs_match(loaded.forward(in), m->forward(in), 1e-4, 1e-4));
}

}  // namespace
}  // namespace kiln
