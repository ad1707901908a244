// Status / Expected and the early-return macros (KILN_RETURN_IF_ERROR, KILN_ASSIGN_OR_RETURN).
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "kiln/status.h"

namespace kiln {
namespace {

Expected<int> half(int v) {
  if (v % 2 != 0)
    return make_error(StatusCode::kInvalidArgument, "test", std::to_string(v) + " is odd");
  return v / 2;
}

Expected<std::unique_ptr<int>> boxed(int v) {
  if (v < 0) return make_error(StatusCode::kShapeError, "test", "negative");
  return std::make_unique<int>(v);
}

// Two uses in one scope; the function returns Status.
Status quarter_into(int v, int* out) {
  KILN_ASSIGN_OR_RETURN(auto h, half(v));
  KILN_ASSIGN_OR_RETURN(auto q, half(h));
  *out = q;
  return {};
}

// The function returns another Expected type; the second use assigns an existing variable.
Expected<std::string> quarter_text(int v) {
  int q = 0;
  KILN_ASSIGN_OR_RETURN(int h, half(v));
  KILN_ASSIGN_OR_RETURN(q, half(h));
  return std::to_string(q);
}

TEST(Status, MakeErrorPrefixesComponent) {
  Status s = make_error(StatusCode::kNotFound, "runtime", "no tensor 'x'");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "[runtime] no tensor 'x'");
  EXPECT_EQ(s.to_string(), "NotFound: [runtime] no tensor 'x'");
  EXPECT_EQ(Status().to_string(), "OK");
}

TEST(Status, ExpectedFromOkStatusIsInternalError) {
  Expected<int> e{Status()};
  EXPECT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kInternal);
}

TEST(Status, ReturnIfErrorPropagates) {
  auto f = [](bool fail) -> Status {
    KILN_RETURN_IF_ERROR(fail ? make_error(StatusCode::kIoError, "test", "disk") : Status());
    return make_error(StatusCode::kInternal, "test", "reached the end");
  };
  EXPECT_EQ(f(true).code(), StatusCode::kIoError);
  EXPECT_EQ(f(false).code(), StatusCode::kInternal);
}

TEST(Status, AssignOrReturnBindsValues) {
  int out = 0;
  ASSERT_TRUE(quarter_into(12, &out).ok());
  EXPECT_EQ(out, 3);
  auto text = quarter_text(20);
  ASSERT_TRUE(text.ok()) << text.status().to_string();
  EXPECT_EQ(*text, "5");
}

TEST(Status, AssignOrReturnPropagatesCodeAndMessage) {
  int out = -1;
  Status s = quarter_into(6, &out);  // 6 -> 3, then 3 is odd
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "[test] 3 is odd");
  EXPECT_EQ(out, -1);

  auto text = quarter_text(7);  // fails on the first use
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(text.status().message(), "[test] 7 is odd");
}

TEST(Status, AssignOrReturnMovesMoveOnlyValues) {
  auto f = [](int v) -> Expected<int> {
    KILN_ASSIGN_OR_RETURN(auto p, boxed(v));
    return *p + 1;
  };
  EXPECT_EQ(*f(41), 42);
  EXPECT_EQ(f(-1).status().code(), StatusCode::kShapeError);
  EXPECT_EQ(f(-1).status().message(), "[test] negative");
}

TEST(Status, AssignOrReturnEvaluatesOnce) {
  int calls = 0;
  auto count = [&]() -> Expected<std::vector<int>> {
    ++calls;
    return std::vector<int>{1, 2, 3};
  };
  auto f = [&]() -> Status {
    KILN_ASSIGN_OR_RETURN(auto v, count());
    return v.size() == 3 ? Status() : make_error(StatusCode::kInternal, "test", "size");
  };
  EXPECT_TRUE(f().ok());
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace kiln
