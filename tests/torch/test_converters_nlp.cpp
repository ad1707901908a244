// Converter tests for the families transformers need (attention, normalization, reductions,
// activations, elementwise, evaluators): every op those files register is compiled with
// require_full_compilation on the CPU and compared with libtorch eager on random inputs, static and
// dynamic shapes. Each case names the ops it covers; the case checks (with the support report) that
// they really are in the imported graph and run in Kiln, and EveryRegisteredOpHasACase checks that
// the cases cover every registered op (or the op is listed with the reason no TorchScript graph can
// hold it).
#include <ATen/ATen.h>
#include <torch/csrc/jit/ir/irparser.h>

#include <map>
#include <set>
#include <sstream>

#include "converters/converter.h"
#include "converters/families.h"
#include "nlp_cases.h"
#include "torch_test_util.h"

namespace kiln {
namespace {

using namespace nlp_cases;  // NOLINT(google-build-using-namespace): the case vocabulary

const std::vector<Case>& all_cases() {
  static const std::vector<Case> cases = [] {
    std::vector<Case> all;
    for (auto f : {activation_cases, elementwise_cases, reduction_cases, normalization_cases,
                   attention_cases, evaluator_cases}) {
      auto v = f();
      all.insert(all.end(), v.begin(), v.end());
    }
    return all;
  }();
  return cases;
}

// Ops registered by these families that no TorchScript graph reaching a converter can hold.
const std::map<std::string, std::string>& exempt_ops() {
  static const std::map<std::string, std::string> m = {
      {"aten::clone.default", "FX spelling (tested through the FX frontend)"},
      {"aten::dropout",
       "removed by the importer in eval mode; training mode falls back "
       "(DropoutInTrainingFallsBack)"},
      {"aten::feature_dropout", "removed by the importer in eval mode; training mode falls back"},
      {"aten::alpha_dropout", "removed by the importer in eval mode; training mode falls back"},
      {"aten::feature_alpha_dropout",
       "removed by the importer in eval mode; training mode falls back"},
      {"aten::dim", "always folded: the input specs fix every rank"},
      {"aten::_scaled_dot_product_flash_attention",
       "CUDA-only kernel (no CPU eager reference): GPU zoo run, bench/zoo.py --device cuda"},
      {"aten::_scaled_dot_product_efficient_attention",
       "CUDA-only kernel (no CPU eager reference): GPU zoo run"},
      {"aten::_scaled_dot_product_cudnn_attention",
       "CUDA-only kernel (no CPU eager reference): GPU zoo run (vit_b_16 exports it)"},
      {"prim::shape", "no TorchScript operator (FX frontend spelling)"},
      {"prim::NumToTensor", "TorchScript names it prim::NumToTensor.Scalar"},
      {"prim::TupleUnpack", "lowered away by the importer (LowerSimpleTuples)"},
      {"prim::TupleIndex", "lowered away by the importer (LowerSimpleTuples)"},
      {"prim::abs", "TorchScript names it prim::abs.int / .float / .Scalar"},
      {"aten::__is__", "folded by the importer (tensor inputs are never None)"},
      {"aten::__isnot__", "folded by the importer (tensor inputs are never None)"},
      {"aten::eq.str", "constants only: folded by TorchScript's constant propagation"},
      {"aten::ne.str", "constants only: folded by TorchScript's constant propagation"},
      {"aten::eq.device", "constants only: folded by TorchScript's constant propagation"},
      {"aten::ne.device", "constants only: folded by TorchScript's constant propagation"},
      {"aten::eq.float_list", "float lists only hold constants in these graphs: folded"},
      {"aten::ne.float_list", "float lists only hold constants in these graphs: folded"},
      {"aten::eq.bool_list", "bool lists only hold constants in these graphs: folded"},
      {"aten::ne.bool_list", "bool lists only hold constants in these graphs: folded"},
      {"aten::ceil.int", "TorchScript drops ceil / floor of an int"},
      {"aten::pow.int_to_int", "TorchScript resolves int ** int to aten::pow.int (a float)"},
      {"prim::dtype", "folded by the importer: the input specs fix every dtype"},
      {"prim::device", "folded by the importer: the target device is fixed"},
      {"aten::to.prim_dtype", "folded by the importer into aten::to.dtype (dtypes are constants)"},
      {"prim::unchecked_cast", "removed by the importer's peephole pass"},
      {"aten::Float.int", "TorchScript resolves float(int) to aten::Float.Scalar"},
      {"aten::detach", "removed by the importer's passes (inference graphs)"},
      {"aten::_local_scalar_dense",
       "FX spelling of aten::item (tests/python/test_core_aten_gaps.py, through the FX frontend)"},
      {"prim::DictConstruct", "only evaluated by PyTorch"},
      {"prim::RaiseException", "only evaluated by PyTorch"},
      {"aten::warn", "only evaluated by PyTorch"},
      {"prim::Uninitialized", "only evaluated by PyTorch"},
  };
  return m;
}

// The ops registered by the families under test.
std::set<std::string> registered_ops() {
  bridge::ConverterRegistry r;
  bridge::register_evaluators(r);
  bridge::register_elementwise_converters(r);
  bridge::register_activation_converters(r);
  bridge::register_normalization_converters(r);
  bridge::register_reduction_converters(r);
  bridge::register_attention_converters(r);
  auto ops = r.ops();
  return {ops.begin(), ops.end()};
}

// ---- running a case ----

torch::jit::Module module_from_ir(const std::string& ir) {
  auto g = std::make_shared<torch::jit::Graph>();
  torch::jit::parseIR(ir, g.get());
  torch::jit::Module m("TestIrModule");
  torch::jit::Value* self = g->insertInput(0, "self");
  self->setType(m.type());
  auto* fn = m._ivalue()->compilation_unit()->create_function(
      c10::QualifiedName(*m.type()->name(), "forward"), g);
  m.type()->addMethod(fn);
  m.eval();
  return m;
}

// "  aten::abs: 1 in Kiln" lines of the support report, by op.
std::map<std::string, std::string> report_lines(const std::string& report) {
  std::map<std::string, std::string> out;
  std::istringstream lines(report);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("  ", 0) != 0) continue;
    size_t colon = line.find(": ");
    if (colon == std::string::npos) continue;
    out[line.substr(2, colon - 2)] = line.substr(colon + 2);
  }
  return out;
}

class NlpConverterTest : public ::testing::TestWithParam<Case> {};

TEST_P(NlpConverterTest, MatchesEager) {
  const Case& c = GetParam();
  torch::jit::Module m =
      c.code.rfind("graph(", 0) == 0 ? module_from_ir(c.code) : testing::module_from_source(c.code);
  torchscript::CompileSpec spec;
  bool dynamic = false;
  for (const In& in : c.inputs) {
    spec.inputs.emplace_back(in.min, in.opt, in.max, in.dtype);
    dynamic |= in.dynamic();
  }
  spec.device.type = torchscript::DeviceType::kCPU;
  spec.min_block_size = 1;
  spec.require_full_compilation = true;
  auto report = torchscript::check_method_support(m, "forward", spec);
  ASSERT_TRUE(report.ok()) << report.status().to_string() << "\n" << c.code;
  auto lines = report_lines(*report);
  for (const std::string& op : c.ops) {
    auto it = lines.find(op);
    ASSERT_NE(it, lines.end()) << op << " is not in the imported graph of\n"
                               << c.code << "\n"
                               << *report;
    EXPECT_EQ(it->second.find("in PyTorch"), std::string::npos) << op << ": " << it->second;
  }
  auto compiled = torchscript::compile(m, spec);
  ASSERT_TRUE(compiled.ok()) << compiled.status().to_string() << "\n" << c.code;
  EXPECT_LE(testing::count_engines(*compiled), 1);
  at::NoGradGuard no_grad;
  std::vector<int> which = dynamic ? std::vector<int>{0, 1, 2} : std::vector<int>{1};
  for (int w : which) {
    at::manual_seed(static_cast<uint64_t>(17 + w));
    std::vector<c10::IValue> inputs;
    for (const In& in : c.inputs)
      inputs.emplace_back(make_input(in, w == 0 ? in.min : w == 1 ? in.opt : in.max));
    c10::IValue want = m.forward(inputs);
    c10::IValue got = compiled->forward(inputs);
    EXPECT_TRUE(testing::outputs_match(got, want, c.rtol, c.atol)) << c.code << "\nat "
                                                                   << (w == 0   ? "min"
                                                                       : w == 1 ? "opt"
                                                                                : "max")
                                                                   << " shapes";
  }
}

INSTANTIATE_TEST_SUITE_P(Ops, NlpConverterTest, ::testing::ValuesIn(all_cases()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return info.param.name;
                         });

TEST(NlpConverters, EveryRegisteredOpHasACase) {
  std::set<std::string> covered;
  std::set<std::string> names;
  for (const Case& c : all_cases()) {
    covered.insert(c.ops.begin(), c.ops.end());
    EXPECT_TRUE(names.insert(c.name).second) << "duplicate case name " << c.name;
  }
  std::vector<std::string> missing;
  for (const std::string& op : registered_ops()) {
    if (covered.count(op) || exempt_ops().count(op)) continue;
    missing.push_back(op);
  }
  std::string list;
  for (const auto& op : missing) list += "\n  " + op;
  EXPECT_TRUE(missing.empty()) << missing.size() << " registered ops have no test case:" << list;
  for (const auto& [op, why] : exempt_ops())
    EXPECT_FALSE(covered.count(op)) << op << " is exempt (" << why << ") but also covered";
}

// Dropout in training mode is random: it must stay in PyTorch (and eval-mode dropout disappears).
TEST(NlpConverters, DropoutInTrainingFallsBack) {
  auto m = testing::module_from_source(
      "def forward(self, x):\n    return torch.dropout(torch.relu(x), 0.5, True) + 1.0\n");
  auto spec = testing::cpu_spec({{{4, 5}, at::kFloat}}, false);
  auto report = torchscript::check_method_support(m, "forward", spec);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_NE(report->find("aten::dropout: 1 in PyTorch (dropout in training mode)"),
            std::string::npos)
      << *report;
  auto eval = testing::module_from_source(
      "def forward(self, x):\n    return torch.dropout(torch.relu(x), 0.5, False) + 1.0\n");
  testing::expect_compiles_and_matches(eval, testing::cpu_spec({{{4, 5}, at::kFloat}}),
                                       {at::randn({4, 5})});
}

// Argument combinations a converter refuses fall back to PyTorch instead of failing the compile.
TEST(NlpConverters, UnsupportedArgumentsFallBack) {
  auto m = testing::module_from_source(R"(
def forward(self, q, k, v, m):
    a = torch.scaled_dot_product_attention(q, k, v, m, 0.1)
    b = torch.scaled_dot_product_attention(q, k, v, None, 0.0, True)
    return a.shape[0] + b
)");
  at::Tensor q = at::randn({2, 3, 4}), k = at::randn({2, 5, 4}), v = at::randn({2, 5, 4}),
             mask = at::ones({2, 3, 5}, at::kBool);
  auto spec = testing::cpu_spec({{{2, 3, 4}, at::kFloat},
                                 {{2, 5, 4}, at::kFloat},
                                 {{2, 5, 4}, at::kFloat},
                                 {{2, 3, 5}, at::kBool}},
                                false);
  auto report = torchscript::check_method_support(m, "forward", spec);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_NE(report->find("1 in Kiln, 1 in PyTorch (dropout_p must be a constant 0)"),
            std::string::npos)
      << *report;
  auto c = torchscript::compile(m, spec);
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  at::NoGradGuard no_grad;
  // dropout in sdpa is random in eager too: compare the deterministic part only.
  auto out = c->forward({q, k, v, mask}).toTensor();
  auto want = torch::jit::Module(m).forward({q, k, v, mask}).toTensor();
  EXPECT_TRUE(testing::outputs_match(out, want));
}

}  // namespace
}  // namespace kiln
