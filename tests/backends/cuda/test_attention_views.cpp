// Attention through strided views without a GPU: which layers the CUDA backend absorbs into an
// attention (attention_views.h), and the strided layouts it reads and writes through
// (view_layout.h), checked against what the CPU reference backend computes for the same layers.
// Numerics on a GPU: tests/gpu/test_cuda_attention.cpp (AttentionThroughViews).
#include <gtest/gtest.h>

#include <algorithm>

#include "backends/cuda/attention_views.h"
#include "backends/cuda/fusion.h"
#include "backends/cuda/view_layout.h"
#include "ir/analysis.h"
#include "kiln/kiln.h"
#include "test_util.h"

namespace kiln {
namespace {

using backend::TensorView;

constexpr int64_t kB = 2, kL = 5, kH = 2, kD = 32;

// Views with each tensor's (static) dims, as a run would see them.
std::vector<TensorView> static_views(const ir::Graph& g) {
  std::vector<TensorView> v(g.tensors.size());
  for (size_t t = 0; t < v.size(); ++t)
    v[t] = TensorView{nullptr, g.tensors[t].type.dtype, g.tensors[t].type.dims};
  return v;
}

// What a transformer does around attention: x [B, L, 3HD] (the packed QKV GEMM's output) ->
// reshape [B, L, 3, H, D] -> transpose [3, B, H, L, D] -> slice / reshape per operand ->
// attention -> transpose [B, L, H, D] -> reshape [B, L, HD].
struct Packed {
  Network net;
  Tensor x, t, q, k, v, a, y;
  std::vector<Tensor> chain[3];  // per operand: slice, reshape outputs
};

void build_packed(Packed& p, DataType dt, int64_t d = kD, bool q_also_output = false) {
  auto x = p.net.add_input("x", dt, {kB, kL, 3 * kH * d});
  ASSERT_TRUE(x.ok());
  p.x = *x;
  auto r = p.net.add_reshape(p.x, {kB, kL, 3, kH, d});
  ASSERT_TRUE(r.ok());
  auto t = p.net.add_transpose(*r, {2, 0, 3, 1, 4});
  ASSERT_TRUE(t.ok());
  p.t = *t;
  Tensor ops[3];
  for (int i = 0; i < 3; ++i) {
    SliceParams sp;
    sp.axes = {0};
    sp.starts = {i};
    sp.ends = {i + 1};
    sp.steps = {1};
    auto s = p.net.add_slice(p.t, sp);
    ASSERT_TRUE(s.ok());
    auto o = p.net.add_reshape(*s, {kB, kH, kL, d});
    ASSERT_TRUE(o.ok());
    p.chain[i] = {*s, *o};
    ops[i] = *o;
  }
  p.q = ops[0];
  p.k = ops[1];
  p.v = ops[2];
  auto a = p.net.add_attention(p.q, p.k, p.v, Tensor{}, AttentionParams{});
  ASSERT_TRUE(a.ok());
  p.a = *a;
  auto back = p.net.add_transpose(p.a, {0, 2, 1, 3});
  ASSERT_TRUE(back.ok());
  auto y = p.net.add_reshape(*back, {kB, kL, kH * d});
  ASSERT_TRUE(y.ok());
  p.y = *y;
  ASSERT_TRUE(p.net.mark_output(p.y, "y").ok());
  if (q_also_output) {
    ASSERT_TRUE(p.net.mark_output(p.q, "q").ok());
  }
}

const cuda::FusedGroup* views_group(const std::vector<cuda::FusedGroup>& groups) {
  for (const auto& grp : groups)
    if (grp.attention_views) return &grp;
  return nullptr;
}

TEST(AttentionViews, PackedQkvAndHeadTransposesJoinTheAttention) {
  for (DataType dt : {DataType::kFloat16, DataType::kBFloat16}) {
    Packed p;
    build_packed(p, dt);
    const ir::Graph& g = p.net.graph();
    auto groups = cuda::plan_fusion(g, testing::device_layer_list(g), {});
    const cuda::FusedGroup* grp = views_group(groups);
    ASSERT_NE(grp, nullptr);
    EXPECT_EQ(grp->anchor, testing::producer_of(g, p.a));
    // Everything between x and the final reshape: reshape, transpose, 3 x (slice, reshape),
    // attention, transpose. The final reshape stays a view of what the group writes.
    EXPECT_EQ(grp->layers.size(), 10u);
    EXPECT_TRUE(std::is_sorted(grp->layers.begin(), grp->layers.end()));
    EXPECT_EQ(std::count(grp->layers.begin(), grp->layers.end(), testing::producer_of(g, p.y)), 0);
    std::vector<bool> member(g.layers.size(), false);
    for (int32_t l : grp->layers) member[static_cast<size_t>(l)] = true;
    cuda::AttentionChains c = cuda::chains_within(g, grp->anchor, member);
    for (int i = 0; i < 3; ++i) {
      ASSERT_EQ(c.in[static_cast<size_t>(i)].size(), 4u);  // reshape, transpose, slice, reshape
      EXPECT_EQ(c.in[static_cast<size_t>(i)].back(), testing::producer_of(g, p.chain[i][1]));
    }
    ASSERT_EQ(c.out.size(), 1u);
    EXPECT_EQ(g.layers[static_cast<size_t>(c.out[0])].op, ir::OpKind::kTranspose);
    // Every device layer runs in exactly one kernel, and the group runs after everything it reads.
    std::vector<int> seen(g.layers.size(), 0);
    for (const auto& gr : groups)
      for (int32_t l : gr.layers) ++seen[static_cast<size_t>(l)];
    for (int32_t l : testing::device_layer_list(g)) EXPECT_EQ(seen[static_cast<size_t>(l)], 1);
  }
}

TEST(AttentionViews, NearMissesStayAsTheyAre) {
  {  // float32 runs the general path, which reads row-major operands only
    Packed p;
    build_packed(p, DataType::kFloat32);
    const ir::Graph& g = p.net.graph();
    EXPECT_EQ(views_group(cuda::plan_fusion(g, testing::device_layer_list(g), {})), nullptr);
  }
  {  // head dim 48: no flash kernel
    Packed p;
    build_packed(p, DataType::kFloat16, 48);
    const ir::Graph& g = p.net.graph();
    EXPECT_EQ(views_group(cuda::plan_fusion(g, testing::device_layer_list(g), {})), nullptr);
  }
  {  // fusion off
    Packed p;
    build_packed(p, DataType::kFloat16);
    const ir::Graph& g = p.net.graph();
    cuda::FusionOptions off;
    off.epilogues = false;
    EXPECT_EQ(views_group(cuda::plan_fusion(g, testing::device_layer_list(g), off)), nullptr);
  }
  {  // q is also a network output: it must be written, so its reshape, the slice before it and
     // the shared transpose (which q's slice reads) stay; k and v keep their slice + reshape.
    Packed p;
    build_packed(p, DataType::kFloat16, kD, /*q_also_output=*/true);
    const ir::Graph& g = p.net.graph();
    auto groups = cuda::plan_fusion(g, testing::device_layer_list(g), {});
    const cuda::FusedGroup* grp = views_group(groups);
    ASSERT_NE(grp, nullptr);  // the output transpose still joins
    auto has = [&](const Tensor& t) {
      return std::count(grp->layers.begin(), grp->layers.end(), testing::producer_of(g, t)) > 0;
    };
    EXPECT_FALSE(has(p.q));
    EXPECT_FALSE(has(p.t));
    EXPECT_TRUE(has(p.k));
    EXPECT_TRUE(has(p.chain[1][0]));
  }
}

// The layouts read_through / write_through give, against hand-computed strides and against the
// CPU reference running the same layers on data that holds each element's own index.
TEST(AttentionViews, LayoutsMatchTheCpuReference) {
  Packed p;
  build_packed(p, DataType::kFloat32);
  const ir::Graph& g = p.net.graph();
  const std::vector<TensorView> views = static_views(g);
  const int64_t hd = kH * kD;
  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE("operand " + std::to_string(i));
    std::vector<int32_t> chain = {testing::producer_of(g, p.t) - 1, testing::producer_of(g, p.t),
                                  testing::producer_of(g, p.chain[i][0]),
                                  testing::producer_of(g, p.chain[i][1])};
    auto lay = cuda::read_through(g, chain, views);
    ASSERT_TRUE(lay.ok()) << lay.status().to_string();
    EXPECT_EQ(lay->offset, i * hd);
    EXPECT_EQ(lay->dims, (Dims{kB, kH, kL, kD}));
    EXPECT_EQ(lay->strides[0], kL * 3 * hd);
    EXPECT_EQ(lay->strides[1], kD);
    EXPECT_EQ(lay->strides[2], 3 * hd);
    EXPECT_EQ(lay->strides[3], 1);
  }
  // Independent check: the CPU backend computes q, k, v from x = 0, 1, 2, ...; element idx of
  // operand i must be x[offset + sum(idx * strides)].
  Network net;
  auto x = net.add_input("x", DataType::kFloat32, {kB, kL, 3 * hd});
  auto r = net.add_reshape(*x, {kB, kL, 3, kH, kD});
  auto t = net.add_transpose(*r, {2, 0, 3, 1, 4});
  std::vector<int64_t> iota(static_cast<size_t>(kB * kL * 3 * hd));
  for (size_t j = 0; j < iota.size(); ++j) iota[j] = static_cast<int64_t>(j);
  for (int i = 0; i < 3; ++i) {
    SliceParams sp;
    sp.axes = {0};
    sp.starts = {i};
    sp.ends = {i + 1};
    sp.steps = {1};
    auto s = net.add_slice(*t, sp);
    auto o = net.add_reshape(*s, {kB, kH, kL, kD});
    ASSERT_TRUE(o.ok());
    ASSERT_TRUE(net.mark_output(*o, "op" + std::to_string(i)).ok());
  }
  std::vector<double> xs(iota.begin(), iota.end());
  auto outs =
      testing::build_and_run(net, {testing::make_tensor(DataType::kFloat32, {kB, kL, 3 * hd}, xs)});
  ASSERT_EQ(outs.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    std::vector<int32_t> chain = {testing::producer_of(g, p.t) - 1, testing::producer_of(g, p.t),
                                  testing::producer_of(g, p.chain[i][0]),
                                  testing::producer_of(g, p.chain[i][1])};
    auto lay = cuda::read_through(g, chain, views);
    ASSERT_TRUE(lay.ok());
    for (int64_t e = 0; e < outs[static_cast<size_t>(i)].type.dims.volume(); ++e) {
      auto idx = testing::unflatten(e, lay->dims);
      int64_t off = lay->offset;
      for (size_t d = 0; d < idx.size(); ++d) off += idx[d] * lay->strides[d];
      ASSERT_EQ(testing::at(outs[static_cast<size_t>(i)], e), static_cast<double>(off))
          << "operand " << i << " element " << e;
    }
  }
  // The output side: attention output element idx lands at offset + sum(idx * strides) of the
  // transposed tensor; the CPU backend transposes y = 0, 1, 2, ... the same way.
  std::vector<int32_t> out_chain = {testing::producer_of(g, p.y) - 1};
  auto w = cuda::write_through(g, out_chain, views);
  ASSERT_TRUE(w.ok()) << w.status().to_string();
  EXPECT_EQ(w->dims, (Dims{kB, kH, kL, kD}));
  EXPECT_EQ(w->strides[0], kL * hd);
  EXPECT_EQ(w->strides[1], kD);
  EXPECT_EQ(w->strides[2], hd);
  EXPECT_EQ(w->strides[3], 1);
  Network back;
  auto a = back.add_input("a", DataType::kFloat32, {kB, kH, kL, kD});
  auto bt = back.add_transpose(*a, {0, 2, 1, 3});
  ASSERT_TRUE(back.mark_output(*bt, "y").ok());
  std::vector<double> as(static_cast<size_t>(kB * kH * kL * kD));
  for (size_t j = 0; j < as.size(); ++j) as[j] = static_cast<double>(j);
  auto moved = testing::build_and_run(
      back, {testing::make_tensor(DataType::kFloat32, {kB, kH, kL, kD}, as)});
  ASSERT_EQ(moved.size(), 1u);
  for (int64_t e = 0; e < static_cast<int64_t>(as.size()); ++e) {
    auto idx = testing::unflatten(e, w->dims);
    int64_t off = w->offset;
    for (size_t d = 0; d < idx.size(); ++d) off += idx[d] * w->strides[d];
    ASSERT_EQ(testing::at(moved[0], off), static_cast<double>(e)) << "element " << e;
  }
}

TEST(AttentionViews, ReshapeLayoutFollowsTorchViewRules) {
  // [4, 6] transposed to [6, 4] (strides 1, 6): splitting a dim works, merging the two does not.
  cuda::StridedLayout t;
  t.dims = Dims{6, 4};
  t.strides[0] = 1;
  t.strides[1] = 6;
  auto split = cuda::reshape_layout(t, Dims{2, 3, 4});
  ASSERT_TRUE(split.ok()) << split.status().to_string();
  EXPECT_EQ(split->strides[0], 3);
  EXPECT_EQ(split->strides[1], 1);
  EXPECT_EQ(split->strides[2], 6);
  auto merged = cuda::reshape_layout(t, Dims{24});
  ASSERT_FALSE(merged.ok());
  EXPECT_NE(merged.status().message().find("not evenly strided"), std::string::npos);
  // Unit dims anywhere, and a volume mismatch.
  auto unit = cuda::reshape_layout(cuda::contiguous_layout(Dims{6, 4}), Dims{1, 6, 1, 4, 1});
  ASSERT_TRUE(unit.ok());
  EXPECT_EQ(unit->strides[1], 4);
  EXPECT_EQ(unit->strides[3], 1);
  EXPECT_FALSE(cuda::reshape_layout(t, Dims{5, 5}).ok());
}

}  // namespace
}  // namespace kiln
