// Plan formats 4 and 5: the build switches and the precision report round-trip through META;
// damaged values are refused.
#include <cstring>

#include "backends/quantized_nets.h"
#include "serialization/plan_contents.h"
#include "serialization/xxhash64.h"
#include "test_util.h"

namespace kiln {
namespace {

Network tiny_network() {
  Network net;
  auto x = net.add_input("x", DataType::kFloat32, {2, 4});
  EXPECT_TRUE(net.mark_output(*net.add_unary(*x, UnaryOp::kRelu), "y").ok());
  return net;
}

BuildSwitches unusual_switches() {
  BuildSwitches sw;
  sw.layout = LayoutChoice::kNCHW;
  sw.layout_any_backend = true;
  sw.fuse_epilogues = false;
  sw.fuse_pointwise = false;
  sw.conv_impl = "depthwise:4";
  sw.cudnn_legacy_only = true;
  sw.disabled_passes = {"recognize_gelu", "fold_view_chains"};
  return sw;
}

// The byte range of the META section (section table entry 0).
std::pair<uint64_t, uint64_t> meta_range(const std::vector<uint8_t>& bytes) {
  uint64_t off, size;
  std::memcpy(&off, bytes.data() + serial::kPlanHeaderBytes + 8, 8);
  std::memcpy(&size, bytes.data() + serial::kPlanHeaderBytes + 16, 8);
  return {off, size};
}

void reseal(std::vector<uint8_t>& bytes) {
  std::memset(bytes.data() + 24, 0, 8);
  uint64_t h = xxhash64(bytes.data(), bytes.size());
  std::memcpy(bytes.data() + 24, &h, 8);
}

TEST(PlanBuildSettings, SwitchesRoundTrip) {
  BuilderConfig cfg;
  cfg.backend = "cpu";
  cfg.switches = unusual_switches();
  serial::PlanContents c = testing::build_contents(tiny_network(), cfg);
  EXPECT_EQ(c.switches, unusual_switches());
  EXPECT_FALSE(c.channels_last_applied);

  // Written and read again, field for field (channels_last_applied included).
  c.channels_last_applied = true;
  auto bytes = serial::write_plan(c);
  ASSERT_TRUE(bytes.ok()) << bytes.status().to_string();
  auto again = serial::read_plan(*bytes);
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  EXPECT_EQ(again->switches, unusual_switches());
  EXPECT_TRUE(again->channels_last_applied);
}

TEST(PlanBuildSettings, DefaultsAreRecordedAndListed) {
  BuilderConfig cfg;
  cfg.backend = "cpu";
  auto plan = Builder::build(tiny_network(), cfg);
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  auto engine = Runtime::load(plan->bytes);
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();
  auto s = (*engine)->build_settings();
  ASSERT_EQ(s.size(), 6u);
  EXPECT_EQ(s[0], (std::pair<std::string, std::string>{"layout", "auto (applied: nchw)"}));
  EXPECT_EQ(s[1].second, "on");
  EXPECT_EQ(s[2].second, "on");
  EXPECT_EQ(s[3].second, "any");
  EXPECT_EQ(s[4].second, "off");
  EXPECT_EQ(s[5].second, "none");
  std::string d = (*engine)->describe();
  EXPECT_NE(d.find("build settings: layout=auto (applied: nchw); fuse_epilogues=on"),
            std::string::npos)
      << d;
}

TEST(PlanBuildSettings, DamagedSettingsAreRefused) {
  BuilderConfig cfg;
  cfg.backend = "cpu";
  auto plan = Builder::build(tiny_network(), cfg);
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  auto [off, size] = meta_range(plan->bytes);
  // Default switches end META with: layout, any_backend, applied, epilogues, pointwise (1 byte
  // each), conv_impl (u32 length 0), cudnn_legacy_only (1 byte), disabled count (u32 0), then the
  // precision report's count (u32 0).
  const uint64_t tail = off + size - 18;
  struct Damage {
    uint64_t at;
    uint8_t value;
    const char* message;
  };
  for (const Damage& d :
       {Damage{tail, 7, "invalid layout"}, Damage{tail + 3, 2, "invalid fuse_epilogues flag"},
        Damage{tail + 9, 5, "invalid cudnn_legacy_only flag"}}) {
    std::vector<uint8_t> bad = plan->bytes;
    bad[d.at] = d.value;
    reseal(bad);
    auto e = Runtime::load(bad);
    ASSERT_FALSE(e.ok()) << d.message;
    EXPECT_EQ(e.status().code(), StatusCode::kCorruptPlan);
    EXPECT_NE(e.status().message().find(d.message), std::string::npos) << e.status().message();
  }
  // A conv_impl the builder would refuse is refused on load too.
  serial::PlanContents c = testing::build_contents(tiny_network(), cfg);
  c.switches.conv_impl = "winograd";
  auto bytes = serial::write_plan(c);
  ASSERT_TRUE(bytes.ok());
  auto e = serial::read_plan(*bytes);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kCorruptPlan);
  EXPECT_NE(e.status().message().find("conv_impl"), std::string::npos) << e.status().message();
}

TEST(PlanBuildSettings, PrecisionReportRoundTrips) {
  // A quantized linear: the fusion pass's report is recorded and read back with the plan.
  HostTensor w = testing::random_tensor(DataType::kInt8, {4, 16}, -127, 128);
  Network net = testing::qlinear_net(2, 16, 4, 3, true, w,
                                     testing::random_tensor(DataType::kFloat32, {4}, 0.01, 0.02),
                                     testing::random_tensor(DataType::kFloat32, {4}));
  BuilderConfig cfg = testing::int8_config();
  cfg.backend = "cpu";
  auto plan = Builder::build(net, cfg);
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  auto engine = Runtime::load(plan->bytes);
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();
  const auto& rep = (*engine)->precision_report();
  ASSERT_EQ(rep.size(), 1u);
  EXPECT_EQ(rep[0].precision, "int8");
  EXPECT_NE(rep[0].reason.find("fused: DQ(i8) -> linear -> gelu -> Q(i8)"), std::string::npos)
      << rep[0].reason;
}

}  // namespace
}  // namespace kiln
