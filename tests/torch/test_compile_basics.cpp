// TorchScript compile pipeline: full compilation, fallback, torch_executed_ops, dynamic shapes,
// save/load round trips.
#include <ATen/ATen.h>

#include "torch_test_util.h"

namespace kiln {
namespace {

using testing::cpu_spec;
using testing::expect_compiles_and_matches;
using testing::module_from_source;

TEST(CompileBasics, SmallMlpFullyCompiles) {
  auto m = module_from_source(R"(
def forward(self, x, w1, w2):
    h = torch.relu(torch.matmul(x, w1) + 1.0)
    return torch.softmax(torch.matmul(h, w2), -1)
)");
  auto x = at::randn({4, 8}), w1 = at::randn({8, 16}), w2 = at::randn({16, 3});
  auto c = expect_compiles_and_matches(
      m, cpu_spec({{{4, 8}, at::kFloat}, {{8, 16}, at::kFloat}, {{16, 3}, at::kFloat}}),
      {x, w1, w2});
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(testing::count_engines(*c), 1);
}

TEST(CompileBasics, UnsupportedOpFallsBackAndMatches) {
  // aten::cosh is converted; aten::digamma is not: it stays in PyTorch between two engines.
  auto m = module_from_source(R"(
def forward(self, x):
    a = torch.relu(x * 2.0 + 1.0)
    b = torch.digamma(a + 1.0)
    return torch.tanh(b - 0.5) * 3.0 + a
)");
  auto x = at::rand({3, 5});
  auto spec = cpu_spec({{{3, 5}, at::kFloat}}, false);
  auto c = expect_compiles_and_matches(m, spec, {x});
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(testing::count_engines(*c), 2);
  EXPECT_EQ(testing::count_nodes(*c, "aten::digamma"), 1);
  // require_full_compilation names the op.
  auto full = torchscript::compile(m, cpu_spec({{{3, 5}, at::kFloat}}, true));
  ASSERT_FALSE(full.ok());
  EXPECT_NE(full.status().message().find("aten::digamma"), std::string::npos)
      << full.status().message();
}

TEST(CompileBasics, ScriptedIdiomsFoldAway) {
  // What torch.jit.script keeps dynamic in real models: a dict with constant keys (set twice: the
  // last value wins, the first insertion fixes the order), a rank assert, a list slice of a shape
  // and a rank dispatch. All fully compile; the output stays a dict.
  auto m = module_from_source(R"(
def forward(self, x):
    feats: Dict[str, Tensor] = {}
    feats["b"] = x * 2.0
    feats["a"] = torch.relu(x)
    feats["b"] = feats["b"] + feats["a"]
    assert len(x.size()) > 2, "needs 4-D input"
    hw = x.shape[-2:]
    y = torch.upsample_bilinear2d(feats["b"], [hw[0] * 2, hw[1] * 2], False, None)
    if x.dim() == 3:
        y = y * 5.0
    out: Dict[str, Tensor] = {}
    out["b"] = y
    out["a"] = feats["a"]
    return out
)");
  auto x = at::randn({2, 3, 5, 7});
  auto c = expect_compiles_and_matches(m, cpu_spec({{{2, 3, 5, 7}, at::kFloat}}, true), {x});
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(testing::count_engines(*c), 1);
  at::NoGradGuard ng;
  c10::IValue out = c->forward({x});
  ASSERT_TRUE(out.isGenericDict());
  std::vector<std::string> keys;
  for (const auto& kv : out.toGenericDict()) keys.push_back(kv.key().toStringRef());
  EXPECT_EQ(keys, (std::vector<std::string>{"b", "a"}));
}

TEST(CompileBasics, DictReadBeforeWriteStaysInPyTorch) {
  // A get of a key never set raises in PyTorch; the rewrite leaves such a dict alone, and compiling
  // reports the KeyError (met when the module runs at the profile's shapes) instead of reading
  // something made up.
  auto m = module_from_source(R"(
def forward(self, x):
    d: Dict[str, Tensor] = {}
    d["a"] = x
    return d["b"] + 1.0
)");
  auto c = torchscript::compile(m, cpu_spec({{{2, 3}, at::kFloat}}, false));
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("failed"), std::string::npos) << c.status().to_string();
  EXPECT_NE(c.status().message().find("b"), std::string::npos) << c.status().to_string();
}

TEST(CompileBasics, TorchExecutedOpsForceFallback) {
  auto m = module_from_source(R"(
def forward(self, x):
    return torch.sigmoid(torch.relu(x) + 1.0) * 2.0
)");
  auto spec = cpu_spec({{{2, 3}, at::kFloat}}, false);
  spec.torch_executed_ops = {"aten::relu"};
  auto c = expect_compiles_and_matches(m, spec, {at::randn({2, 3})});
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(testing::count_nodes(*c, "aten::relu"), 1);
  EXPECT_EQ(testing::count_engines(*c), 1);
}

TEST(CompileBasics, MinBlockSizeKeepsTinySegmentsInTorch) {
  auto m = module_from_source(R"(
def forward(self, x):
    return torch.relu(x)
)");
  auto spec = cpu_spec({{{2, 3}, at::kFloat}}, false);
  spec.min_block_size = 3;
  auto c = expect_compiles_and_matches(m, spec, {at::randn({2, 3})});
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(testing::count_engines(*c), 0);
}

TEST(CompileBasics, DynamicBatchAndViewWithRuntimeSize) {
  auto m = module_from_source(R"(
def forward(self, x):
    y = torch.relu(x)
    return y.view(y.size(0), -1).sum(-1, keepdim=True) + 1.0
)");
  torchscript::CompileSpec spec;
  spec.inputs.emplace_back(std::vector<int64_t>{1, 3, 4}, std::vector<int64_t>{4, 3, 4},
                           std::vector<int64_t>{8, 3, 4});
  spec.device.type = torchscript::DeviceType::kCPU;
  spec.min_block_size = 1;
  spec.require_full_compilation = true;
  auto c = torchscript::compile(m, spec);
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  for (int64_t b : {1, 5, 8}) {
    auto x = at::randn({b, 3, 4});
    EXPECT_TRUE(testing::outputs_match(c->forward({x}), m.forward({x})));
  }
  auto bad = at::randn({9, 3, 4});
  try {
    c->forward({bad});
    ADD_FAILURE() << "a batch outside the profile must be refused";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("outside optimization profile 0 range [1, 8]"),
              std::string::npos)
        << e.what();
  }
}

TEST(CompileBasics, SaveAndLoadRoundTrip) {
  auto m = module_from_source(R"(
def forward(self, x):
    return torch.gelu(x * 3.0) - x
)");
  auto c = torchscript::compile(m, cpu_spec({{{5, 7}, at::kFloat}}));
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  std::string path = ::testing::TempDir() + "/kiln_roundtrip.ts";
  c->save(path);
  auto loaded = torch::jit::load(path);
  auto x = at::randn({5, 7});
  EXPECT_TRUE(testing::outputs_match(loaded.forward({x}), m.forward({x})));
}

TEST(CompileBasics, AsStridedReshapesAndGathers) {
  // The pattern export decompositions emit (convnext: keepdim mean, then as_strided with any stride
  // on the unit dims), and a plain contiguous re-view: converted, one engine.
  auto ok = module_from_source(R"(
def forward(self, x):
    m = torch.mean(x, [-1, -2], True)
    a = torch.as_strided(m, [2, 6, 1, 1], [6, 1, 6, 6])
    b = torch.as_strided(x, [12, 20], [20, 1])
    return a * 2.0, b + 1.0
)");
  auto x = at::randn({2, 6, 4, 5});
  auto c = expect_compiles_and_matches(ok, cpu_spec({{{2, 6, 4, 5}, at::kFloat}}), {x});
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(testing::count_nodes(*c, "aten::as_strided"), 0);
  // Overlapping windows and storage offsets of a static input copy (a gather of the element
  // positions): compiled fully, numbers as eager's.
  for (const char* src :
       {"def forward(self, x):\n    return torch.as_strided(x, [4, 3], [1, 1]) * 2.0\n",
        "def forward(self, x):\n    return torch.as_strided(x, [2, 5], [6, 1], 1) * 2.0\n"}) {
    SCOPED_TRACE(src);
    auto m = module_from_source(src);
    auto y = at::randn({2, 6});
    auto full = expect_compiles_and_matches(m, cpu_spec({{{2, 6}, at::kFloat}}, true), {y});
    ASSERT_TRUE(full.has_value());
    EXPECT_EQ(testing::count_nodes(*full, "aten::as_strided"), 0);
  }
}

TEST(CompileBasics, BadSpecsAreRefused) {
  auto m = module_from_source("def forward(self, x):\n    return x + 1\n");
  auto spec = cpu_spec({{{2, 3}, at::kFloat}, {{2, 3}, at::kFloat}});
  auto r = torchscript::compile(m, spec);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("takes 1 inputs but 2"), std::string::npos)
      << r.status().message();
  torchscript::CompileSpec bad_range;
  bad_range.device.type = torchscript::DeviceType::kCPU;
  bad_range.inputs.emplace_back(std::vector<int64_t>{4}, std::vector<int64_t>{2},
                                std::vector<int64_t>{8});
  EXPECT_FALSE(torchscript::compile(m, bad_range).ok());
  auto complex = cpu_spec({{{2, 3}, at::kComplexFloat}});  // float64 is a CPU dtype now
  EXPECT_FALSE(torchscript::compile(m, complex).ok());
}

}  // namespace
}  // namespace kiln
