// Converters of the vision families (indexing, creation, resize/pad, shape ops, pooling,
// convolution, linear) against libtorch eager on random inputs, static and dynamic shapes. Creation
// ops whose arguments are all constants are folded by TorchScript before conversion; those run
// through a hand-built OpGraph (the FX importer hands such nodes to the same converters).
#include <ATen/ATen.h>

#include "converters/converter.h"
#include "partition/partitioner.h"
#include "runtime/engine_class.h"
#include "torch_test_util.h"

namespace kiln {
namespace {

using testing::cpu_spec;
using testing::expect_compiles_and_matches;
using testing::module_from_source;

/// Compiles `src` (static shapes of `inputs`, full compilation, CPU) and compares with eager.
void check(const std::string& src, const std::vector<at::Tensor>& inputs, double rtol = 1e-4,
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
void check_dynamic(const std::string& src, const std::vector<torchscript::Input>& specs,
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

torchscript::Input dyn(std::vector<int64_t> min, std::vector<int64_t> opt, std::vector<int64_t> max,
                       at::ScalarType dt = at::kFloat) {
  return torchscript::Input(std::move(min), std::move(opt), std::move(max), dt);
}

/// Expects compile with full compilation to fail naming `op` (a refused combination), and a
/// fallback compile to match eager with `op` left in PyTorch.
void check_refused(const std::string& src, const std::vector<at::Tensor>& inputs,
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
void check_op_graph(const std::string& op, const std::vector<c10::IValue>& args,
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

c10::IValue none() { return c10::IValue(); }
c10::IValue dt_arg(at::ScalarType t) { return c10::IValue(static_cast<int64_t>(t)); }
c10::IValue ints(std::vector<int64_t> v) { return c10::IValue(v); }

// ==== creation
// ==========================================================================================

TEST(CreationConverters, ConstantArgumentsThroughOpGraph) {
  check_op_graph("aten::zeros", {ints({2, 3}), none(), none(), none(), none()}, at::zeros({2, 3}));
  check_op_graph("aten::ones", {ints({4}), dt_arg(at::kLong), none(), none(), none()},
                 at::ones({4}, at::kLong));
  check_op_graph("aten::full", {ints({2, 2}), c10::IValue(2.5), none(), none(), none(), none()},
                 at::full({2, 2}, 2.5));
  check_op_graph("aten::full", {ints({3}), c10::IValue(int64_t{7}), none(), none(), none(), none()},
                 at::full({3}, 7, at::kLong));
  check_op_graph("aten::full", {ints({2}), c10::IValue(true), none(), none(), none(), none()},
                 at::full({2}, true, at::kBool));
  check_op_graph("aten::empty.memory_format",
                 {ints({2, 1}), none(), none(), none(), none(), none()}, at::zeros({2, 1}));
  check_op_graph("aten::arange", {c10::IValue(int64_t{5}), none(), none(), none(), none()},
                 at::arange(5));
  check_op_graph(
      "aten::arange.start",
      {c10::IValue(int64_t{-3}), c10::IValue(int64_t{4}), none(), none(), none(), none()},
      at::arange(-3, 4));
  check_op_graph("aten::arange.start_step",
                 {c10::IValue(int64_t{2}), c10::IValue(int64_t{11}), c10::IValue(int64_t{3}),
                  none(), none(), none(), none()},
                 at::arange(2, 11, 3));
  check_op_graph(
      "aten::arange.start_step",
      {c10::IValue(0.0), c10::IValue(1.0), c10::IValue(0.1), none(), none(), none(), none()},
      at::arange(0.0, 1.0, 0.1));
  check_op_graph("aten::arange.start_step",
                 {c10::IValue(int64_t{10}), c10::IValue(int64_t{0}), c10::IValue(int64_t{-3}),
                  dt_arg(at::kFloat), none(), none(), none()},
                 at::arange(10, 0, -3, at::kFloat));
  check_op_graph("aten::linspace",
                 {c10::IValue(-1.0), c10::IValue(2.0), c10::IValue(int64_t{7}), none(), none(),
                  none(), none()},
                 at::linspace(-1.0, 2.0, 7));
  check_op_graph("aten::linspace",
                 {c10::IValue(0.0), c10::IValue(10.0), c10::IValue(int64_t{4}), dt_arg(at::kLong),
                  none(), none(), none()},
                 at::linspace(0, 10, 4, at::kLong));
  check_op_graph("aten::scalar_tensor", {c10::IValue(3.5), none(), none(), none(), none()},
                 at::scalar_tensor(3.5));
  check_op_graph("aten::tensor", {ints({1, 2, 3}), none(), none(), c10::IValue(false)},
                 at::tensor({1, 2, 3}, at::kLong));
  check_op_graph("aten::tensor.float", {c10::IValue(1.5), none(), none(), c10::IValue(false)},
                 at::scalar_tensor(1.5));
}

TEST(CreationConverters, LikeAndNewVariants) {
  check(R"(
def forward(self, x):
    a = torch.zeros_like(x) + torch.ones_like(x) * 2.0 + torch.full_like(x, 0.5)
    b = torch.where(torch.ones_like(x, dtype=11), x, torch.empty_like(x))
    return a + b, torch.full_like(x, 3, dtype=4), torch.ones_like(x, dtype=3)
)",
        {at::randn({2, 3})});
  check(R"(
def forward(self, x):
    a = x.new_zeros([2, 3]) + x.new_ones([2, 3]) + x.new_full([2, 3], 4.0)
    b = torch.where(x.new_ones([2, 3], dtype=11), x, x.new_empty([2, 3]))
    return a + b
)",
        {at::randn({2, 3})});
}

TEST(CreationConverters, FunctionalFills) {
  check(R"(
def forward(self, x, v):
    return torch.fill(x, 2.5), torch.fill(x, v[0]), torch.zero(x), torch.fill(x.to(4), 3)
)",
        {at::randn({2, 3}),
         at::full({1}, -1.25)});  // (rank-0 inputs are refused by the compile spec)
}

TEST(CreationConverters, RuntimeSizesAndValues) {
  // Sizes from a dynamic batch: fills driven by shape tensors; a runtime fill value broadcast.
  check_dynamic(R"(
def forward(self, x):
    n = x.size(0)
    z = torch.zeros([n, 3]) + torch.ones([n, 1], dtype=6)
    f = torch.full([n, 3], 2.0) + x.new_zeros([n, 3]) + x.new_full([n, 3], 1.5)
    r = torch.arange(n) * 2
    s = torch.arange(1, n + 1, 2)
    t = torch.arange(0, n)
    v = torch.full([2, 3], float(x[0, 0]))
    return z + f + x, r, s, t, v
)",
                {dyn({1, 3}, {4, 3}, {8, 3})},
                {{at::randn({1, 3})}, {at::randn({5, 3})}, {at::randn({8, 3})}});
  check_dynamic(R"(
def forward(self, x):
    return torch.zeros_like(x) + torch.full_like(x, 2.0) * x, torch.ones_like(x, dtype=4)
)",
                {dyn({1, 2, 2}, {2, 2, 4}, {4, 2, 6})},
                {{at::randn({1, 2, 2})}, {at::randn({3, 2, 5})}});
  check_dynamic(R"(
def forward(self, x):
    return torch.scalar_tensor(x.size(0)) + x, torch.tensor(x.size(0)) * 2
)",
                {dyn({1, 2}, {2, 2}, {4, 2})}, {{at::randn({1, 2})}, {at::randn({3, 2})}});
}

// ==== indexing
// ==========================================================================================

TEST(IndexingConverters, IndexSelectEmbeddingGather) {
  check(R"(
def forward(self, x, i):
    return torch.index_select(x, 1, i), torch.index_select(x, -1, i[:2])
)",
        {at::randn({3, 5, 4}), at::tensor({4, 0, 2, 2}, at::kLong).slice(0, 0, 4).clamp_max(3)});
  check(R"(
def forward(self, w, i):
    return torch.embedding(w, i), torch.embedding(w, i, 0)
)",
        {at::randn({10, 6}), at::randint(0, 10, {2, 7}, at::kLong)});
  check(R"(
def forward(self, x, i):
    return torch.gather(x, 1, i), torch.gather(x, 0, i[:2, :2])
)",
        {at::randn({3, 5}), at::randint(0, 3, {3, 4}, at::kLong)});
  check(R"(
def forward(self, x, i):
    return torch.gather(x, -1, i)
)",
        {at::randn({2, 3, 6}), at::randint(0, 6, {2, 3, 9}, at::kLong)});
}

TEST(IndexingConverters, Scatter) {
  auto perm = at::stack({at::randperm(5), at::randperm(5), at::randperm(5)})
                  .slice(1, 0, 4);  // unique per row
  check(R"(
def forward(self, x, i, s):
    return torch.scatter(x, 1, i, s), torch.scatter(x, 1, i, 2.5), torch.scatter_add(x, 1, i, s)
)",
        {at::randn({3, 5}), perm, at::randn({3, 6})});
  auto dup = at::randint(0, 5, {3, 7}, at::kLong);
  check(R"(
def forward(self, x, i, s):
    a = torch.scatter(x, 1, i, s, reduce='add')
    b = torch.scatter(x, 1, i, s, reduce='multiply')
    c = torch.scatter(x, 1, i, 1.5, reduce='add')
    d = torch.scatter(x, 1, i, 0.5, reduce='multiply')
    return a, b, c, d, torch.scatter_add(x, 1, i, s)
)",
        {at::randn({3, 5}), dup, at::randn({3, 7})});
  for (const char* red : {"sum", "prod", "amax", "amin", "mean"}) {
    for (const char* self : {"True", "False"}) {
      SCOPED_TRACE(std::string(red) + " include_self=" + self);
      check(std::string(R"(
def forward(self, x, i, s):
    return torch.scatter_reduce(x, 0, i, s, ')") +
                red + "', include_self=" + self + ")\n",
            {at::randn({4, 3}), at::randint(0, 4, {6, 3}, at::kLong), at::randn({6, 3})});
    }
  }
  // integer mean floors
  check(R"(
def forward(self, x, i, s):
    return torch.scatter_reduce(x, 0, i, s, 'mean', include_self=True), torch.scatter_reduce(x, 0, i, s, 'amax', include_self=False)
)",
        {at::randint(-20, 20, {4, 3}, at::kLong), at::randint(0, 4, {6, 3}, at::kLong),
         at::randint(-20, 20, {6, 3}, at::kLong)});
}

TEST(IndexingConverters, IndexTensor) {
  auto x = at::randn({4, 5, 6});
  check(R"(
def forward(self, x, i):
    return x[i], x[:, i], x[:, :, i]
)",
        {x, at::tensor({3, -1, 0, 2}, at::kLong)});
  check(R"(
def forward(self, x, i, j):
    return x[i, j], x[:, i[:4], j[:4]]
)",
        {x, at::tensor({0, 3, -2, 1, 1}, at::kLong), at::tensor({4, 0, -1, 2, 3}, at::kLong)});
  // broadcasting index tensors on adjacent dims
  check(R"(
def forward(self, x, i, j):
    return x[i, j]
)",
        {x, at::randint(0, 4, {3, 1}, at::kLong), at::randint(0, 5, {1, 2}, at::kLong)});
  // index tensor on a dynamic batch
  check_dynamic(R"(
def forward(self, x, i):
    return x[:, i] * 2.0
)",
                {dyn({1, 6}, {3, 6}, {5, 6}), torchscript::Input({3}, at::kLong)},
                {{at::randn({1, 6}), at::tensor({5, 0, 1}, at::kLong)},
                 {at::randn({5, 6}), at::tensor({1, 1, 2}, at::kLong)}});
}

TEST(IndexingConverters, IndexPut) {
  check(R"(
def forward(self, x, i, v):
    y = x.clone()
    y[i] = v
    z = torch.index_put(x.transpose(0, 1), [None, i], v.t())
    return y, z, torch.index_put(x, [i], v, True), torch.index_put(x, [i], v[:1], True)
)",
        {at::randn({5, 4}), at::tensor({3, 0, -1}, at::kLong), at::randn({3, 4})});
  check(R"(
def forward(self, x, m):
    return torch.index_put(x, [m], torch.tensor(7.0)), torch.index_put(x, [m[:, 0]], torch.tensor(-1.0), True)
)",
        {at::randn({3, 4}), at::rand({3, 4}) > 0.5});
}

TEST(IndexingConverters, SliceAndSelectScatter) {
  check(R"(
def forward(self, x, s, t):
    a = torch.slice_scatter(x, s, 1, 1, 4)
    b = torch.slice_scatter(x, s[:, :2], 1, 0, 5, 3)
    c = torch.slice_scatter(x, s, -1, -3, None)
    d = torch.select_scatter(x, t, 1, -2)
    e = torch.select_scatter(x, x[0] * 2.0, 0, 1)
    return a, b, c, d, e
)",
        {at::randn({2, 6}), at::randn({2, 3}), at::randn({2})});
  check_dynamic(R"(
def forward(self, x, s):
    return torch.slice_scatter(x, s, 1, 2, 4), torch.select_scatter(x, s[:, 0], 1, 0)
)",
                {dyn({1, 5}, {2, 5}, {4, 5}), dyn({1, 2}, {2, 2}, {4, 2})},
                {{at::randn({1, 5}), at::randn({1, 2})}, {at::randn({4, 5}), at::randn({4, 2})}});
}

TEST(IndexingConverters, FlipRollTriangles) {
  auto x = at::randn({3, 4, 5});
  check(R"(
def forward(self, x):
    return torch.flip(x, [0, 2]), torch.flip(x, [-2])
)",
        {x});
  check(R"(
def forward(self, x):
    return torch.roll(x, [2], [1]), torch.roll(x, [-1, 7], [0, 2]), torch.roll(x, 5)
)",
        {x});
  check(R"(
def forward(self, x):
    return torch.tril(x), torch.triu(x), torch.tril(x, -1), torch.triu(x, 2)
)",
        {x});
  check(R"(
def forward(self, x):
    return torch.tril(x, 1), torch.triu(x, -1)
)",
        {at::randint(-9, 9, {4, 3}, at::kLong)});
  check_dynamic(R"(
def forward(self, x):
    return torch.roll(x, [3], [0]), torch.flip(x, [0]), torch.tril(x), torch.roll(x, 2)
)",
                {dyn({1, 4}, {4, 4}, {6, 4})},
                {{at::randn({1, 4})}, {at::randn({5, 4})}, {at::randn({6, 4})}});
  check_dynamic(R"(
def forward(self, x):
    return torch.triu(x, 1)
)",
                {dyn({2, 1}, {3, 3}, {5, 6})},
                {{at::randn({2, 1})}, {at::randn({5, 6})}, {at::randn({3, 4})}});
}

// diff with prepend/append and n > 1 (transformers' packed-sequence check), bool diff (xor),
// dynamic.
TEST(IndexingConverters, Diff) {
  check(R"(
def forward(self, x, p):
    return torch.diff(x), torch.diff(x, n=2, dim=0), torch.diff(x, dim=1, prepend=p, append=p), torch.diff(x > 0, dim=2)
)",
        {at::randn({3, 4, 5}), at::randn({3, 2, 5})});
  check_dynamic(R"(
def forward(self, x):
    return torch.diff(x, prepend=x[:, :1] - 1, dim=-1)
)",
                {dyn({1, 3}, {2, 6}, {4, 9})},
                {{at::randn({1, 3})}, {at::randn({4, 9})}, {at::randn({2, 6})}});
}

TEST(IndexingConverters, DataDependentOpsStayInTorch) {
  check_refused(R"(
def forward(self, x):
    y = torch.relu(x) * 2.0
    return torch.masked_select(y, y > 0.5)
)",
                {at::rand({3, 4})}, "aten::masked_select");
  check_refused(R"(
def forward(self, x, m):
    return (x + 1.0)[m]
)",
                {at::rand({3, 4}), at::rand({3, 4}) > 0.5}, "aten::index");
}

// ==== resize / pad
// ======================================================================================

TEST(ResizePadConverters, Pads) {
  auto x = at::randn({2, 3, 5, 6});
  check(R"(
def forward(self, x):
    return torch.constant_pad_nd(x, [1, 2, 0, 3], 1.5), torch.constant_pad_nd(x, [-1, 2, 1, -2]), torch.constant_pad_nd(x, [1, 1, 1, 1, 1, 1])
)",
        {x});
  check(R"(
def forward(self, x):
    return torch.reflection_pad2d(x, [1, 2, 3, 1]), torch.replication_pad2d(x, [2, 0, 1, 3]), torch._pad_circular(x, [1, 2, 2, 1])
)",
        {x});
  check(R"(
def forward(self, x):
    a = torch.pad(x, [1, 2, 2, 1], 'reflect')
    b = torch.pad(x, [1, 2, 3, 0], 'replicate')
    c = torch.pad(x, [2, 1, 1, 2], 'circular')
    d = torch.pad(x, [1, 1, 2, 2], 'constant', -2.0)
    e = torch.pad(x, [1, 1])
    return a, b, c, d, e
)",
        {x});
  auto x3 = at::randn({2, 3, 7});
  check(R"(
def forward(self, x):
    return torch.reflection_pad1d(x, [3, 2]), torch.replication_pad1d(x, [1, 4]), torch.pad(x, [2, 1], 'reflect'), torch.pad(x, [1, 2], 'circular')
)",
        {x3});
  auto x5 = at::randn({1, 2, 3, 4, 5});
  check(R"(
def forward(self, x):
    return torch.reflection_pad3d(x, [1, 2, 1, 1, 2, 0]), torch.replication_pad3d(x, [0, 1, 2, 1, 1, 2])
)",
        {x5});
  check(R"(
def forward(self, x):
    return torch.constant_pad_nd(x, [1, 2], 3)
)",
        {at::randint(0, 9, {3, 4}, at::kLong)});
  check_dynamic(R"(
def forward(self, x):
    return torch.constant_pad_nd(x, [1, 1, 2, 2]), torch.reflection_pad2d(x, [1, 1, 1, 1])
)",
                {dyn({1, 2, 4, 4}, {2, 2, 6, 6}, {3, 2, 8, 8})},
                {{at::randn({1, 2, 4, 4})}, {at::randn({3, 2, 8, 5})}, {at::randn({2, 2, 6, 7})}});
}

TEST(ResizePadConverters, RuntimePadAmounts) {
  // Swin pads H/W up to a multiple of the window from the (dynamic) input size; negative amounts
  // crop.
  check_dynamic(R"(
def forward(self, x):
    pad_b = (4 - x.size(2) % 4) % 4
    pad_r = (4 - x.size(3) % 4) % 4
    a = torch.pad(x, [0, pad_r, 0, pad_b])
    b = torch.constant_pad_nd(x, [1, 1 - x.size(3) // 2, pad_b - 1, 2], -1.5)
    return a, b
)",
                {dyn({1, 2, 3, 4}, {2, 2, 5, 6}, {2, 2, 9, 9})},
                {{at::randn({1, 2, 3, 4})},
                 {at::randn({2, 2, 5, 6})},
                 {at::randn({2, 2, 9, 7})},
                 {at::randn({1, 2, 8, 8})}});
}

TEST(ResizePadConverters, NearestUpsampling) {
  auto x = at::randn({2, 3, 5, 7});
  check(R"(
def forward(self, x):
    return torch.upsample_nearest2d(x, [10, 14]), torch.upsample_nearest2d(x, [8, 9]), torch.upsample_nearest2d(x, [3, 4])
)",
        {x});
  check(R"(
def forward(self, x):
    a = torch.upsample_nearest2d(x, None, [2.0, 2.0])
    b = torch.upsample_nearest2d(x, None, [1.7, 0.6])
    c = torch.upsample_nearest2d(x, [9, 4], 1.7, 0.6)
    d = torch._upsample_nearest_exact2d(x, [9, 11])
    e = torch._upsample_nearest_exact2d(x, None, [1.5, 2.5])
    return a, b, c, d, e
)",
        {x});
  check(R"(
def forward(self, x):
    return torch.upsample_nearest1d(x, [11]), torch.upsample_nearest1d(x, None, [2.5]), torch._upsample_nearest_exact1d(x, [3])
)",
        {at::randn({2, 3, 5})});
  check(R"(
def forward(self, x):
    return torch.upsample_nearest3d(x, [4, 6, 9]), torch.upsample_nearest3d(x, None, [2.0, 1.5, 0.5])
)",
        {at::randn({1, 2, 3, 4, 5})});
  check(R"(
def forward(self, x):
    return torch.upsample_nearest2d(x, [6, 6])
)",
        {at::randint(0, 100, {1, 2, 3, 3}, at::kByte)});
}

TEST(ResizePadConverters, LinearAndCubicUpsampling) {
  auto x = at::randn({2, 3, 5, 7});
  for (const char* ac : {"False", "True"}) {
    SCOPED_TRACE(std::string("align_corners=") + ac);
    std::string a = ac;
    check(R"(
def forward(self, x):
    r1 = torch.upsample_bilinear2d(x, [10, 9], )" +
              a + R"()
    r2 = torch.upsample_bilinear2d(x, None, )" +
              a + R"(, [2.0, 1.5])
    r3 = torch.upsample_bilinear2d(x, [3, 4], )" +
              a + R"()
    r4 = torch.upsample_bicubic2d(x, [9, 12], )" +
              a + R"()
    r5 = torch.upsample_bicubic2d(x, None, )" +
              a + R"(, [0.75, 1.3])
    return r1, r2, r3, r4, r5
)",
          {x});
    check(R"(
def forward(self, x):
    return torch.upsample_linear1d(x, [13], )" +
              a + R"(), torch.upsample_linear1d(x, None, )" + a + R"(, [0.5])
)",
          {at::randn({2, 3, 6})});
    check(R"(
def forward(self, x):
    return torch.upsample_trilinear3d(x, [5, 6, 3], )" +
              a + R"(), torch.upsample_trilinear3d(x, None, )" + a + R"(, [2.0, 1.5, 1.0])
)",
          {at::randn({1, 2, 3, 4, 5})});
  }
  // explicit sizes with explicit scales: the scales map coordinates
  check(R"(
def forward(self, x):
    return torch.upsample_bilinear2d(x, [10, 14], False, 2.5, 2.5)
)",
        {x});
}

TEST(ResizePadConverters, DynamicSizes) {
  // Output size from another tensor's (dynamic) shape, as FCN/DeepLab heads do.
  check_dynamic(
      R"(
def forward(self, x, y):
    a = torch.upsample_bilinear2d(x, [y.size(2), y.size(3)], False)
    b = torch.upsample_nearest2d(x, [y.size(2), y.size(3)])
    return a, b
)",
      {torchscript::Input({1, 3, 4, 4}), dyn({1, 1, 8, 8}, {1, 1, 16, 16}, {1, 1, 32, 32})},
      {{at::randn({1, 3, 4, 4}), at::randn({1, 1, 8, 8})},
       {at::randn({1, 3, 4, 4}), at::randn({1, 1, 20, 31})}});
  check_dynamic(R"(
def forward(self, x):
    return torch.upsample_bilinear2d(x, None, False, [2.0, 2.0]), torch.upsample_nearest2d(x, None, [3.0, 0.5])
)",
                {dyn({1, 2, 4, 4}, {2, 2, 8, 8}, {2, 2, 16, 16})},
                {{at::randn({1, 2, 4, 4})}, {at::randn({2, 2, 9, 13})}});
}

// ==== shape ops
// ========================================================================================

TEST(ShapeConverters, ViewsAndPermutations) {
  auto x = at::randn({2, 3, 4, 5});
  check(R"(
def forward(self, x):
    a = x.view(6, 20)
    b = x.reshape([2, -1, 5])
    c = torch.flatten(x, 1)
    d = torch.flatten(x, 1, 2)
    e = x.unflatten(1, [3, 1])
    return a, b, c, d, e, x.view_as(torch.zeros(2, 60)), x.reshape_as(torch.zeros(120))
)",
        {x});
  check(R"(
def forward(self, x):
    a = x.permute(0, 2, 3, 1)
    b = x.transpose(1, 3)
    c = torch.movedim(x, 1, -1)
    d = torch.movedim(x, [0, 1], [3, 2])
    e = torch.moveaxis(x, 3, 0)
    return a, b, c, d, e, x.unsqueeze(2), x.unsqueeze(-1).squeeze(-1), x[:, :1].squeeze(1), x.t() if x.dim() == 2 else x
)",
        {x});
  check(R"(
def forward(self, x):
    return x.expand(3, 2, 3, 4, 5), x[:, :1].expand(-1, 3, -1, -1), x.repeat(1, 2, 1, 2), torch.tile(x, [2, 1]), x.expand_as(torch.zeros(2, 2, 3, 4, 5))
)",
        {x});
}

TEST(ShapeConverters, CatSplitSlice) {
  auto x = at::randn({2, 6, 4});
  check(R"(
def forward(self, x, y):
    a = torch.cat([x, y], 1)
    b = torch.stack([x, x], 0)
    c = torch.cat([x, y.to(3)], 1)
    p, q = torch.split(x, [2, 4], 1)
    r = torch.chunk(x, 3, 1)
    s = torch.unbind(x, 0)
    t = torch.split(x, 4, 1)
    # (list items returned straight from a split would make the list itself a PyTorch value)
    return a, b, c, p + 0.5, q + 0.5, r[0] + 0.5, r[2] + 0.5, s[1] + 0.5, t[1] + 0.5
)",
        {x, at::randn({2, 3, 4})});
  check(R"(
def forward(self, x):
    return x[:, 1:5:2], x[..., -2:], x[:, 3], x.select(2, -1), x.narrow(1, 2, 3), x[:, ::3]
)",
        {x});
}

TEST(ShapeConverters, ShuffleOps) {
  auto x = at::randn({2, 12, 3, 4});
  check(R"(
def forward(self, x):
    return torch.channel_shuffle(x, 3), torch.native_channel_shuffle(x, 4), torch.pixel_shuffle(x, 2), torch.pixel_unshuffle(x[:, :, :2, :], 2)
)",
        {x});
  check_dynamic(R"(
def forward(self, x):
    return torch.channel_shuffle(x, 2), torch.pixel_shuffle(x, 2)
)",
                {dyn({1, 8, 2, 2}, {2, 8, 2, 2}, {4, 8, 2, 2})},
                {{at::randn({1, 8, 2, 2})}, {at::randn({3, 8, 2, 2})}});
}

TEST(ShapeConverters, DynamicReshapes) {
  check_dynamic(R"(
def forward(self, x):
    b = x.size(0)
    y = x.reshape([b, -1])
    z = x.view(b, 3, 2, 4).flatten(2)
    w = torch.flatten(x, 0, 1)
    u = x.unflatten(2, [2, 2])
    return y, z, w, u, x.transpose(0, 2).contiguous().view(-1)
)",
                {dyn({1, 6, 4}, {2, 6, 4}, {5, 6, 4})},
                {{at::randn({1, 6, 4})}, {at::randn({4, 6, 4})}, {at::randn({5, 6, 4})}});
  check_dynamic(R"(
def forward(self, x):
    return x[:1].expand(2, -1, -1), x[:, 1:], torch.cat([x, x], 0)
)",
                {dyn({1, 3, 2}, {2, 3, 2}, {4, 3, 2})},
                {{at::randn({1, 3, 2})}, {at::randn({4, 3, 2})}});
}

// ==== pooling
// ==========================================================================================

TEST(PoolingConverters, MaxAndAvg) {
  auto x = at::randn({2, 3, 9, 10});
  check(R"(
def forward(self, x):
    a = torch.max_pool2d(x, [3, 3], [2, 2], [1, 1])
    b = torch.max_pool2d(x, [3, 2], [2, 2], [0, 1], [1, 1], True)
    c = torch.max_pool2d(x, [2, 2], [1, 1], [0, 0], [2, 2])
    d = torch.avg_pool2d(x, [3, 3], [2, 2], [1, 1])
    e = torch.avg_pool2d(x, [3, 3], [2, 2], [1, 1], True, False)
    f = torch.avg_pool2d(x, [2, 3], [2, 2], [1, 1], False, True, 5)
    return a, b, c, d, e, f
)",
        {x});
  check(R"(
def forward(self, x):
    return torch.max_pool1d(x, [3], [2], [1], [1], True), torch.avg_pool1d(x, [4], [3], [2], True, False)
)",
        {at::randn({2, 3, 11})});
  check(R"(
def forward(self, x):
    return torch.max_pool3d(x, [2, 2, 2], [2, 1, 2], [1, 0, 1]), torch.avg_pool3d(x, [3, 2, 2], [1, 2, 2], [1, 1, 0], True, False)
)",
        {at::randn({1, 2, 5, 6, 7})});
  // unbatched input
  check(R"(
def forward(self, x):
    return torch.max_pool2d(x, [2, 2]), torch.adaptive_avg_pool2d(x, [3, 2])
)",
        {at::randn({3, 8, 7})});
  check_dynamic(R"(
def forward(self, x):
    return torch.max_pool2d(x, [3, 3], [2, 2], [1, 1]), torch.avg_pool2d(x, [2, 2])
)",
                {dyn({1, 3, 8, 8}, {2, 3, 16, 16}, {4, 3, 32, 32})},
                {{at::randn({1, 3, 8, 8})}, {at::randn({3, 3, 17, 31})}});
}

TEST(PoolingConverters, Adaptive) {
  auto x = at::randn({2, 3, 10, 7});
  check(R"(
def forward(self, x):
    a = torch.adaptive_avg_pool2d(x, [1, 1])
    b = torch.adaptive_avg_pool2d(x, [3, 4])
    c = torch.adaptive_avg_pool2d(x, [10, 7])
    d = torch.adaptive_avg_pool2d(x, [13, 9])
    e = torch.adaptive_max_pool2d(x, [3, 5])[0]
    return a, b, c, d, e
)",
        {x});
  check(R"(
def forward(self, x):
    return torch.adaptive_avg_pool1d(x, [4]), torch.adaptive_max_pool1d(x, [3])[0]
)",
        {at::randn({2, 3, 11})});
  check(R"(
def forward(self, x):
    return torch.adaptive_avg_pool3d(x, [2, 3, 1]), torch.adaptive_max_pool3d(x, [1, 2, 3])[0]
)",
        {at::randn({1, 2, 5, 6, 7})});
  check_dynamic(R"(
def forward(self, x):
    return torch.adaptive_avg_pool2d(x, [1, 1]).flatten(1), torch.adaptive_avg_pool2d(x, [2, 3])
)",
                {dyn({1, 3, 6, 6}, {2, 3, 8, 8}, {4, 3, 12, 12})},
                {{at::randn({1, 3, 6, 6})}, {at::randn({4, 3, 11, 7})}});
}

TEST(PoolingConverters, UsedIndicesAreComputed) {
  check(R"(
def forward(self, x):
    y = torch.relu(x)
    v, i = torch.max_pool2d_with_indices(y, [2, 2])
    w, j = torch.max_pool2d_with_indices(x, [3, 3], [2, 2], [1, 1], [1, 1], True)
    return v * 2.0, i, w, j * 2
)",
        {at::randn({1, 2, 4, 4})});
}

// ==== convolution / linear
// =============================================================================

TEST(ConvolutionConverters, ConvVariants) {
  auto x = at::randn({2, 4, 9, 8});
  check(R"(
def forward(self, x, w, b, wg):
    a = torch.conv2d(x, w, b, [1, 1], [1, 1])
    c = torch.conv2d(x, w, None, [2, 1], [0, 2], [2, 1])
    d = torch.conv2d(x, wg, b, [1, 1], [1, 1], [1, 1], 2)
    e = torch.conv2d(x, w, b, [1, 1], 'same', [2, 2])
    f = torch.conv2d(x, w, b, [1, 1], 'valid')
    g = torch._convolution(x, w, b, [1, 2], [1, 0], [1, 1], False, [0, 0], 1, False, False, True, True)
    h = torch.convolution(x, w, b, [1, 1], [0, 0], [1, 1], False, [0, 0], 1)
    return a, c, d, e, f, g, h
)",
        {x, at::randn({6, 4, 3, 3}), at::randn({6}), at::randn({6, 2, 3, 3})}, 1e-4, 1e-4);
  check(R"(
def forward(self, x, w, b):
    return torch.conv1d(x, w, b, [2], [1]), torch.conv1d(x, w, None, [1], 'same', [3])
)",
        {at::randn({2, 4, 12}), at::randn({5, 4, 3}), at::randn({5})}, 1e-4, 1e-4);
  check(R"(
def forward(self, x, w, b):
    return torch.conv3d(x, w, b, [1, 2, 1], [1, 1, 0])
)",
        {at::randn({1, 2, 5, 6, 4}), at::randn({3, 2, 3, 3, 2}), at::randn({3})}, 1e-4, 1e-4);
  check(R"(
def forward(self, x, w, b):
    a = torch.conv_transpose2d(x, w, b, [2, 2], [1, 1], [1, 1])
    c = torch.conv_transpose2d(x, w, None, [1, 2], [0, 1], [0, 1], 1, [2, 1])
    return a, c
)",
        {at::randn({2, 4, 5, 6}), at::randn({4, 3, 3, 3}), at::randn({3})}, 1e-4, 1e-4);
  check(R"(
def forward(self, x, w):
    return torch.conv_transpose1d(x, w, None, [2], [1], [1], 2), torch.conv_transpose3d(x.unsqueeze(-1).unsqueeze(-1), w.unsqueeze(-1).unsqueeze(-1), None, [1, 1, 1], [0, 0, 0], [0, 0, 0], 2)
)",
        {at::randn({1, 4, 7}), at::randn({4, 2, 3})}, 1e-4, 1e-4);
  // unbatched
  check(R"(
def forward(self, x, w):
    return torch.conv2d(x, w)
)",
        {at::randn({4, 6, 6}), at::randn({3, 4, 2, 2})}, 1e-4, 1e-4);
  check_dynamic(
      R"(
def forward(self, x, w):
    return torch.conv2d(x, w, None, [2, 2], [1, 1])
)",
      {dyn({1, 3, 8, 8}, {2, 3, 16, 16}, {4, 3, 24, 24}), torchscript::Input({4, 3, 3, 3})},
      {{at::randn({1, 3, 8, 8}), at::randn({4, 3, 3, 3})},
       {at::randn({3, 3, 19, 10}), at::randn({4, 3, 3, 3})}},
      1e-4, 1e-4);
}

TEST(LinearConverters, LinearMatmul) {
  check(R"(
def forward(self, x, w, b, y):
    return torch.linear(x, w, b), torch.linear(x, w), torch.matmul(x, y), torch.mm(x[0], y), torch.bmm(x, y.expand(2, 5, 3)), torch.addmm(b[:3], x[1], y, beta=0.5, alpha=2.0), w.t()
)",
        {at::randn({2, 4, 5}), at::randn({6, 5}), at::randn({6}), at::randn({5, 3})}, 1e-4, 1e-4);
  check_dynamic(R"(
def forward(self, x, w, b):
    return torch.linear(x, w, b), torch.matmul(x, w.t())
)",
                {dyn({1, 5}, {4, 5}, {8, 5}), torchscript::Input({3, 5}), torchscript::Input({3})},
                {{at::randn({1, 5}), at::randn({3, 5}), at::randn({3})},
                 {at::randn({7, 5}), at::randn({3, 5}), at::randn({3})}},
                1e-4, 1e-4);
}

TEST(LinearConverters, Einsum) {
  // maxvit's attention, plus transposes, reductions, outer products, ellipses and implicit outputs.
  check(R"(
def forward(self, q, k, v):
    s = torch.einsum("B G H I D, B G H J D -> B G H I J", q, k)
    o = torch.einsum("B G H I J, B G H J D -> B G H I D", s, v)
    return s, o
)",
        {at::randn({2, 3, 2, 5, 4}), at::randn({2, 3, 2, 6, 4}), at::randn({2, 3, 2, 6, 7})}, 1e-4,
        1e-4);
  check(R"(
def forward(self, a, b, c):
    r1 = torch.einsum("ij->ji", a)
    r2 = torch.einsum("ij->", a)
    r3 = torch.einsum("ij,jk->ik", a, b)
    r4 = torch.einsum("i,j->ij", a[0], b[0])
    r5 = torch.einsum("ij,ij->i", a, a)
    r6 = torch.einsum("bij,bjk", c, c.transpose(1, 2))
    r7 = torch.einsum("...ij,...jk->...ik", c, c.transpose(1, 2))
    r8 = torch.einsum("abc,cd->dba", c, b[:3])
    r9 = torch.einsum("ij,kl->ijkl", a[:2], b[:2, :2])
    r10 = torch.einsum("ij,jk", a, b)
    return r1, r2, r3, r4, r5, r6, r7, r8, r9, r10
)",
        {at::randn({3, 4}), at::randn({4, 5}), at::randn({2, 4, 3})}, 1e-4, 1e-4);
  check_dynamic(R"(
def forward(self, q, k):
    return torch.einsum("bhid,bhjd->bhij", q, k), torch.einsum("bij->bji", q[:, 0])
)",
                {dyn({1, 2, 5, 4}, {2, 2, 5, 4}, {4, 2, 5, 4}),
                 dyn({1, 2, 3, 4}, {2, 2, 3, 4}, {4, 2, 3, 4})},
                {{at::randn({1, 2, 5, 4}), at::randn({1, 2, 3, 4})},
                 {at::randn({4, 2, 5, 4}), at::randn({4, 2, 3, 4})}},
                1e-4, 1e-4);
}

}  // namespace
}  // namespace kiln
