// Checks shared by the converter tests of the vision families (test_converters_creation_indexing,
// test_converters_resize_pooling, test_converters_shape_conv_linear): compile TorchScript source or
// a one-node OpGraph on the CPU backend and compare with libtorch eager, static and dynamic shapes,
// and refused combinations that must fall back.
#pragma once

#include <ATen/ATen.h>

#include <cstring>
#include <string>
#include <vector>

#include "converters/converter.h"
#include "partition/partitioner.h"
#include "runtime/engine_class.h"
#include "torch_test_util.h"

namespace kiln::vision_checks {

using testing::cpu_spec;
using testing::expect_compiles_and_matches;
using testing::module_from_source;

/// Compiles `src` (static shapes of `inputs`, full compilation, CPU) and compares with eager.
inline void check(const std::string& src, const std::vector<at::Tensor>& inputs, double rtol = 1e-4,
                  double atol = 1e-5) {
  std::vector<std::pair<std::vector<int64_t>, at::ScalarType>> shapes;
  std::vector<c10::IValue> ivs;
  for (const at::Tensor& t : inputs) {
    shapes.emplace_back(t.sizes().vec(), t.scalar_type());
    ivs.emplace_back(t);
  }
  auto m = module_from_source(src);
  auto c = expect_compiles_and_matches(m, cpu_spec(shapes), ivs, rtol, atol);
  if (c) EXPECT_GE(testing::count_engines(*c), 1);
}

/// One dynamic input (min/opt/max) plus static others; runs every input set of `runs`.
inline void check_dynamic(const std::string& src, const std::vector<torchscript::Input>& specs,
                          const std::vector<std::vector<at::Tensor>>& runs, double rtol = 1e-4,
                          double atol = 1e-5) {
  auto m = module_from_source(src);
  torchscript::CompileSpec spec(specs);
  spec.device.type = torchscript::DeviceType::kCPU;
  spec.min_block_size = 1;
  spec.require_full_compilation = true;
  auto c = torchscript::compile(m, spec);
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  at::NoGradGuard ng;
  for (const auto& run : runs) {
    std::vector<c10::IValue> ivs(run.begin(), run.end());
    EXPECT_TRUE(testing::outputs_match(c->forward(ivs), m.forward(ivs), rtol, atol))
        << "input 0 " << run[0].sizes();
  }
}

inline torchscript::Input dyn(std::vector<int64_t> min, std::vector<int64_t> opt,
                              std::vector<int64_t> max, at::ScalarType dt = at::kFloat) {
  return torchscript::Input(std::move(min), std::move(opt), std::move(max), dt);
}

/// Expects compile with full compilation to fail naming `op` (a refused combination), and a
/// fallback compile to match eager with `op` left in PyTorch.
inline void check_refused(const std::string& src, const std::vector<at::Tensor>& inputs,
                          const std::string& op) {
  std::vector<std::pair<std::vector<int64_t>, at::ScalarType>> shapes;
  std::vector<c10::IValue> ivs;
  for (const at::Tensor& t : inputs) {
    shapes.emplace_back(t.sizes().vec(), t.scalar_type());
    ivs.emplace_back(t);
  }
  auto m = module_from_source(src);
  auto full = torchscript::compile(m, cpu_spec(shapes, true));
  ASSERT_FALSE(full.ok());
  EXPECT_NE(full.status().message().find(op), std::string::npos) << full.status().message();
  auto c = expect_compiles_and_matches(m, cpu_spec(shapes, false), ivs);
  ASSERT_TRUE(c.has_value());
  EXPECT_GE(testing::count_nodes(*c, op.substr(0, op.find('.'))), 1);
}

// ---- direct OpGraph runs (ops TorchScript would fold) ----

/// Builds an OpGraph with one node `op` whose inputs are the constants `args`, converts and runs it
/// and compares with `want` (which also gives the node's output type).
inline void check_op_graph(const std::string& op, const std::vector<c10::IValue>& args,
                           const at::Tensor& want, double rtol = 1e-6, double atol = 0) {
  bridge::OpGraph g;
  bridge::Node node;
  node.op = op;
  node.source = op;
  for (const c10::IValue& a : args) {
    bridge::Value v;
    v.name = "c" + std::to_string(g.values.size());
    v.constant = a;
    v.kind = a.isNone()     ? bridge::ValueKind::kNone
             : a.isTensor() ? bridge::ValueKind::kTensor
                            : bridge::ValueKind::kOther;
    node.inputs.push_back(g.add_value(std::move(v)));
  }
  bridge::Value out;
  out.name = "out";
  out.kind = bridge::ValueKind::kTensor;
  out.producer = 0;
  out.meta = bridge::TensorMeta{want.scalar_type(), want.sizes().vec(), want.sizes().vec(),
                                want.sizes().vec()};
  int o = g.add_value(std::move(out));
  node.outputs.push_back(o);
  g.nodes.push_back(node);
  g.outputs.push_back(o);
  bridge::PartitionOptions opt;
  opt.min_block_size = 1;
  opt.require_full_compilation = true;
  opt.builder.backend = "cpu";
  auto r = bridge::partition_and_build(g, opt);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_EQ(r->num_engines(), 1);
  const bridge::Segment& s = r->segments[0];
  at::Tensor plan = at::empty({static_cast<int64_t>(s.plan.size())}, at::kByte);
  std::memcpy(plan.data_ptr(), s.plan.data(), s.plan.size());
  bridge::TorchEngine engine(plan, s.input_names, s.output_names, "test");
  auto got = engine.execute({});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(testing::outputs_match(got[0], want, rtol, atol)) << op << "\n"
                                                                << got[0] << "\nwant\n"
                                                                << want;
}

inline c10::IValue none() { return c10::IValue(); }
inline c10::IValue dt_arg(at::ScalarType t) { return c10::IValue(static_cast<int64_t>(t)); }
inline c10::IValue ints(std::vector<int64_t> v) { return c10::IValue(v); }

}  // namespace kiln::vision_checks
