// Seeded random fill layers on the CPU reference: uniform draws in [0, 1), standard normal draws
// (moments checked against their known values), the same numbers for the same seed and on every
// run, different numbers for another seed, the same element values whatever the shape, and
// integers spread evenly over [low, high).
#include <cmath>

#include "test_util.h"

namespace kiln {
namespace {

std::vector<double> draw(FillMode mode, int64_t seed, DataType dt, const Dims& dims) {
  Network net;
  auto y = net.add_random_fill(mode, seed, dt, dims.to_vector());
  EXPECT_TRUE(y.ok()) << y.status().to_string();
  EXPECT_TRUE(net.mark_output(*y, "y").ok());
  auto out = testing::build_and_run(net, {});
  return out.empty() ? std::vector<double>{} : testing::to_doubles(out[0]);
}

void moments(const std::vector<double>& v, double& mean, double& var) {
  mean = 0;
  for (double x : v) mean += x;
  mean /= static_cast<double>(v.size());
  var = 0;
  for (double x : v) var += (x - mean) * (x - mean);
  var /= static_cast<double>(v.size());
}

TEST(CpuRandomFill, UniformIsInUnitIntervalWithUniformMoments) {
  for (DataType dt : {DataType::kFloat32, DataType::kFloat64, DataType::kFloat16}) {
    auto v = draw(FillMode::kUniform, 42, dt, {200, 500});
    ASSERT_EQ(v.size(), 100000u);
    double mean = 0, var = 0;
    for (double x : v) {
      ASSERT_GE(x, 0.0);
      ASSERT_LT(x, 1.0);
    }
    moments(v, mean, var);
    EXPECT_NEAR(mean, 0.5, 0.01);
    EXPECT_NEAR(var, 1.0 / 12.0, 0.01);
  }
}

TEST(CpuRandomFill, NormalHasStandardMoments) {
  auto v = draw(FillMode::kNormal, 7, DataType::kFloat32, {100000});
  double mean = 0, var = 0;
  moments(v, mean, var);
  EXPECT_NEAR(mean, 0.0, 0.02);
  EXPECT_NEAR(var, 1.0, 0.02);
  int64_t beyond3 = 0;
  for (double x : v) beyond3 += std::fabs(x) > 3.0;
  EXPECT_NEAR(static_cast<double>(beyond3) / 1e5, 0.0027, 0.001);  // two-sided 3-sigma tail
}

TEST(CpuRandomFill, SeedDecidesTheNumbersAndShapeDoesNot) {
  auto a = draw(FillMode::kNormal, 99, DataType::kFloat32, {6, 7});
  auto b = draw(FillMode::kNormal, 99, DataType::kFloat32, {6, 7});
  auto c = draw(FillMode::kNormal, 100, DataType::kFloat32, {6, 7});
  auto flat = draw(FillMode::kNormal, 99, DataType::kFloat32, {42});
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_EQ(a, flat);
}

TEST(CpuRandomFill, IntegersCoverTheirRangeEvenly) {
  Network net;
  auto y = net.add_random_fill(FillMode::kInteger, 5, DataType::kInt64, {60000}, {}, -3, 3);
  ASSERT_TRUE(y.ok()) << y.status().to_string();
  ASSERT_TRUE(net.mark_output(*y, "y").ok());
  auto out = testing::build_and_run(net, {});
  ASSERT_EQ(out.size(), 1u);
  std::vector<int64_t> counts(6, 0);
  for (double v : testing::to_doubles(out[0])) {
    ASSERT_GE(v, -3.0);
    ASSERT_LT(v, 3.0);
    ASSERT_EQ(v, std::floor(v));
    ++counts[static_cast<size_t>(v + 3)];
  }
  for (int64_t c : counts) EXPECT_NEAR(static_cast<double>(c), 10000.0, 500.0);
}

TEST(CpuRandomFill, RandomFillOfIntegersIsRefused) {
  Network net;
  auto y = net.add_random_fill(FillMode::kUniform, 1, DataType::kInt32, {4});
  ASSERT_FALSE(y.ok());
  EXPECT_NE(y.status().message().find("random fill needs a float dtype"), std::string::npos)
      << y.status().to_string();
}

}  // namespace
}  // namespace kiln
