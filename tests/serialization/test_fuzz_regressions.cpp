// Every input the fuzzers ever crashed on stays a test (run under ASan + UBSan in CI).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "fuzz/plan_fuzz_body.h"

namespace {

TEST(FuzzRegressions, PlanLoaderInputsNoLongerCrash) {
  std::filesystem::path dir =
      std::filesystem::path(KILN_SOURCE_DIR) / "tests" / "fuzz" / "regressions";
  int n = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().filename().string().rfind("plan_loader", 0) != 0) continue;
    std::ifstream f(entry.path(), std::ios::binary);
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)),
                               std::istreambuf_iterator<char>());
    SCOPED_TRACE(entry.path().string());
    EXPECT_EQ(kiln::fuzz::fuzz_plan_bytes(bytes.data(), bytes.size()), 0);
    ++n;
  }
  EXPECT_GT(n, 0);
}

TEST(FuzzRegressions, TextParserInputsAreRefusedCleanly) {
  std::filesystem::path dir =
      std::filesystem::path(KILN_SOURCE_DIR) / "tests" / "fuzz" / "regressions";
  int n = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().filename().string().rfind("text_parser", 0) != 0) continue;
    std::ifstream f(entry.path(), std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    SCOPED_TRACE(entry.path().string());
    auto net =
        kiln::parse_network(text);  // used to throw std::length_error (negative constant dims)
    EXPECT_FALSE(net.ok());
    ++n;
  }
  EXPECT_GT(n, 0);
  // The rule behind the first regression, stated directly.
  auto neg = kiln::parse_network(
      "kiln.network v1\nlayer \"c\" = constant() {weight=0} -> \"c\" : f32[4,-3] = <48 bytes>\n");
  ASSERT_FALSE(neg.ok());
  EXPECT_NE(neg.status().message().find("static, non-negative dims"), std::string::npos)
      << neg.status().message();
}

}  // namespace
