// Kernel order and views: a reader may run before the (no-op) kernel of an aliased view it reads —
// what a fused GEMM epilogue does with a residual reshaped after the GEMM — because the view holds
// its input's bytes. A view that is a network output has memory of its own: reading it before its
// kernel runs is refused at load. An aliased view needs no kernel record at all (the CUDA backend
// writes none); any other layer without one is refused.
#include <algorithm>
#include <cmath>

#include "ir/op_table.h"
#include "serialization/plan_contents.h"
#include "test_util.h"

namespace kiln {
namespace {

// Builds x -> neg -> y; v = reshape(y) [or slice of y]; z = v * v, moves z's kernel before v's.
Expected<std::shared_ptr<Engine>> reordered(bool view_is_output, bool slice) {
  Network net;
  auto x = *net.add_input("x", DataType::kFloat32, {4, 64});
  auto y = *net.add_unary(x, UnaryOp::kNeg);
  auto v =
      slice ? *net.add_slice(y, SliceParams{{0}, {1}, {3}, {1}}) : *net.add_reshape(y, {2, 128});
  EXPECT_TRUE(net.mark_output(*net.add_elementwise(v, v, BinaryOp::kMul), "z").ok());
  if (view_is_output) EXPECT_TRUE(net.mark_output(v, "v").ok());
  BuilderConfig cfg;
  cfg.backend = "cpu";
  auto plan = Builder::build(net, cfg);
  if (!plan) return plan.status();
  auto contents = serial::read_plan(plan->bytes);
  if (!contents) return contents.status();
  auto& ks = contents->kernels;
  auto op_of = [&](const serial::KernelRecord& k) {
    return contents->graph.layers[static_cast<size_t>(k.layers[0])].op;
  };
  auto vi = std::find_if(ks.begin(), ks.end(), [&](const auto& k) {
    return op_of(k) == (slice ? ir::OpKind::kSlice : ir::OpKind::kReshape);
  });
  auto zi = std::find_if(ks.begin(), ks.end(),
                         [&](const auto& k) { return op_of(k) == ir::OpKind::kBinary; });
  EXPECT_TRUE(vi != ks.end() && zi != ks.end() && vi < zi);
  if (vi == ks.end() || zi == ks.end())
    return make_error(StatusCode::kInternal, "test", "kernels not found");
  std::iter_swap(vi, zi);
  auto bytes = serial::write_plan(*contents);
  if (!bytes) return bytes.status();
  return Runtime::load(*bytes);
}

// Runs an engine of these networks on fresh data: the output is the square of the view (rows 1-2
// of x for the offset slice, all of x for the reshape), element for element.
void expect_squares_of_the_view(Engine& e, bool slice) {
  auto x = testing::random_tensor(DataType::kFloat32, {4, 64});
  auto outs = testing::run_engine(e, {x});
  ASSERT_TRUE(outs.ok()) << outs.status().to_string();
  auto xv = testing::to_doubles(x);
  std::vector<double> want;
  for (int64_t i = slice ? 64 : 0; i < (slice ? 192 : 256); ++i)
    want.push_back(xv[static_cast<size_t>(i)] * xv[static_cast<size_t>(i)]);
  EXPECT_TRUE(testing::all_close((*outs)[0], want, 1e-6, 1e-6));
}

TEST(ViewOrder, ReadingAnAliasedViewBeforeItsKernelRuns) {
  for (bool slice : {false, true}) {
    SCOPED_TRACE(slice ? "offset-view slice" : "reshape");
    auto e = reordered(false, slice);
    ASSERT_TRUE(e.ok()) << e.status().to_string();
    expect_squares_of_the_view(**e, slice);
  }
}

TEST(ViewOrder, ReadingAViewThatOwnsMemoryEarlyIsRefused) {
  for (bool slice : {false, true}) {
    SCOPED_TRACE(slice ? "slice" : "reshape");
    auto e = reordered(true, slice);
    ASSERT_FALSE(e.ok());
    EXPECT_EQ(e.status().code(), StatusCode::kCorruptPlan);
    EXPECT_NE(e.status().message().find("before the kernel that produces it runs"),
              std::string::npos)
        << e.status().message();
  }
}

// The same network with the view's record (or another layer's) removed from the plan.
Expected<std::shared_ptr<Engine>> without_record(bool view_is_output, bool slice, ir::OpKind drop) {
  Network net;
  auto x = *net.add_input("x", DataType::kFloat32, {4, 64});
  auto y = *net.add_unary(x, UnaryOp::kNeg);
  auto v =
      slice ? *net.add_slice(y, SliceParams{{0}, {1}, {3}, {1}}) : *net.add_reshape(y, {2, 128});
  EXPECT_TRUE(net.mark_output(*net.add_elementwise(v, v, BinaryOp::kMul), "z").ok());
  if (view_is_output) EXPECT_TRUE(net.mark_output(v, "v").ok());
  serial::PlanContents contents = testing::build_contents(net);
  auto& ks = contents.kernels;
  auto it = std::find_if(ks.begin(), ks.end(), [&](const auto& k) {
    return contents.graph.layers[static_cast<size_t>(k.layers[0])].op == drop;
  });
  EXPECT_TRUE(it != ks.end());
  if (it == ks.end()) return make_error(StatusCode::kInternal, "test", "kernel not found");
  ks.erase(it);
  auto bytes = serial::write_plan(contents);
  if (!bytes) return bytes.status();
  return Runtime::load(*bytes);
}

TEST(ViewOrder, AnAliasedViewNeedsNoKernel) {
  for (bool slice : {false, true}) {
    SCOPED_TRACE(slice ? "offset-view slice" : "reshape");
    auto e = without_record(false, slice, slice ? ir::OpKind::kSlice : ir::OpKind::kReshape);
    ASSERT_TRUE(e.ok()) << e.status().to_string();
    expect_squares_of_the_view(**e, slice);
  }
}

TEST(ViewOrder, OtherLayersWithoutAKernelAreRefused) {
  struct Case {
    bool view_is_output;
    ir::OpKind drop;
  };
  // A view that is a network output copies into user memory; neg and mul compute.
  for (const Case& c : {Case{true, ir::OpKind::kReshape}, Case{false, ir::OpKind::kUnary},
                        Case{false, ir::OpKind::kBinary}}) {
    SCOPED_TRACE(std::string(ir::op_name(c.drop)));
    auto e = without_record(c.view_is_output, false, c.drop);
    ASSERT_FALSE(e.ok());
    EXPECT_EQ(e.status().code(), StatusCode::kCorruptPlan);
    EXPECT_NE(e.status().message().find("has no kernel"), std::string::npos)
        << e.status().message();
  }
}

}  // namespace
}  // namespace kiln
