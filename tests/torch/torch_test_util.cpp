// Torch-bridge test helpers.
#include "torch_test_util.h"

#include <ATen/ATen.h>

namespace kiln::testing {

torch::jit::Module module_from_source(const std::string& source) {
  torch::jit::Module m("TestModule");
  m.define(source);
  m.eval();
  return m;
}

std::vector<at::Tensor> flatten_tensors(const c10::IValue& v) {
  std::vector<at::Tensor> out;
  if (v.isTensor()) {
    out.push_back(v.toTensor());
  } else if (v.isTuple()) {
    for (const auto& e : v.toTupleRef().elements()) {
      auto f = flatten_tensors(e);
      out.insert(out.end(), f.begin(), f.end());
    }
  } else if (v.isList()) {
    for (const auto& e : v.toListRef()) {
      auto f = flatten_tensors(e);
      out.insert(out.end(), f.begin(), f.end());
    }
  } else if (v.isGenericDict()) {
    for (const auto& kv : v.toGenericDict()) {
      auto f = flatten_tensors(kv.value());
      out.insert(out.end(), f.begin(), f.end());
    }
  }
  return out;
}

::testing::AssertionResult outputs_match(const c10::IValue& got, const c10::IValue& want,
                                         double rtol, double atol) {
  auto g = flatten_tensors(got), w = flatten_tensors(want);
  if (g.size() != w.size())
    return ::testing::AssertionFailure() << "got " << g.size() << " tensors, want " << w.size();
  for (size_t i = 0; i < g.size(); ++i) {
    at::Tensor a = g[i].detach().cpu(), b = w[i].detach().cpu();
    if (a.sizes() != b.sizes())
      return ::testing::AssertionFailure()
             << "output " << i << " shape " << a.sizes() << " vs " << b.sizes();
    if (a.scalar_type() != b.scalar_type())
      return ::testing::AssertionFailure()
             << "output " << i << " dtype " << a.scalar_type() << " vs " << b.scalar_type();
    if (!at::isFloatingType(b.scalar_type())) {
      if (!at::equal(a, b))
        return ::testing::AssertionFailure() << "output " << i << " differs (exact compare)";
      continue;
    }
    at::Tensor ad = a.to(at::kDouble), bd = b.to(at::kDouble);
    auto nan_a = at::isnan(ad), nan_b = at::isnan(bd);
    if (!at::equal(nan_a, nan_b))
      return ::testing::AssertionFailure() << "output " << i << " NaN pattern differs";
    ad = at::where(nan_a, at::zeros_like(ad), ad);
    bd = at::where(nan_b, at::zeros_like(bd), bd);
    double err = (ad - bd).abs().max().item<double>();
    auto bad = (ad - bd).abs() > (atol + rtol * bd.abs());
    if (bad.any().item<bool>()) {
      double rel = ((ad - bd).norm() / (bd.norm() + 1e-30)).item<double>();
      return ::testing::AssertionFailure()
             << "output " << i << ": " << bad.sum().item<int64_t>() << " of " << b.numel()
             << " elements differ; max abs err " << err << ", rel err " << rel;
    }
  }
  return ::testing::AssertionSuccess();
}

torchscript::CompileSpec cpu_spec(
    const std::vector<std::pair<std::vector<int64_t>, at::ScalarType>>& inputs, bool full) {
  torchscript::CompileSpec spec;
  for (const auto& [shape, dt] : inputs) spec.inputs.emplace_back(shape, dt);
  spec.device.type = torchscript::DeviceType::kCPU;
  spec.min_block_size = 1;
  spec.require_full_compilation = full;
  return spec;
}

std::optional<torch::jit::Module> expect_compiles_and_matches(
    const torch::jit::Module& m, const torchscript::CompileSpec& spec,
    const std::vector<c10::IValue>& inputs, double rtol, double atol) {
  auto compiled = torchscript::compile(m, spec);
  EXPECT_TRUE(compiled.ok()) << compiled.status().to_string();
  if (!compiled.ok()) return std::nullopt;
  at::NoGradGuard no_grad;
  torch::jit::Module eager = m;
  c10::IValue want = eager.forward(inputs);
  c10::IValue got = compiled->forward(inputs);
  EXPECT_TRUE(outputs_match(got, want, rtol, atol))
      << compiled->get_method("forward").graph()->toString();
  return std::move(*compiled);
}

int count_nodes(const torch::jit::Module& m, const std::string& kind) {
  int n = 0;
  for (const torch::jit::Node* node : m.get_method("forward").graph()->nodes())
    n += std::string(node->kind().toQualString()) == kind;
  return n;
}

int count_engines(const torch::jit::Module& m) { return count_nodes(m, "kiln::execute_engine"); }

std::string models_dir() { return KILN_TEST_MODELS_DIR; }

}  // namespace kiln::testing
