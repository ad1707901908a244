// The old KILN_* variables map onto BuildSwitches with the meanings passes gave them.
#include "kiln/build_switches.h"
#include "test_util.h"

namespace kiln {
namespace {

BuildSwitches with(std::string_view name, std::string_view value) {
  BuildSwitches sw;
  Status s = apply_build_variable(sw, name, value);
  EXPECT_TRUE(s.ok()) << s.to_string();
  return sw;
}

TEST(BuildSwitches, UnsetOrEmptyVariablesKeepTheDefaults) {
  for (std::string_view name : kBuildVariables) EXPECT_EQ(with(name, ""), BuildSwitches{}) << name;
}

TEST(BuildSwitches, VariablesMapAsPassesReadThem) {
  EXPECT_EQ(with("KILN_LAYOUT", "nchw").layout, LayoutChoice::kNCHW);
  EXPECT_EQ(with("KILN_LAYOUT", "nhwc").layout, LayoutChoice::kNHWC);
  EXPECT_EQ(with("KILN_LAYOUT", "auto").layout, LayoutChoice::kAuto);
  BuildSwitches forced = with("KILN_FORCE_CHANNELS_LAST", "1");
  EXPECT_EQ(forced.layout, LayoutChoice::kNHWC);
  EXPECT_TRUE(forced.layout_any_backend);
  EXPECT_EQ(with("KILN_FORCE_CHANNELS_LAST", "0"), BuildSwitches{});
  BuildSwitches nchw_forced = with("KILN_LAYOUT", "nchw");
  ASSERT_TRUE(apply_build_variable(nchw_forced, "KILN_FORCE_CHANNELS_LAST", "1").ok());
  EXPECT_EQ(nchw_forced.layout, LayoutChoice::kNCHW);  // nchw always won

  BuildSwitches pw = with("KILN_DISABLE_FUSION", "pointwise");
  EXPECT_TRUE(pw.fuse_epilogues);
  EXPECT_FALSE(pw.fuse_pointwise);
  BuildSwitches none = with("KILN_DISABLE_FUSION", "1");
  EXPECT_FALSE(none.fuse_epilogues);
  EXPECT_FALSE(none.fuse_pointwise);

  EXPECT_EQ(with("KILN_CONV_IMPL", "depthwise:8").conv_impl, "depthwise:8");
  EXPECT_TRUE(with("KILN_CUDNN_LEGACY", "1").cudnn_legacy_only);
  EXPECT_FALSE(with("KILN_CUDNN_LEGACY", "0").cudnn_legacy_only);
  EXPECT_EQ(with("KILN_DISABLE_PASSES", "recognize_gelu,,fold_view_chains").disabled_passes,
            (std::vector<std::string>{"recognize_gelu", "fold_view_chains"}));
}

TEST(BuildSwitches, BadValuesAndNamesAreRefused) {
  BuildSwitches sw;
  Status s = apply_build_variable(sw, "KILN_LAYOUT", "nwhc");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("KILN_LAYOUT"), std::string::npos) << s.message();
  EXPECT_EQ(apply_build_variable(sw, "KILN_CONV_IMPL", "fft").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(apply_build_variable(sw, "KILN_LAYOUTS", "nchw").code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kiln
