// kv_cache_write on the CPU backend, through the public API with memory the test owns: the layer
// writes the update rows into the bound cache input in place (the same bytes, no copy), readers see
// the written cache, later runs keep writing into the same buffer, and the verifier refuses
// networks where the in-place write could be observed out of order.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backends/kv_cache_nets.h"
#include "kiln/kiln.h"
#include "test_util.h"

namespace kiln {
namespace {

constexpr int64_t kB = 2, kH = 3, kL = 8, kD = 4;

Network cache_net(int64_t axis = 2) {
  return testing::kv_cache_net(DataType::kFloat32, {kB, kH, kL, kD}, axis);
}

std::shared_ptr<Engine> build(const Network& net) {
  return testing::build_kv_cache_engine(net, "cpu", DataType::kFloat32, {kB, kH, kL, kD});
}

TEST(KvCacheWrite, WritesInPlaceAcrossRuns) {
  auto engine = build(cache_net());
  ASSERT_TRUE(engine);
  auto ctx = engine->create_context();
  ASSERT_TRUE(ctx.ok());
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> cache(static_cast<size_t>(kB * kH * kL * kD));
  for (float& v : cache) v = u(testing::rng());
  std::vector<float> ref = cache;  // the reference cache, updated by hand
  const float* before = cache.data();
  // A prefill of 3 rows, then single-row steps, as a generator runs them.
  std::vector<std::vector<int64_t>> steps = {{0, 1, 2}, {3}, {4}, {7}, {-1}};
  for (const auto& pos : steps) {
    const auto s = static_cast<int64_t>(pos.size());
    std::vector<float> upd(static_cast<size_t>(kB * kH * s * kD));
    for (float& v : upd) v = u(testing::rng());
    for (int64_t o = 0; o < kB * kH; ++o)
      for (int64_t j = 0; j < s; ++j) {
        int64_t row = pos[static_cast<size_t>(j)] < 0 ? pos[static_cast<size_t>(j)] + kL
                                                      : pos[static_cast<size_t>(j)];
        for (int64_t d = 0; d < kD; ++d)
          ref[static_cast<size_t>((o * kL + row) * kD + d)] =
              upd[static_cast<size_t>((o * s + j) * kD + d)];
      }
    std::vector<float> sums(static_cast<size_t>(kB * kH * kL));
    auto& c = **ctx;
    ASSERT_TRUE(c.bind("cache", cache.data(), DataType::kFloat32, {kB, kH, kL, kD}).ok());
    ASSERT_TRUE(c.bind("pos", const_cast<int64_t*>(pos.data()), DataType::kInt64, {s}).ok());
    ASSERT_TRUE(c.bind("upd", upd.data(), DataType::kFloat32, {kB, kH, s, kD}).ok());
    ASSERT_TRUE(c.bind("row_sums", sums.data(), DataType::kFloat32, {kB, kH, kL}).ok());
    Status st = c.execute();
    ASSERT_TRUE(st.ok()) << st.to_string();
    ASSERT_EQ(cache.data(), before);
    EXPECT_EQ(0, std::memcmp(cache.data(), ref.data(), cache.size() * sizeof(float)))
        << "cache differs after writing rows at " << pos[0];
    for (int64_t r = 0; r < kB * kH * kL; ++r) {
      double want = 0;
      for (int64_t d = 0; d < kD; ++d) want += ref[static_cast<size_t>(r * kD + d)];
      EXPECT_NEAR(sums[static_cast<size_t>(r)], want, 1e-5) << "row " << r;
    }
  }
}

TEST(KvCacheWrite, PositionOutOfRangeIsAnError) {
  auto engine = build(cache_net());
  ASSERT_TRUE(engine);
  auto ctx = engine->create_context();
  ASSERT_TRUE(ctx.ok());
  std::vector<float> cache(static_cast<size_t>(kB * kH * kL * kD)), upd(kB * kH * kD),
      sums(kB * kH * kL);
  std::vector<int64_t> pos = {kL};
  auto& c = **ctx;
  ASSERT_TRUE(c.bind("cache", cache.data(), DataType::kFloat32, {kB, kH, kL, kD}).ok());
  ASSERT_TRUE(c.bind("pos", pos.data(), DataType::kInt64, {1}).ok());
  ASSERT_TRUE(c.bind("upd", upd.data(), DataType::kFloat32, {kB, kH, 1, kD}).ok());
  ASSERT_TRUE(c.bind("row_sums", sums.data(), DataType::kFloat32, {kB, kH, kL}).ok());
  Status st = c.execute();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("out of range"), std::string::npos) << st.to_string();
}

TEST(KvCacheWrite, TypeAndShapeChecks) {
  Network net;
  auto cache = net.add_input("cache", DataType::kFloat16, {kB, kH, kL, kD});
  auto pos = net.add_input("pos", DataType::kFloat32, {1});
  auto ipos = net.add_input("ipos", DataType::kInt32, {2});
  auto upd = net.add_input("upd", DataType::kFloat32, {kB, kH, 1, kD});
  auto upd16 = net.add_input("upd16", DataType::kFloat16, {kB, kH, 1, kD + 1});
  auto bad_dtype = net.add_kv_cache_write(*cache, *ipos, *upd);
  EXPECT_FALSE(bad_dtype.ok());
  auto bad_pos = net.add_kv_cache_write(*cache, *pos, *upd);
  EXPECT_FALSE(bad_pos.ok());
  auto bad_dim = net.add_kv_cache_write(*cache, *ipos, *upd16);
  EXPECT_FALSE(bad_dim.ok());
}

// The verifier refuses what would make the in-place write observable out of order.
TEST(KvCacheWrite, VerifierRefusesUnsafeUses) {
  auto try_build = [](bool read_cache_too, bool write_is_output, bool cache_is_computed) {
    Network net;
    auto in = net.add_input("cache", DataType::kFloat32, {kB, kH, kL, kD});
    auto pos = net.add_input("pos", DataType::kInt64, {1});
    auto upd = net.add_input("upd", DataType::kFloat32, {kB, kH, 1, kD});
    Tensor target = *in;
    if (cache_is_computed) target = *net.add_unary(*in, UnaryOp::kAbs);
    auto w = net.add_kv_cache_write(target, *pos, *upd);
    EXPECT_TRUE(w.ok());
    if (write_is_output) {
      EXPECT_TRUE(net.mark_output(*w, "y").ok());
    } else {
      auto y = net.add_unary(*w, UnaryOp::kAbs);
      EXPECT_TRUE(net.mark_output(*y, "y").ok());
    }
    if (read_cache_too) EXPECT_TRUE(net.mark_output(*net.add_unary(*in, UnaryOp::kNeg), "z").ok());
    BuilderConfig cfg;
    cfg.backend = "cpu";
    return Builder::build(net, cfg).status();
  };
  EXPECT_TRUE(try_build(false, false, false).ok());
  Status s = try_build(true, false, false);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("read by another layer"), std::string::npos) << s.to_string();
  s = try_build(false, true, false);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("network output"), std::string::npos) << s.to_string();
  s = try_build(false, false, true);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("not a network input"), std::string::npos) << s.to_string();
}

// The layer survives the text IR round trip (params included).
TEST(KvCacheWrite, TextRoundTrip) {
  Network net = cache_net(-2);
  auto back = parse_network(net.to_text());
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  EXPECT_EQ(back->to_text(), net.to_text());
}

}  // namespace
}  // namespace kiln
