// Generated pointwise kernels without a GPU: fusion planning (which layers form a group, what it
// reads and writes), source generation for every unary / binary op and dtype, NVRTC compilation to
// a cubin for sm_90 and the on-disk cubin cache. Numerics are checked on a GPU
// (tests/gpu/test_cuda_fusion.cpp).
#include <gtest/gtest.h>

#include <filesystem>

#include "backends/cuda/fusion.h"
#include "backends/cuda/nvrtc/nvrtc_compiler.h"
#include "backends/cuda/nvrtc/pointwise_codegen.h"
#include "ir/analysis.h"
#include "kiln/kiln.h"
#include "test_util.h"

namespace kiln {
namespace {

using cuda::FusedGroup;
using cuda::plan_fusion;
namespace nv = cuda::nvrtc;

std::vector<FusedGroup> pointwise_groups(const ir::Graph& g) {
  std::vector<FusedGroup> out;
  for (auto& grp : plan_fusion(g, testing::device_layer_list(g), {}))
    if (grp.pointwise) out.push_back(grp);
  return out;
}

std::string compile_dir() {
  auto d = std::filesystem::temp_directory_path() /
           ("kiln_nvrtc_test_" + std::to_string(testing::rng_seed()));
  return d.string();
}

// x * scale + bias -> gelu -> + residual, with a second reader of the pre-activation (so it is an
// output).
TEST(PointwiseCodegen, ChainBecomesOneGroupWithItsOutputs) {
  for (DataType dt : testing::kFloatTypes) {
    SCOPED_TRACE(dtype_name(dt));
    Network net;
    auto x = net.add_input("x", dt, {-1, 16, 33});
    auto r = net.add_input("r", dt, {-1, 16, 33});
    auto scale = testing::add_constant(net, testing::random_tensor(dt, {33}));
    auto bias = testing::add_constant(net, testing::random_tensor(dt, {16, 1}));
    auto half = testing::add_constant(net, testing::random_tensor(dt, {1}));
    auto a = net.add_elementwise(*x, scale, BinaryOp::kMul);
    auto b = net.add_elementwise(*a, bias, BinaryOp::kAdd);
    auto c = net.add_unary(*b, UnaryOp::kGelu);
    auto d = net.add_elementwise(*c, *r, BinaryOp::kAdd);
    auto e = net.add_elementwise(*d, half, BinaryOp::kMul);
    auto side = net.add_softmax(*b, -1);  // reads the pre-activation: it must be written
    ASSERT_TRUE(net.mark_output(*e, "y").ok());
    ASSERT_TRUE(net.mark_output(*side, "s").ok());
    const ir::Graph& g = net.graph();
    auto groups = pointwise_groups(g);
    ASSERT_EQ(groups.size(), 1u);
    EXPECT_EQ(groups[0].layers.size(), 5u);
    auto spec = nv::generate_pointwise(g, groups[0].layers, ir::device_layers(g));
    ASSERT_TRUE(spec.ok()) << spec.status().to_string();
    // x, scale, bias, r are loaded; the 1-element constant is a literal.
    EXPECT_EQ(spec->inputs.size(), 4u);
    ASSERT_EQ(spec->outputs.size(), 2u);
    EXPECT_EQ(spec->outputs[0], b->id());
    EXPECT_EQ(spec->outputs[1], e->id());
    EXPECT_EQ(spec->vector_width, dt == DataType::kFloat32 ? 4 : 8);
    EXPECT_EQ(spec->summary, "mul+add+gelu+add+mul");
    auto cubin = nv::compile_cubin(spec->source, 90, std::string(), "test");
    ASSERT_TRUE(cubin.ok()) << cubin.status().to_string() << "\n" << spec->source;
    EXPECT_GT(cubin->size(), 1000u);
  }
}

// A layer whose other input is produced after the group started cannot join (the group runs at its
// first layer); layers of other dims start their own group; a single pointwise layer is no group.
TEST(PointwiseCodegen, GroupsRespectOrderAndDims) {
  Network net;
  auto x = net.add_input("x", DataType::kFloat32, {8, 32});
  auto w = testing::add_constant(net, testing::random_tensor(DataType::kFloat32, {32, 32}));
  auto a = net.add_unary(*x, UnaryOp::kTanh);
  auto b = net.add_unary(*a, UnaryOp::kExp);             // group 1: tanh, exp
  auto m = net.add_matmul(*x, w, MatMulParams{});        // produced after group 1 starts
  auto c = net.add_elementwise(*b, *m, BinaryOp::kMul);  // cannot join group 1
  auto d = net.add_unary(*c, UnaryOp::kSigmoid);         // joins c's group
  ReduceParams rp;
  rp.op = ReduceOp::kSum;
  rp.axes = {1};
  rp.keep_dims = true;
  auto s = net.add_reduce(*d, rp);             // [8, 1]
  auto t = net.add_unary(*s, UnaryOp::kSqrt);  // other dims: alone, no group
  ASSERT_TRUE(net.mark_output(*t, "y").ok());
  const ir::Graph& g = net.graph();
  auto groups = pointwise_groups(g);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0].layers,
            (std::vector<int32_t>{g.tensors[static_cast<size_t>(a->id())].producer,
                                  g.tensors[static_cast<size_t>(b->id())].producer}));
  EXPECT_EQ(groups[1].layers,
            (std::vector<int32_t>{g.tensors[static_cast<size_t>(c->id())].producer,
                                  g.tensors[static_cast<size_t>(d->id())].producer}));
  // Every device layer is in exactly one group, in an order where inputs come first.
  std::vector<int> seen(g.layers.size(), 0);
  for (auto& grp : plan_fusion(g, testing::device_layer_list(g), {}))
    for (int32_t l : grp.layers) ++seen[static_cast<size_t>(l)];
  for (int32_t l : testing::device_layer_list(g))
    EXPECT_EQ(seen[static_cast<size_t>(l)], 1) << g.layers[static_cast<size_t>(l)].name;
  // Switched off: no pointwise group.
  cuda::FusionOptions off;
  off.pointwise = false;
  for (auto& grp : plan_fusion(g, testing::device_layer_list(g), off)) EXPECT_FALSE(grp.pointwise);
}

// Every unary op (with its parameters, NaN bounds included), every binary op, comparisons into
// bool, where and casts generate source NVRTC compiles.
TEST(PointwiseCodegen, EveryOpCompiles) {
  for (DataType dt : testing::kFloatTypes) {
    SCOPED_TRACE(dtype_name(dt));
    Network net;
    auto x = net.add_input("x", dt, {4, 8});
    auto y = net.add_input("y", dt, {1, 8});
    Expected<Tensor> cur = x;
    for (int op = 0; op < kNumUnaryOps; ++op) {
      UnaryOp u = static_cast<UnaryOp>(op);
      if (u == UnaryOp::kNot || u == UnaryOp::kIsNan) continue;  // bool results, below
      double alpha = u == UnaryOp::kClamp ? std::nan("") : 0.25,
             beta = u == UnaryOp::kClamp ? 0.5 : 2.0;
      cur = net.add_unary(*cur, u, alpha, beta);
      ASSERT_TRUE(cur.ok()) << cur.status().to_string();
    }
    for (int op = 0; op < kNumBinaryOps; ++op) {
      BinaryOp b = static_cast<BinaryOp>(op);
      if (b == BinaryOp::kBitAnd || b == BinaryOp::kBitOr || b == BinaryOp::kBitXor)
        continue;  // integer-only (and not fused)
      auto r = net.add_elementwise(*cur, *y, b);
      ASSERT_TRUE(r.ok()) << r.status().to_string();
      if (net.graph().tensors[static_cast<size_t>(r->id())].type.dtype == DataType::kBool) {
        auto nan = net.add_unary(*cur, UnaryOp::kIsNan);
        auto both = net.add_elementwise(*r, *net.add_unary(*nan, UnaryOp::kNot), BinaryOp::kAnd);
        cur = net.add_where(*both, *cur, *net.add_cast(*cur, dt));
      } else {
        cur = r;
      }
      ASSERT_TRUE(cur.ok()) << cur.status().to_string();
    }
    cur = net.add_cast(*net.add_cast(*cur, DataType::kFloat32), dt);
    ASSERT_TRUE(net.mark_output(*cur, "z").ok());
    const ir::Graph& g = net.graph();
    auto groups = pointwise_groups(g);
    ASSERT_EQ(groups.size(), 1u);
    auto spec = nv::generate_pointwise(g, groups[0].layers, ir::device_layers(g));
    ASSERT_TRUE(spec.ok()) << spec.status().to_string();
    auto cubin = nv::compile_cubin(spec->source, 90, std::string(), "test");
    ASSERT_TRUE(cubin.ok()) << cubin.status().to_string();
  }
}

TEST(PointwiseCodegen, CubinCacheHitAndCompileErrors) {
  const std::string dir = compile_dir();
  std::filesystem::remove_all(dir);
  const std::string src = "extern \"C\" __global__ void k(float* p) { p[threadIdx.x] *= 2.0f; }\n";
  auto first = nv::compile_cubin(src, 90, dir, "test");
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  const std::string path = nv::cubin_cache_path(dir, src, 90);
  ASSERT_TRUE(std::filesystem::exists(path));
  EXPECT_NE(path, nv::cubin_cache_path(dir, src, 80));  // the architecture is part of the key
  // A hit reads the file: change it and the compile returns the changed bytes.
  std::filesystem::resize_file(path, 16);
  auto second = nv::compile_cubin(src, 90, dir, "test");
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->size(), 16u);
  auto bad = nv::compile_cubin("extern \"C\" __global__ void k() { undeclared(); }", 90,
                               std::string(), "kernel 'q'");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("kernel 'q'"), std::string::npos) << bad.status().message();
  EXPECT_NE(bad.status().message().find("undeclared"), std::string::npos) << bad.status().message();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace kiln
