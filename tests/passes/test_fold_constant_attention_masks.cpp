// fold_constant_attention_masks: a constant mask that attends everywhere is dropped, a causal one
// (bool tril, float 0 / -inf, float 0 / the dtype's lowest) becomes causal = true; anything else
// stays. Results equal the same network with the mask fed as an input (the masked path, nothing
// folded).
#include <cmath>
#include <limits>

#include "test_util.h"

namespace kiln {
namespace {

constexpr int64_t kB = 2, kH = 2, kL = 7, kD = 8;

struct Inspect {
  int attentions = 0, masked = 0, causal = 0;
};

Inspect inspect(const Network& net) {
  const ir::Graph g = testing::build_contents(net).graph;
  Inspect r;
  for (const auto& l : g.layers) {
    if (l.op != ir::OpKind::kAttention) continue;
    ++r.attentions;
    r.masked += l.inputs.size() > 3 && l.inputs[3] >= 0;
    r.causal += std::get<AttentionParams>(l.params).causal;
  }
  return r;
}

// q, k, v inputs plus `mask` either as a constant or as a fourth input.
Network make(const HostTensor& mask, bool as_input) {
  Network net;
  auto q = net.add_input("q", DataType::kFloat32, {kB, kH, kL, kD});
  auto k = net.add_input("k", DataType::kFloat32, {kB, kH, kL, kD});
  auto v = net.add_input("v", DataType::kFloat32, {kB, kH, kL, kD});
  Tensor m = as_input ? *net.add_input("m", mask.type.dtype, mask.type.dims)
                      : testing::add_constant(net, mask);
  auto y = net.add_attention(*q, *k, *v, m, AttentionParams{});
  EXPECT_TRUE(y.ok()) << y.status().to_string();
  EXPECT_TRUE(net.mark_output(*y, "y").ok());
  return net;
}

HostTensor pattern(DataType dt, const Dims& dims, double attend, double masked, bool causal,
                   int64_t flip = -1) {
  std::vector<double> v;
  const int64_t cols = dims[dims.rank() - 1], rows = dims.rank() >= 2 ? dims[dims.rank() - 2] : 1;
  for (int64_t i = 0; i < dims.volume(); ++i) {
    const int64_t c = i % cols, r = (i / cols) % rows;
    bool a = !causal || c <= r;
    if (i == flip) a = !a;
    v.push_back(a ? attend : masked);
  }
  return testing::make_tensor(dt, dims, v);
}

void check(const HostTensor& mask, int want_masked, int want_causal) {
  Network folded = make(mask, false);
  Inspect r = inspect(folded);
  EXPECT_EQ(r.attentions, 1);
  EXPECT_EQ(r.masked, want_masked);
  EXPECT_EQ(r.causal, want_causal);
  std::vector<HostTensor> in{testing::random_tensor(DataType::kFloat32, {kB, kH, kL, kD}),
                             testing::random_tensor(DataType::kFloat32, {kB, kH, kL, kD}),
                             testing::random_tensor(DataType::kFloat32, {kB, kH, kL, kD})};
  auto got = testing::build_and_run(folded, in);
  in.push_back(mask);
  auto want = testing::build_and_run(make(mask, true), in);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(testing::all_close(got[0], testing::to_doubles(want[0]), 1e-5, 1e-6));
}

TEST(FoldConstantAttentionMasks, CausalMasksBecomeTheFlag) {
  const double inf = std::numeric_limits<double>::infinity();
  check(pattern(DataType::kBool, {1, 1, kL, kL}, 1, 0, true), 0, 1);
  check(pattern(DataType::kBool, {kL, kL}, 1, 0, true), 0, 1);
  check(pattern(DataType::kFloat32, {1, 1, kL, kL}, 0, -inf, true), 0, 1);
  check(pattern(DataType::kFloat32, {kB, 1, kL, kL}, 0, std::numeric_limits<float>::lowest(), true),
        0, 1);
}

TEST(FoldConstantAttentionMasks, AttendEverywhereIsDropped) {
  check(pattern(DataType::kBool, {1, 1, kL, kL}, 1, 0, false), 0, 0);
  check(pattern(DataType::kBool, {kB, 1, 1, kL}, 1, 0, false), 0, 0);  // broadcast rows
  check(pattern(DataType::kFloat32, {1, 1, 1, kL}, 0, 0, false), 0, 0);
}

TEST(FoldConstantAttentionMasks, OtherMasksStay) {
  // One key flipped, a causal pattern in broadcast rows (not causal: every row the same), a real
  // bias, and a float mask whose "masked" value is only large (not -inf / lowest).
  check(pattern(DataType::kBool, {1, 1, kL, kL}, 1, 0, true, 5), 1, 0);
  check(pattern(DataType::kBool, {1, 1, 1, kL}, 1, 0, true), 1, 0);
  check(testing::random_tensor(DataType::kFloat32, {1, 1, kL, kL}), 1, 0);
  check(pattern(DataType::kFloat32, {1, 1, kL, kL}, 0, -1e4, true), 1, 0);
}

}  // namespace
}  // namespace kiln
