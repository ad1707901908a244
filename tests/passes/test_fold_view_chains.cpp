// fold_view_chains: the head-splitting chains of torch's MultiheadAttention (ViT) and HF GPT-2
// become one shared transpose plus offset-view slices; results equal the index formulas of the
// models. Also: offset-view slices in the runtime (dynamic leading dim, a slice that is a network
// output).
#include "ir/analysis.h"
#include "test_util.h"

namespace kiln {
namespace {

struct Counts {
  int transposes = 0, slices = 0, offset_views = 0, splits = 0;
};

Counts count_layers(const Network& net, const BuilderConfig& cfg) {
  const ir::Graph g = testing::build_contents(net, cfg).graph;
  Counts c;
  c.transposes = testing::count_ops(g, ir::OpKind::kTranspose);
  c.splits = testing::count_ops(g, ir::OpKind::kSplit);
  c.slices = testing::count_ops(g, ir::OpKind::kSlice);
  for (const auto& l : g.layers)
    c.offset_views += l.op == ir::OpKind::kSlice && ir::is_offset_view(g, l);
  return c;
}

// q/k/v[b, h, s, d] = x[s, b, i*E + h*D + d] (the packed in-projection of nn.MultiheadAttention,
// the chain torch writes: unflatten, unsqueeze, transpose, squeeze, select, view, transpose, view).
TEST(FoldViewChains, MultiheadAttentionPackedProjection) {
  const int64_t s = 7, b = 2, h = 4, d = 16, e = h * d;
  auto x = testing::random_tensor(DataType::kFloat32, {s, b, 3 * e});
  Network net;
  auto in = *net.add_input("x", DataType::kFloat32, {s, b, 3 * e});
  auto t = *net.add_reshape(in, {s, b, 3, e});
  t = *net.add_unsqueeze(t, {0});
  t = *net.add_transpose(t, {3, 1, 2, 0, 4});  // [3, s, b, 1, e]
  t = *net.add_squeeze(t, {3});
  const char* names[] = {"q", "k", "v"};
  for (int64_t i = 0; i < 3; ++i) {
    auto sel =
        *net.add_squeeze(*net.add_slice(t, SliceParams{{0}, {i}, {i + 1}, {1}}), {0});  // [s, b, e]
    auto heads =
        *net.add_transpose(*net.add_reshape(sel, {s, b * h, d}), {1, 0, 2});  // [b*h, s, d]
    auto q = *net.add_reshape(heads, {b, h, s, d});
    ASSERT_TRUE(net.mark_output(*net.add_unary(q, UnaryOp::kNeg), names[i]).ok());
  }
  BuilderConfig cfg;
  cfg.backend = "cpu";
  Counts c = count_layers(net, cfg);
  EXPECT_EQ(c.transposes, 1);  // was 4
  EXPECT_EQ(c.slices, 3);
  EXPECT_EQ(c.offset_views, 3);
  auto outs = testing::build_and_run(net, {x}, cfg);
  ASSERT_EQ(outs.size(), 3u);
  auto xv = testing::to_doubles(x);
  for (int64_t i = 0; i < 3; ++i) {
    std::vector<double> want;
    for (int64_t bi = 0; bi < b; ++bi)
      for (int64_t hi = 0; hi < h; ++hi)
        for (int64_t si = 0; si < s; ++si)
          for (int64_t di = 0; di < d; ++di)
            want.push_back(-xv[static_cast<size_t>((si * b + bi) * 3 * e + i * e + hi * d + di)]);
    EXPECT_EQ(outs[static_cast<size_t>(i)].type.dims, (Dims{b, h, s, d}));
    EXPECT_TRUE(testing::all_close(outs[static_cast<size_t>(i)], want, 0, 0)) << names[i];
  }
}

// q/k/v[b, h, s, d] = x[b, s, i*E + h*D + d] (GPT-2: split of c_attn's output, view, transpose).
TEST(FoldViewChains, SplitHeadsOfGpt2) {
  const int64_t b = 3, s = 5, h = 2, d = 64,
                e = h * d;  // [b, h, s, d] blocks of 256-byte multiples
  for (DataType dt : {DataType::kFloat32, DataType::kFloat16}) {
    SCOPED_TRACE(dtype_name(dt));
    auto x = testing::random_tensor(dt, {b, s, 3 * e});
    Network net;
    auto in = *net.add_input("x", dt, {b, s, 3 * e});
    auto parts = *net.add_split(in, SplitParams{2, {e, e, e}});
    std::vector<Tensor> heads;
    for (int i = 0; i < 3; ++i)
      heads.push_back(*net.add_transpose(
          *net.add_reshape(parts[static_cast<size_t>(i)], {b, s, h, d}), {0, 2, 1, 3}));
    // k and v meet in a product (a non-movement reader of two chains), q is read directly.
    ASSERT_TRUE(net.mark_output(*net.add_unary(heads[0], UnaryOp::kNeg), "q").ok());
    ASSERT_TRUE(
        net.mark_output(*net.add_elementwise(heads[1], heads[2], BinaryOp::kMul), "kv").ok());
    BuilderConfig cfg;
    cfg.backend = "cpu";
    if (dt == DataType::kFloat16) cfg.enabled_precisions = {Precision::kFP32, Precision::kFP16};
    Counts c = count_layers(net, cfg);
    EXPECT_EQ(c.transposes, 1);  // was a split and 3 transposes
    EXPECT_EQ(c.splits, 0);
    EXPECT_EQ(c.offset_views, 3);
    auto outs = testing::build_and_run(net, {x}, cfg);
    ASSERT_EQ(outs.size(), 2u);
    auto xv = testing::to_doubles(x);
    auto at = [&](int64_t i, int64_t bi, int64_t hi, int64_t si, int64_t di) {
      return xv[static_cast<size_t>((bi * s + si) * 3 * e + i * e + hi * d + di)];
    };
    std::vector<double> q, kv;
    for (int64_t bi = 0; bi < b; ++bi)
      for (int64_t hi = 0; hi < h; ++hi)
        for (int64_t si = 0; si < s; ++si)
          for (int64_t di = 0; di < d; ++di) {
            q.push_back(-at(0, bi, hi, si, di));
            kv.push_back(at(1, bi, hi, si, di) * at(2, bi, hi, si, di));
          }
    const double tol = dt == DataType::kFloat16 ? 2e-3 : 1e-6;
    EXPECT_TRUE(testing::all_close(outs[0], q, 0, 0));
    EXPECT_TRUE(testing::all_close(outs[1], kv, tol, tol));
  }
}

// One transpose per chain (BERT's separate projections) and dynamic shapes are left as they are.
TEST(FoldViewChains, SingleCopyChainsAndDynamicShapesStay) {
  const int64_t s = 4, h = 2, d = 8;
  Network net;
  auto in = *net.add_input("x", DataType::kFloat32, {-1, s, 3 * h * d});
  auto parts = *net.add_split(in, SplitParams{2, {h * d, h * d, h * d}});
  auto t = *net.add_transpose(*net.add_reshape(parts[0], {-1, s, h, d}), {0, 2, 1, 3});
  ASSERT_TRUE(net.mark_output(*net.add_unary(t, UnaryOp::kNeg), "q").ok());
  auto y = *net.add_input("y", DataType::kFloat32, {2, s, h, d});
  ASSERT_TRUE(
      net.mark_output(*net.add_unary(*net.add_transpose(y, {0, 2, 1, 3}), UnaryOp::kNeg), "yt")
          .ok());
  BuilderConfig cfg;
  cfg.backend = "cpu";
  OptimizationProfile prof;
  prof.set("x", {1, s, 3 * h * d}, {2, s, 3 * h * d}, {4, s, 3 * h * d});
  cfg.profiles = {prof};
  Counts c = count_layers(net, cfg);
  EXPECT_EQ(c.transposes, 2);
  EXPECT_EQ(c.splits, 1);
  auto x = testing::random_tensor(DataType::kFloat32, {3, s, 3 * h * d});
  auto yv = testing::random_tensor(DataType::kFloat32, {2, s, h, d});
  auto outs = testing::build_and_run(net, {x, yv}, cfg);
  ASSERT_EQ(outs.size(), 2u);
  auto xd = testing::to_doubles(x);
  std::vector<double> want;
  for (int64_t bi = 0; bi < 3; ++bi)
    for (int64_t hi = 0; hi < h; ++hi)
      for (int64_t si = 0; si < s; ++si)
        for (int64_t di = 0; di < d; ++di)
          want.push_back(-xd[static_cast<size_t>((bi * s + si) * 3 * h * d + hi * d + di)]);
  EXPECT_TRUE(testing::all_close(outs[0], want, 0, 0));
}

// A chain whose rewrite would transpose far more than it did (2 rows of a 300-row tensor, then a
// transpose) is left alone.
TEST(FoldViewChains, SmallSliceOfABigTensorStaysSmall) {
  const int64_t rows = 300, cols = 64;
  Network net;
  auto in = *net.add_input("x", DataType::kFloat32, {rows, cols});
  auto y = *net.add_transpose(*net.add_slice(in, SliceParams{{0}, {5}, {7}, {1}}), {1, 0});
  ASSERT_TRUE(net.mark_output(*net.add_unary(y, UnaryOp::kNeg), "y").ok());
  BuilderConfig cfg;
  cfg.backend = "cpu";
  const ir::Graph g = testing::build_contents(net, cfg).graph;
  EXPECT_EQ(testing::count_ops(g, ir::OpKind::kTranspose), 1);
  for (const auto& l : g.layers) {
    if (l.op != ir::OpKind::kTranspose) continue;
    EXPECT_EQ(g.tensors[static_cast<size_t>(l.inputs[0])].type.dims.volume(), 2 * cols);
  }
  auto x = testing::random_tensor(DataType::kFloat32, {rows, cols});
  auto outs = testing::build_and_run(net, {x}, cfg);
  ASSERT_EQ(outs.size(), 1u);
  auto xv = testing::to_doubles(x);
  std::vector<double> want;
  for (int64_t c = 0; c < cols; ++c)
    for (int64_t r = 5; r < 7; ++r) want.push_back(-xv[static_cast<size_t>(r * cols + c)]);
  EXPECT_TRUE(testing::all_close(outs[0], want, 0, 0));
}

// Offset-view slices in the runtime: a leading-axis slice of an activation aliases it (dynamic
// leading dim, negative start), and one that is also a network output gets its own memory.
TEST(OffsetViews, LeadingAxisSlicesAliasTheirInput) {
  const int64_t c = 64;  // 256 bytes per row of float32: an offset view
  Network net;
  auto in = *net.add_input("x", DataType::kFloat32, {-1, c});
  auto y = *net.add_unary(in, UnaryOp::kNeg);
  auto mid = *net.add_slice(y, SliceParams{{0}, {1}, {3}, {1}});
  auto tail = *net.add_slice(y, SliceParams{{0}, {-2}, {INT64_MAX}, {1}});
  ASSERT_TRUE(net.mark_output(*net.add_unary(mid, UnaryOp::kExp), "mid_exp").ok());
  ASSERT_TRUE(net.mark_output(tail, "tail").ok());
  BuilderConfig cfg;
  cfg.backend = "cpu";
  OptimizationProfile prof;
  prof.set("x", {3, c}, {5, c}, {9, c});
  cfg.profiles = {prof};
  EXPECT_EQ(count_layers(net, cfg).offset_views, 2);
  for (int64_t n : {3, 6, 9}) {
    SCOPED_TRACE("n=" + std::to_string(n));
    auto x = testing::random_tensor(DataType::kFloat32, {n, c});
    auto outs = testing::build_and_run(net, {x}, cfg);
    ASSERT_EQ(outs.size(), 2u);
    auto xv = testing::to_doubles(x);
    std::vector<double> mid_want, tail_want;
    for (int64_t r = 1; r < 3; ++r)
      for (int64_t j = 0; j < c; ++j)
        mid_want.push_back(std::exp(-xv[static_cast<size_t>(r * c + j)]));
    for (int64_t r = n - 2; r < n; ++r)
      for (int64_t j = 0; j < c; ++j) tail_want.push_back(-xv[static_cast<size_t>(r * c + j)]);
    EXPECT_TRUE(testing::all_close(outs[0], mid_want, 1e-6, 1e-6));
    EXPECT_TRUE(testing::all_close(outs[1], tail_want, 0, 0));
  }
}

}  // namespace
}  // namespace kiln
