// Plan format v1: round trip, weights stored once and aligned, and every kind of damage refused.
#include <cstring>

#include "serialization/plan_contents.h"
#include "serialization/xxhash64.h"
#include "test_util.h"

namespace kiln {
namespace {

using testing::random_tensor;

// A small network whose plan is used by the damage tests.
Network small_network(const HostTensor& w) {
  Network net;
  auto x = net.add_input("x", DataType::kFloat32, {-1, 4});
  auto wt = testing::add_constant(net, w);
  auto wt2 = testing::add_constant(net, w);  // identical weight: stored once
  auto y = net.add_linear(*x, wt, Tensor{});
  auto y2 = net.add_linear(*x, wt2, Tensor{});
  auto z = net.add_elementwise(*y, *y2, BinaryOp::kAdd);
  EXPECT_TRUE(net.mark_output(*z, "z").ok());
  return net;
}

Plan build_small(const HostTensor& w) {
  Network net = small_network(w);
  BuilderConfig cfg;
  cfg.backend = "cpu";
  cfg.profiles.push_back(OptimizationProfile().set("x", {1, 4}, {2, 4}, {8, 4}));
  auto plan = Builder::build(net, cfg);
  EXPECT_TRUE(plan.ok()) << plan.status().to_string();
  return plan.ok() ? *plan : Plan{};
}

TEST(PlanFormat, RoundTripRunsAndMatchesReference) {
  auto w = random_tensor(DataType::kFloat32, {3, 4});
  Plan plan = build_small(w);
  auto engine = Runtime::load(plan.bytes);
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();
  auto x = random_tensor(DataType::kFloat32, {5, 4});
  auto out = testing::run_engine(**engine, {x});
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  std::vector<double> want;
  for (int n = 0; n < 5; ++n)
    for (int o = 0; o < 3; ++o) {
      double s = 0;
      for (int k = 0; k < 4; ++k) s += testing::at(x, n * 4 + k) * testing::at(w, o * 4 + k);
      want.push_back(2 * s);
    }
  EXPECT_TRUE(testing::all_close((*out)[0], want, 1e-5, 1e-5));
}

TEST(PlanFormat, HeaderFieldsAndWeightsStoredOnceAligned) {
  auto w = random_tensor(DataType::kFloat32, {3, 4});
  Plan plan = build_small(w);
  ASSERT_GE(plan.bytes.size(), serial::kPlanHeaderBytes);
  EXPECT_EQ(std::memcmp(plan.bytes.data(), "KILNPLAN", 8), 0);
  uint32_t version;
  std::memcpy(&version, plan.bytes.data() + 8, 4);
  EXPECT_EQ(version, serial::kPlanFormatVersion);
  auto contents = serial::read_plan(plan.bytes);
  ASSERT_TRUE(contents.ok()) << contents.status().to_string();
  EXPECT_EQ(contents->backend, "cpu");
  EXPECT_NE(contents->producer_version.find("kiln"), std::string::npos);
  // The 48-byte weight appears exactly once in the blob, at a 256-byte aligned offset.
  int found = 0;
  for (size_t off = 0; off + w.bytes.size() <= plan.bytes.size(); ++off) {
    if (std::memcmp(plan.bytes.data() + off, w.bytes.data(), w.bytes.size()) == 0) {
      ++found;
      EXPECT_EQ(off % serial::kWeightAlignment, 0u);
    }
  }
  EXPECT_EQ(found, 1);
}

TEST(PlanFormat, EveryTruncationIsRefused) {
  Plan plan = build_small(random_tensor(DataType::kFloat32, {3, 4}));
  for (size_t len = 0; len < plan.bytes.size();
       len += std::max<size_t>(1, plan.bytes.size() / 97)) {
    std::vector<uint8_t> cut(plan.bytes.begin(), plan.bytes.begin() + static_cast<long>(len));
    auto e = Runtime::load(cut);
    ASSERT_FALSE(e.ok()) << "truncated to " << len;
    EXPECT_EQ(e.status().code(), StatusCode::kCorruptPlan) << e.status().to_string();
  }
}

TEST(PlanFormat, EveryBitFlipIsRefused) {
  Plan plan = build_small(random_tensor(DataType::kFloat32, {3, 4}));
  size_t step = std::max<size_t>(1, plan.bytes.size() / 301);
  for (size_t off = 0; off < plan.bytes.size(); off += step) {
    std::vector<uint8_t> bad = plan.bytes;
    bad[off] ^= static_cast<uint8_t>(1u << (off % 8));
    auto e = Runtime::load(bad);
    ASSERT_FALSE(e.ok()) << "flipped byte " << off;
    EXPECT_TRUE(e.status().code() == StatusCode::kCorruptPlan ||
                e.status().code() == StatusCode::kVersionMismatch)
        << e.status().to_string();
  }
}

TEST(PlanFormat, ForeignAndFutureDataRefusedWithClearMessages) {
  std::vector<uint8_t> junk(100, 0x42);
  auto e = Runtime::load(junk);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("not a Kiln plan"), std::string::npos)
      << e.status().message();

  Plan plan = build_small(random_tensor(DataType::kFloat32, {3, 4}));
  std::vector<uint8_t> future = plan.bytes;
  uint32_t v = 99;
  std::memcpy(future.data() + 8, &v, 4);
  auto f = Runtime::load(future);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), StatusCode::kVersionMismatch);
  EXPECT_NE(f.status().message().find("version 99"), std::string::npos) << f.status().message();
}

TEST(PlanFormat, HugeCountsAreRejectedBeforeAllocating) {
  // A well-formed header and checksum around a graph section that claims 2^32-1 tensors.
  Plan plan = build_small(random_tensor(DataType::kFloat32, {3, 4}));
  auto contents = serial::read_plan(plan.bytes);
  ASSERT_TRUE(contents.ok());
  // Find the graph section through the table and overwrite its tensor count.
  uint64_t off;
  std::memcpy(&off, plan.bytes.data() + serial::kPlanHeaderBytes + 24 * 1 + 8, 8);
  std::vector<uint8_t> bad = plan.bytes;
  uint32_t huge = 0xffffffffu;
  std::memcpy(bad.data() + off, &huge, 4);
  // Re-seal the checksum so only the structural check can catch it.
  std::memset(bad.data() + 24, 0, 8);
  uint64_t h = xxhash64(bad.data(), bad.size());
  std::memcpy(bad.data() + 24, &h, 8);
  auto e = Runtime::load(bad);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kCorruptPlan);
  EXPECT_NE(e.status().message().find("exceeds the remaining data"), std::string::npos)
      << e.status().message();
}

TEST(PlanFormat, SaveIsAtomicAndLoadFileReportsMissingFiles) {
  Plan plan = build_small(random_tensor(DataType::kFloat32, {3, 4}));
  std::string path = ::testing::TempDir() + "/kiln_plan_test.plan";
  ASSERT_TRUE(plan.save(path).ok());
  auto again = Plan::load_file(path);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->bytes, plan.bytes);
  auto missing = Runtime::load_file(path + ".nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kIoError);
  // A save into a directory that does not exist fails and leaves the old file alone.
  EXPECT_FALSE(plan.save(::testing::TempDir() + "/no/such/dir/x.plan").ok());
}

}  // namespace
}  // namespace kiln
