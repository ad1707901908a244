// fold_linear_scale: a constant per-feature scale after a linear folds into its weight and bias
// (the mul disappears); other scales, or a linear output read twice, stay. Results equal the same
// network with the scale fed as an input (nothing folded).
#include "test_util.h"

namespace kiln {
namespace {

constexpr int64_t kK = 12, kN = 10;

struct Weights {
  HostTensor w = testing::random_tensor(DataType::kFloat32, {kN, kK});
  HostTensor b = testing::random_tensor(DataType::kFloat32, {kN});
};

Network make(const Weights& wt, const HostTensor& scale, bool scale_as_input, bool bias,
             bool second_reader) {
  Network net;
  auto x = net.add_input("x", DataType::kFloat32, {2, 3, kK});
  auto r = net.add_input("r", DataType::kFloat32, {2, 3, kN});
  auto w = testing::add_constant(net, wt.w);
  Tensor b = bias ? testing::add_constant(net, wt.b) : Tensor{};
  auto lin = net.add_linear(*x, w, b);
  Tensor s = scale_as_input ? *net.add_input("s", DataType::kFloat32, scale.type.dims)
                            : testing::add_constant(net, scale);
  auto y = net.add_elementwise(*net.add_elementwise(s, *lin, BinaryOp::kMul), *r, BinaryOp::kAdd);
  EXPECT_TRUE(net.mark_output(*y, "y").ok());
  if (second_reader) EXPECT_TRUE(net.mark_output(*net.add_unary(*lin, UnaryOp::kRelu), "z").ok());
  return net;
}

void check(const HostTensor& scale, bool bias, bool second_reader, bool want_folded) {
  const Weights wt;
  Network folded = make(wt, scale, false, bias, second_reader);
  const ir::Graph g = testing::build_contents(folded).graph;
  int muls = 0;
  for (const auto& l : g.layers)
    muls += l.op == ir::OpKind::kBinary && std::get<BinaryParams>(l.params).op == BinaryOp::kMul;
  EXPECT_EQ(muls, want_folded ? 0 : 1);
  std::vector<HostTensor> in{testing::random_tensor(DataType::kFloat32, {2, 3, kK}),
                             testing::random_tensor(DataType::kFloat32, {2, 3, kN})};
  auto got = testing::build_and_run(folded, in);
  in.push_back(scale);
  auto want = testing::build_and_run(make(wt, scale, true, bias, second_reader), in);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_TRUE(testing::all_close(got[i], testing::to_doubles(want[i]), 1e-5, 1e-6));
}

TEST(FoldLinearScale, PerFeatureScalesFold) {
  check(testing::random_tensor(DataType::kFloat32, {kN}, 0.5, 2.0), true, false, true);
  check(testing::random_tensor(DataType::kFloat32, {1, 1, kN}, -2.0, 2.0), true, false, true);
  check(testing::random_tensor(DataType::kFloat32, {1}, 0.5, 2.0), false, false, true);
}

TEST(FoldLinearScale, OtherScalesAndSharedOutputsStay) {
  check(testing::random_tensor(DataType::kFloat32, {3, kN}), true, false,
        false);                                                                // varies along rows
  check(testing::random_tensor(DataType::kFloat32, {kN}), true, true, false);  // linear read twice
}

}  // namespace
}  // namespace kiln
