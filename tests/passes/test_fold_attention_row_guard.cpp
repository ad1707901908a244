// fold_attention_row_guard: transformers' where(mask.any(-1), sdpa(q, k, v, mask), 0) becomes one
// attention layer with zero_masked_rows; results (fully masked rows included) equal a
// double-precision reference. A guard with a non-zero fill is left alone.
#include <cmath>

#include "common/element_access.h"
#include "test_util.h"

namespace kiln {
namespace {

constexpr int64_t kB = 2, kH = 3, kS = 6, kD = 8;

// Reference: softmax(q k^T / sqrt(D) masked) v; rows with no key left give `fill`.
std::vector<double> reference(const HostTensor& q, const HostTensor& k, const HostTensor& v,
                              const HostTensor& m, double fill) {
  auto qd = testing::to_doubles(q), kd = testing::to_doubles(k), vd = testing::to_doubles(v),
       md = testing::to_doubles(m);
  std::vector<double> out;
  for (int64_t b = 0; b < kB; ++b)
    for (int64_t h = 0; h < kH; ++h)
      for (int64_t i = 0; i < kS; ++i) {
        const int64_t qo = ((b * kH + h) * kS + i) * kD;
        std::vector<double> s(kS);
        double mx = -INFINITY;
        for (int64_t j = 0; j < kS; ++j) {
          const int64_t ko = ((b * kH + h) * kS + j) * kD;
          double acc = 0;
          for (int64_t d = 0; d < kD; ++d)
            acc += qd[static_cast<size_t>(qo + d)] * kd[static_cast<size_t>(ko + d)];
          s[static_cast<size_t>(j)] = md[static_cast<size_t>((b * kS + i) * kS + j)] != 0
                                          ? acc / std::sqrt(double(kD))
                                          : -INFINITY;
          mx = std::max(mx, s[static_cast<size_t>(j)]);
        }
        if (mx == -INFINITY) {
          for (int64_t d = 0; d < kD; ++d) out.push_back(fill);
          continue;
        }
        double sum = 0;
        for (double& x : s) sum += (x = std::exp(x - mx));
        for (int64_t d = 0; d < kD; ++d) {
          double acc = 0;
          for (int64_t j = 0; j < kS; ++j)
            acc += s[static_cast<size_t>(j)] / sum *
                   vd[static_cast<size_t>(((b * kH + h) * kS + j) * kD + d)];
          out.push_back(acc);
        }
      }
  return out;
}

struct Built {
  int wheres = 0, reduces = 0, zeroing_attentions = 0;
};

Built inspect(const Network& net, const BuilderConfig& cfg) {
  const ir::Graph g = testing::build_contents(net, cfg).graph;
  Built r;
  r.wheres = testing::count_ops(g, ir::OpKind::kWhere);
  r.reduces = testing::count_ops(g, ir::OpKind::kReduce);
  for (const auto& l : g.layers)
    if (l.op == ir::OpKind::kAttention)
      r.zeroing_attentions += std::get<AttentionParams>(l.params).zero_masked_rows;
  return r;
}

void run_case(double fill, bool expect_folded) {
  Network net;
  auto q = *net.add_input("q", DataType::kFloat32, {kB, kH, kS, kD});
  auto k = *net.add_input("k", DataType::kFloat32, {kB, kH, kS, kD});
  auto v = *net.add_input("v", DataType::kFloat32, {kB, kH, kS, kD});
  auto m = *net.add_input("mask", DataType::kBool, {kB, 1, kS, kS});
  auto att = *net.add_attention(q, k, v, m, AttentionParams{});
  ReduceParams rp;
  rp.op = ReduceOp::kAny;
  rp.axes = {-1};
  rp.keep_dims = true;
  auto any = *net.add_reduce(m, rp);
  auto y = *net.add_where(any, att, *net.add_scalar(fill, DataType::kFloat32));
  ASSERT_TRUE(net.mark_output(y, "y").ok());
  BuilderConfig cfg;
  cfg.backend = "cpu";
  Built b = inspect(net, cfg);
  EXPECT_EQ(b.wheres, expect_folded ? 0 : 1);
  EXPECT_EQ(b.reduces, expect_folded ? 0 : 1);
  EXPECT_EQ(b.zeroing_attentions, expect_folded ? 1 : 0);
  auto qt = testing::random_tensor(DataType::kFloat32, {kB, kH, kS, kD});
  auto kt = testing::random_tensor(DataType::kFloat32, {kB, kH, kS, kD});
  auto vt = testing::random_tensor(DataType::kFloat32, {kB, kH, kS, kD});
  auto mt = testing::random_tensor(DataType::kBool, {kB, 1, kS, kS});
  // Rows 1 and 4 of the first batch and row 0 of the second mask every key.
  for (auto [b0, i] : {std::pair<int64_t, int64_t>{0, 1}, {0, 4}, {1, 0}})
    for (int64_t j = 0; j < kS; ++j)
      store_from_double(mt.data(), DataType::kBool, (b0 * kS + i) * kS + j, 0.0);
  store_from_double(mt.data(), DataType::kBool, (1 * kS + 2) * kS + 3,
                    1.0);  // row 2 of batch 1 keeps a key
  auto outs = testing::build_and_run(net, {qt, kt, vt, mt}, cfg);
  ASSERT_EQ(outs.size(), 1u);
  EXPECT_TRUE(testing::all_close(outs[0], reference(qt, kt, vt, mt, fill), 1e-5, 1e-5));
}

TEST(FoldAttentionRowGuard, ZeroGuardBecomesTheAttentionsOwn) { run_case(0.0, true); }

TEST(FoldAttentionRowGuard, OtherFillsStayAsTheyAre) { run_case(-2.5, false); }

}  // namespace
}  // namespace kiln
