// torchvision models exported by export_models.py (random weights), traced and scripted, compiled
// with require_full_compilation on the CPU backend and compared with the loaded module's eager
// forward: relative error ||got - want|| / ||want|| < 1e-4 for every output tensor.
#include <ATen/ATen.h>

#include <filesystem>

#include "torch_test_util.h"

namespace kiln {
namespace {

std::optional<torch::jit::Module> load_model(const std::string& file) {
  std::string path = testing::models_dir() + "/" + file;
  if (!std::filesystem::exists(path)) return std::nullopt;
  auto m = torch::jit::load(path);
  m.eval();
  return m;
}

::testing::AssertionResult rel_close(const c10::IValue& got, const c10::IValue& want,
                                     double tol = 1e-4) {
  if (want.isGenericDict()) {  // the segmentation models return {"out": ...}: same keys, same order
    if (!got.isGenericDict())
      return ::testing::AssertionFailure() << "got " << got.tagKind() << ", want a dict";
    std::vector<std::string> gk, wk;
    for (const auto& kv : got.toGenericDict()) gk.push_back(kv.key().toStringRef());
    for (const auto& kv : want.toGenericDict()) wk.push_back(kv.key().toStringRef());
    if (gk != wk) return ::testing::AssertionFailure() << "dict keys differ";
  }
  auto g = testing::flatten_tensors(got), w = testing::flatten_tensors(want);
  if (g.size() != w.size())
    return ::testing::AssertionFailure() << g.size() << " outputs, want " << w.size();
  for (size_t i = 0; i < g.size(); ++i) {
    if (g[i].sizes() != w[i].sizes())
      return ::testing::AssertionFailure()
             << "output " << i << " shape " << g[i].sizes() << " vs " << w[i].sizes();
    at::Tensor a = g[i].to(at::kDouble), b = w[i].to(at::kDouble);
    double rel = ((a - b).norm() / (b.norm() + 1e-30)).item<double>();
    if (!(rel < tol))
      return ::testing::AssertionFailure() << "output " << i << " relative error " << rel;
  }
  return ::testing::AssertionSuccess();
}

torchscript::CompileSpec image_spec(std::vector<int64_t> shape, bool full = true) {
  torchscript::CompileSpec spec({torchscript::Input(std::move(shape))});
  spec.device.type = torchscript::DeviceType::kCPU;
  spec.require_full_compilation = full;
  return spec;
}

void compile_and_compare(const std::string& file, std::vector<int64_t> shape) {
  auto m = load_model(file);
  if (!m)
    GTEST_SKIP() << file << " not exported (run tests/torch/export_models.py "
                 << testing::models_dir() << ")";
  auto c = torchscript::compile(*m, image_spec(shape));
  ASSERT_TRUE(c.ok()) << file << ": " << c.status().to_string();
  EXPECT_EQ(testing::count_engines(*c), 1) << file;
  at::NoGradGuard ng;
  at::manual_seed(1);
  auto x = at::randn(shape);
  EXPECT_TRUE(rel_close(c->forward({x}), m->forward({x}))) << file;
}

class ClassificationModels : public ::testing::TestWithParam<std::string> {};

TEST_P(ClassificationModels, FullyCompilesAndMatchesEager) {
  compile_and_compare(GetParam(), {1, 3, 224, 224});
}

INSTANTIATE_TEST_SUITE_P(Torchvision, ClassificationModels,
                         ::testing::Values("resnet18_traced.ts", "resnet18_scripted.ts",
                                           "mobilenet_v2_traced.ts", "mobilenet_v2_scripted.ts",
                                           "efficientnet_b0_traced.ts",
                                           "efficientnet_b0_scripted.ts", "vit_b_16_traced.ts",
                                           "vit_b_16_scripted.ts"),
                         [](const ::testing::TestParamInfo<std::string>& i) {
                           return i.param.substr(0, i.param.size() - 3);
                         });

class SegmentationModels : public ::testing::TestWithParam<std::string> {};

TEST_P(SegmentationModels, FullyCompilesAndMatchesEager) {
  compile_and_compare(GetParam(), {1, 3, 64, 64});
}

INSTANTIATE_TEST_SUITE_P(Torchvision, SegmentationModels,
                         ::testing::Values("fcn_resnet50_traced.ts", "deeplabv3_resnet50_traced.ts",
                                           "deeplabv3_mobilenet_v3_large_traced.ts",
                                           "deeplabv3_mobilenet_v3_large_scripted.ts",
                                           "lraspp_mobilenet_v3_large_traced.ts",
                                           "lraspp_mobilenet_v3_large_scripted.ts"),
                         [](const ::testing::TestParamInfo<std::string>& i) {
                           return i.param.substr(0, i.param.size() - 3);
                         });

TEST(VisionModels, Resnet18DynamicBatch) {
  for (const char* file : {"resnet18_traced.ts", "resnet18_scripted.ts"}) {
    SCOPED_TRACE(file);
    auto m = load_model(file);
    if (!m) GTEST_SKIP() << file << " not exported";
    torchscript::CompileSpec spec(
        {torchscript::Input({1, 3, 224, 224}, {2, 3, 224, 224}, {2, 3, 224, 224})});
    spec.device.type = torchscript::DeviceType::kCPU;
    spec.require_full_compilation = true;
    auto c = torchscript::compile(*m, spec);
    ASSERT_TRUE(c.ok()) << c.status().to_string();
    EXPECT_EQ(testing::count_engines(*c), 1);
    at::NoGradGuard ng;
    for (int64_t b : {1, 2}) {
      auto x = at::randn({b, 3, 224, 224});
      EXPECT_TRUE(rel_close(c->forward({x}), m->forward({x}))) << "batch " << b;
    }
  }
}

TEST(VisionModels, SegmentationDynamicImageSize) {
  // The heads upsample to the input's (runtime) size: upsample_bilinear2d.vec with runtime sizes.
  auto m = load_model("lraspp_mobilenet_v3_large_traced.ts");
  if (!m) GTEST_SKIP() << "lraspp_mobilenet_v3_large_traced.ts not exported";
  torchscript::CompileSpec spec(
      {torchscript::Input({1, 3, 64, 64}, {1, 3, 96, 96}, {2, 3, 128, 128})});
  spec.device.type = torchscript::DeviceType::kCPU;
  spec.require_full_compilation = true;
  auto c = torchscript::compile(*m, spec);
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  at::NoGradGuard ng;
  for (auto shape : {std::vector<int64_t>{1, 3, 64, 64}, {1, 3, 80, 112}, {2, 3, 128, 96}}) {
    auto x = at::randn(shape);
    EXPECT_TRUE(rel_close(c->forward({x}), m->forward({x}))) << at::IntArrayRef(shape);
  }
}

TEST(VisionModels, FallbackOpInARealModel) {
  // max_pool2d forced to PyTorch splits resnet18 into two engines around it; results still match.
  auto m = load_model("resnet18_traced.ts");
  if (!m) GTEST_SKIP() << "resnet18_traced.ts not exported";
  auto spec = image_spec({1, 3, 224, 224}, false);
  spec.min_block_size = 1;  // keep the stem (conv + relu) in an engine of its own
  spec.torch_executed_ops = {"aten::max_pool2d"};
  auto c = torchscript::compile(*m, spec);
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(testing::count_engines(*c), 2);
  EXPECT_EQ(testing::count_nodes(*c, "aten::max_pool2d"), 1);
  at::NoGradGuard ng;
  auto x = at::randn({1, 3, 224, 224});
  EXPECT_TRUE(rel_close(c->forward({x}), m->forward({x})));
  // The same model with the report API: max_pool2d is listed as forced to PyTorch.
  auto report = torchscript::check_method_support(*m, "forward", spec);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_NE(report->find("torch_executed_ops"), std::string::npos) << *report;
}

}  // namespace
}  // namespace kiln
