// kilnc's input-spec grammar (Kiln's and torchtrtc's) and torchtrtc's flag table, against
// hand-written expectations.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "input_spec.h"
#include "torchtrtc_flags.h"

namespace kiln::kilnc {
namespace {

using Shape = std::vector<int64_t>;

InputSpec parse_ok(const std::string& spec) {
  auto r = parse_input_spec(spec);
  EXPECT_TRUE(r.ok()) << spec << ": " << r.status().message();
  return r.ok() ? *r : InputSpec{};
}

std::string parse_error(const std::string& spec) {
  auto r = parse_input_spec(spec);
  EXPECT_FALSE(r.ok()) << spec << " parsed";
  if (r.ok()) return "";
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  // Every error quotes the whole spec.
  EXPECT_NE(r.status().message().find("'" + spec + "'"), std::string::npos) << r.status().message();
  return r.status().message();
}

TEST(KilncInputSpec, TorchtrtcRangeWithDtypeAndFormat) {
  InputSpec s = parse_ok("[(1,3,224,224);(8,3,224,224);(32,3,224,224)]@f16%contiguous");
  EXPECT_EQ(s.min_shape, (Shape{1, 3, 224, 224}));
  EXPECT_EQ(s.opt_shape, (Shape{8, 3, 224, 224}));
  EXPECT_EQ(s.max_shape, (Shape{32, 3, 224, 224}));
  EXPECT_EQ(s.dtype, DataType::kFloat16);
  EXPECT_EQ(s.format, InputFormat::kContiguous);
}

TEST(KilncInputSpec, TorchtrtcStaticChannelLast) {
  InputSpec s = parse_ok("(1,3,224,224)@f32%channel_last");
  EXPECT_EQ(s.min_shape, (Shape{1, 3, 224, 224}));
  EXPECT_EQ(s.max_shape, s.min_shape);
  EXPECT_EQ(s.dtype, DataType::kFloat32);
  EXPECT_EQ(s.format, InputFormat::kChannelsLast);
}

TEST(KilncInputSpec, TorchtrtcSpacesFormatOnlyAndNames) {
  // torchtrtc's README example, with spaces.
  InputSpec s = parse_ok("[(1,3,300,300); (1,3,512,512); (1, 3, 1024, 1024)]@fp16%contiguous");
  EXPECT_EQ(s.opt_shape, (Shape{1, 3, 512, 512}));
  EXPECT_EQ(s.max_shape, (Shape{1, 3, 1024, 1024}));
  EXPECT_EQ(s.dtype, DataType::kFloat16);
  EXPECT_EQ(parse_ok("(3, 3, 32, 32)%NHWC").format, InputFormat::kChannelsLast);
  EXPECT_EQ(parse_ok("(3,3,32,32)%NHWC").dtype, DataType::kFloat32);
  EXPECT_EQ(parse_ok("(2,16)@int").dtype, DataType::kInt32);
  EXPECT_EQ(parse_ok("(2,16)@Half").dtype, DataType::kFloat16);
  EXPECT_EQ(parse_ok("(2,16)@char").dtype, DataType::kInt8);
  EXPECT_EQ(parse_ok("(2,16)@b").dtype, DataType::kBool);
  EXPECT_EQ(parse_ok("(2,16)@i64").dtype, DataType::kInt64);
  EXPECT_EQ(parse_ok("(4)").min_shape, (Shape{4}));
}

TEST(KilncInputSpec, KilnGrammarStillWorks) {
  InputSpec s = parse_ok("1x3x224x224;8x3x224x224;32x3x224x224@bf16");
  EXPECT_EQ(s.min_shape, (Shape{1, 3, 224, 224}));
  EXPECT_EQ(s.max_shape, (Shape{32, 3, 224, 224}));
  EXPECT_EQ(s.dtype, DataType::kBFloat16);
  EXPECT_EQ(parse_ok("2x8").opt_shape, (Shape{2, 8}));
  EXPECT_EQ(parse_ok("2x8@u8%contiguous").dtype, DataType::kUInt8);
}

TEST(KilncInputSpec, BadSpecsSayWhatIsWrong) {
  EXPECT_NE(parse_error("(1,3,x,224)").find("'x' is not a dimension"), std::string::npos);
  EXPECT_NE(parse_error("(1,3,-2)").find("'-2' is not a dimension"), std::string::npos);
  EXPECT_NE(parse_error("(1,3,,4)").find("'' is not a dimension"), std::string::npos);
  EXPECT_NE(parse_error("(1,3,224").find("in parentheses"), std::string::npos);
  EXPECT_NE(parse_error("[(1,3);(2,3)]").find("three shapes"), std::string::npos);
  EXPECT_NE(parse_error("[(1,3);(2,3);(4,3)").find("must end with ']'"), std::string::npos);
  EXPECT_NE(parse_error("[(1,3);(2,3,1);(4,3)]").find("different ranks"), std::string::npos);
  EXPECT_NE(parse_error("[(4,3);(2,3);(8,3)]").find("dim 0 needs MIN <= OPT <= MAX, got 4, 2, 8"),
            std::string::npos);
  EXPECT_NE(parse_error("(1,3)@f128").find("unknown dtype 'f128'"), std::string::npos);
  EXPECT_NE(parse_error("(1,3)@f16%nchwc").find("unknown format 'nchwc'"), std::string::npos);
  EXPECT_NE(parse_error("(1,3)%nhwc@f16").find("dtype (@) comes before the format (%)"),
            std::string::npos);
  EXPECT_NE(parse_error("@f16").find("no shape"), std::string::npos);
  EXPECT_NE(parse_error("1x3;2x3").find("one shape or three"), std::string::npos);
  EXPECT_NE(parse_error("(1,1,1,1,1,1,1,1,1)").find("rank 9 is above"), std::string::npos);
  EXPECT_NE(parse_error("(1,3)  junk").find("in parentheses"), std::string::npos);
}

TEST(KilncTorchtrtcFlags, TableMapsTheirNames) {
  const CompatFlag* p = find_torchtrtc_flag("--enabled-precision");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->kind, CompatKind::kAlias);
  EXPECT_EQ(p->meaning, "--precision");
  EXPECT_EQ(find_torchtrtc_flag("--mbs")->meaning, "--min-block-size");
  EXPECT_EQ(find_torchtrtc_flag("--teo")->meaning, "--torch-executed-op");
  EXPECT_EQ(find_torchtrtc_flag("--save-engine")->meaning, "--plan");
  EXPECT_EQ(find_torchtrtc_flag("--sparse-weights")->kind, CompatKind::kNoOp);
  EXPECT_EQ(find_torchtrtc_flag("--dla-core")->harmless_value, "0");
  EXPECT_EQ(find_torchtrtc_flag("--truncate-long-double")->kind, CompatKind::kUnsupported);
  EXPECT_EQ(find_torchtrtc_flag("--engine-capability")->harmless_value, "standard");
  EXPECT_EQ(find_torchtrtc_flag("--precision"), nullptr);  // kilnc's own flags are not in the table
  EXPECT_EQ(find_torchtrtc_flag("--no-such-flag"), nullptr);
}

}  // namespace
}  // namespace kiln::kilnc
