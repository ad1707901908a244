// Pointwise layers (binary, unary, where, cast, identity) against double-precision references.
#include <cmath>

#include "test_util.h"

namespace kiln {
namespace {

using testing::all_close;
using testing::build_and_run;
using testing::random_tensor;
using testing::to_doubles;

// Reference for output index i of a broadcast between dims a and b into out.
int64_t bcast_index(const Dims& in, const Dims& out, int64_t i) {
  int64_t idx = 0, stride = 1;
  int lead = out.rank() - in.rank();
  for (int d = out.rank() - 1; d >= 0; --d) {
    int64_t coord = i % out[d];
    i /= out[d];
    int di = d - lead;
    if (di >= 0) {
      if (in[di] != 1) idx += coord * stride;
      stride *= in[di];
    }
  }
  return idx;
}

double ref_binary(BinaryOp op, double a, double b) {
  switch (op) {
    case BinaryOp::kAdd:
      return a + b;
    case BinaryOp::kSub:
      return a - b;
    case BinaryOp::kMul:
      return a * b;
    case BinaryOp::kDiv:
      return a / b;
    case BinaryOp::kPow:
      return std::pow(a, b);
    case BinaryOp::kMax:
      return a > b ? a : b;
    case BinaryOp::kMin:
      return a < b ? a : b;
    case BinaryOp::kFloorDiv:
      return std::floor(a / b);
    case BinaryOp::kTruncDiv:
      return std::trunc(a / b);
    case BinaryOp::kMod:
      return a - std::floor(a / b) * b;
    case BinaryOp::kFmod:
      return std::fmod(a, b);
    case BinaryOp::kEqual:
      return a == b;
    case BinaryOp::kNotEqual:
      return a != b;
    case BinaryOp::kLess:
      return a < b;
    case BinaryOp::kLessEqual:
      return a <= b;
    case BinaryOp::kGreater:
      return a > b;
    case BinaryOp::kGreaterEqual:
      return a >= b;
    case BinaryOp::kAnd:
      return a != 0 && b != 0;
    case BinaryOp::kOr:
      return a != 0 || b != 0;
    case BinaryOp::kXor:
      return (a != 0) != (b != 0);
  }
  return 0;
}

struct BinaryCase {
  Dims a, b, out;
};

TEST(Pointwise, BinaryArithmeticAllFloatTypesWithBroadcast) {
  const BinaryCase cases[] = {{{2, 3, 4}, {2, 3, 4}, {2, 3, 4}},
                              {{2, 3, 4}, {4}, {2, 3, 4}},
                              {{2, 1, 4}, {3, 1}, {2, 3, 4}},
                              {{}, {5, 2}, {5, 2}}};
  const BinaryOp ops[] = {BinaryOp::kAdd, BinaryOp::kSub, BinaryOp::kMul, BinaryOp::kDiv,
                          BinaryOp::kMax, BinaryOp::kMin, BinaryOp::kPow, BinaryOp::kFloorDiv,
                          BinaryOp::kMod, BinaryOp::kFmod};
  for (DataType dt : testing::kFloatTypes) {
    for (const auto& c : cases) {
      for (BinaryOp op : ops) {
        SCOPED_TRACE(std::string(dtype_name(dt)) + " " +
                     std::string(enum_names(op)[static_cast<size_t>(op)]) + " " + c.a.to_string() +
                     c.b.to_string());
        bool pow_like = op == BinaryOp::kPow;
        auto a = random_tensor(dt, c.a, pow_like ? 0.5 : -3.0, pow_like ? 2.0 : 3.0);
        auto b = random_tensor(dt, c.b, 0.5, 2.5);  // positive, away from zero for div/mod
        Network net;
        auto x = net.add_input("a", dt, c.a);
        auto y = net.add_input("b", dt, c.b);
        auto z = net.add_elementwise(*x, *y, op);
        ASSERT_TRUE(z.ok()) << z.status().to_string();
        ASSERT_TRUE(net.mark_output(*z, "z").ok());
        auto outs = build_and_run(net, {a, b});
        ASSERT_EQ(outs.size(), 1u);
        ASSERT_TRUE(testing::has_type(outs[0], dt, c.out));
        std::vector<double> want;
        auto av = to_doubles(a), bv = to_doubles(b);
        for (int64_t i = 0; i < c.out.volume(); ++i)
          want.push_back(ref_binary(op, av[static_cast<size_t>(bcast_index(c.a, c.out, i))],
                                    bv[static_cast<size_t>(bcast_index(c.b, c.out, i))]));
        double tol = testing::default_tolerance(dt);
        // floor/mod are discontinuous: a rounding of a/b in 16-bit can flip them; compare in f32
        // only.
        if ((op == BinaryOp::kFloorDiv || op == BinaryOp::kMod || op == BinaryOp::kFmod) &&
            dt != DataType::kFloat32)
          continue;
        EXPECT_TRUE(all_close(outs[0], want, tol, tol));
      }
    }
  }
}

TEST(Pointwise, ComparisonsProduceBool) {
  const BinaryOp ops[] = {BinaryOp::kEqual,     BinaryOp::kNotEqual, BinaryOp::kLess,
                          BinaryOp::kLessEqual, BinaryOp::kGreater,  BinaryOp::kGreaterEqual};
  for (DataType dt : {DataType::kFloat32, DataType::kInt32, DataType::kInt64}) {
    for (BinaryOp op : ops) {
      auto a = random_tensor(dt, {3, 5}, -3, 3);
      auto b = random_tensor(dt, {5}, -3, 3);
      Network net;
      auto xa = net.add_input("a", dt, {3, 5});
      auto xb = net.add_input("b", dt, {5});
      auto z = net.add_elementwise(*xa, *xb, op);
      ASSERT_TRUE(net.mark_output(*z, "z").ok());
      auto outs = build_and_run(net, {a, b});
      ASSERT_EQ(outs.size(), 1u);
      ASSERT_TRUE(testing::has_type(outs[0], DataType::kBool, {3, 5}));
      std::vector<double> want;
      for (int64_t i = 0; i < 15; ++i)
        want.push_back(ref_binary(op, testing::at(a, i), testing::at(b, i % 5)));
      EXPECT_TRUE(all_close(outs[0], want, 0, 0));
    }
  }
}

TEST(Pointwise, IntegerArithmeticIsExactAndDivisionByZeroIsSafe) {
  for (DataType dt : {DataType::kInt32, DataType::kInt64, DataType::kInt8, DataType::kUInt8}) {
    for (BinaryOp op : {BinaryOp::kAdd, BinaryOp::kSub, BinaryOp::kMul, BinaryOp::kFloorDiv,
                        BinaryOp::kMod, BinaryOp::kTruncDiv, BinaryOp::kMax, BinaryOp::kMin}) {
      SCOPED_TRACE(std::string(dtype_name(dt)) + " " +
                   std::string(enum_names(op)[static_cast<size_t>(op)]));
      double lo = dt == DataType::kUInt8 ? 0 : -9;
      auto a = random_tensor(dt, {4, 6}, lo, 10);
      auto b = random_tensor(dt, {4, 6}, dt == DataType::kUInt8 ? 1 : -9, 10);
      Network net;
      auto xa = net.add_input("a", dt, {4, 6});
      auto xb = net.add_input("b", dt, {4, 6});
      auto z = net.add_elementwise(*xa, *xb, op);
      ASSERT_TRUE(net.mark_output(*z, "z").ok());
      auto outs = build_and_run(net, {a, b});
      ASSERT_EQ(outs.size(), 1u);
      std::vector<double> want;
      for (int64_t i = 0; i < 24; ++i) {
        auto x = static_cast<int64_t>(testing::at(a, i)),
             y = static_cast<int64_t>(testing::at(b, i));
        int64_t r = 0;
        switch (op) {
          case BinaryOp::kAdd:
            r = x + y;
            break;
          case BinaryOp::kSub:
            r = x - y;
            break;
          case BinaryOp::kMul:
            r = x * y;
            break;
          case BinaryOp::kFloorDiv:
            r = y == 0 ? 0
                       : static_cast<int64_t>(
                             std::floor(static_cast<double>(x) / static_cast<double>(y)));
            break;
          case BinaryOp::kTruncDiv:
            r = y == 0 ? 0 : x / y;
            break;
          case BinaryOp::kMod:
            r = y == 0 ? 0
                       : x - static_cast<int64_t>(
                                 std::floor(static_cast<double>(x) / static_cast<double>(y))) *
                                 y;
            break;
          case BinaryOp::kMax:
            r = std::max(x, y);
            break;
          case BinaryOp::kMin:
            r = std::min(x, y);
            break;
          default:
            break;
        }
        // wrap to the storage type like the kernel does
        if (dt == DataType::kInt8) r = static_cast<int8_t>(r);
        if (dt == DataType::kUInt8) r = static_cast<uint8_t>(r);
        if (dt == DataType::kInt32) r = static_cast<int32_t>(r);
        want.push_back(static_cast<double>(r));
      }
      EXPECT_TRUE(all_close(outs[0], want, 0, 0));
    }
  }
}

double ref_unary(UnaryOp op, double v, double alpha, double beta) {
  switch (op) {
    case UnaryOp::kAbs:
      return std::fabs(v);
    case UnaryOp::kNeg:
      return -v;
    case UnaryOp::kExp:
      return std::exp(v);
    case UnaryOp::kLog:
      return std::log(v);
    case UnaryOp::kSqrt:
      return std::sqrt(v);
    case UnaryOp::kRsqrt:
      return 1 / std::sqrt(v);
    case UnaryOp::kReciprocal:
      return 1 / v;
    case UnaryOp::kSin:
      return std::sin(v);
    case UnaryOp::kCos:
      return std::cos(v);
    case UnaryOp::kTanh:
      return std::tanh(v);
    case UnaryOp::kErf:
      return std::erf(v);
    case UnaryOp::kFloor:
      return std::floor(v);
    case UnaryOp::kCeil:
      return std::ceil(v);
    case UnaryOp::kRound:
      return std::nearbyint(v);
    case UnaryOp::kSign:
      return v > 0 ? 1 : (v < 0 ? -1 : 0);
    case UnaryOp::kRelu:
      return v > 0 ? v : 0;
    case UnaryOp::kLeakyRelu:
      return v > 0 ? v : alpha * v;
    case UnaryOp::kElu:
      return v > 0 ? v : alpha * (std::exp(v) - 1);
    case UnaryOp::kSelu:
      return 1.0507009873554805 * (v > 0 ? v : 1.6732632423543772 * (std::exp(v) - 1));
    case UnaryOp::kGelu:
      return v * 0.5 * (1 + std::erf(v / std::sqrt(2.0)));
    case UnaryOp::kGeluTanh:
      return 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
    case UnaryOp::kSilu:
      return v / (1 + std::exp(-v));
    case UnaryOp::kSigmoid:
      return 1 / (1 + std::exp(-v));
    case UnaryOp::kHardSigmoid:
      return std::clamp(v / 6 + 0.5, 0.0, 1.0);
    case UnaryOp::kHardSwish:
      return v * std::clamp(v / 6 + 0.5, 0.0, 1.0);
    case UnaryOp::kSoftplus:
      return std::log(1 + std::exp(v));
    case UnaryOp::kMish:
      return v * std::tanh(std::log(1 + std::exp(v)));
    case UnaryOp::kClamp:
      return std::clamp(v, alpha, beta);
    default:
      return NAN;
  }
}

TEST(Pointwise, UnaryAndActivationsAllFloatTypes) {
  struct U {
    UnaryOp op;
    double lo, hi, alpha, beta;
  };
  const U ops[] = {{UnaryOp::kAbs, -3, 3, 0, 0},         {UnaryOp::kNeg, -3, 3, 0, 0},
                   {UnaryOp::kExp, -3, 3, 0, 0},         {UnaryOp::kLog, 0.1, 5, 0, 0},
                   {UnaryOp::kSqrt, 0.1, 5, 0, 0},       {UnaryOp::kRsqrt, 0.1, 5, 0, 0},
                   {UnaryOp::kReciprocal, 0.5, 4, 0, 0}, {UnaryOp::kSin, -3, 3, 0, 0},
                   {UnaryOp::kCos, -3, 3, 0, 0},         {UnaryOp::kTanh, -3, 3, 0, 0},
                   {UnaryOp::kErf, -2, 2, 0, 0},         {UnaryOp::kFloor, -3, 3, 0, 0},
                   {UnaryOp::kCeil, -3, 3, 0, 0},        {UnaryOp::kRound, -3, 3, 0, 0},
                   {UnaryOp::kSign, -3, 3, 0, 0},        {UnaryOp::kRelu, -3, 3, 0, 0},
                   {UnaryOp::kLeakyRelu, -3, 3, 0.1, 0}, {UnaryOp::kElu, -3, 3, 1.3, 0},
                   {UnaryOp::kSelu, -3, 3, 0, 0},        {UnaryOp::kGelu, -3, 3, 0, 0},
                   {UnaryOp::kGeluTanh, -3, 3, 0, 0},    {UnaryOp::kSilu, -3, 3, 0, 0},
                   {UnaryOp::kSigmoid, -3, 3, 0, 0},     {UnaryOp::kHardSigmoid, -4, 4, 0, 0},
                   {UnaryOp::kHardSwish, -4, 4, 0, 0},   {UnaryOp::kSoftplus, -3, 3, 1, 20},
                   {UnaryOp::kMish, -3, 3, 0, 0},        {UnaryOp::kClamp, -3, 3, -1, 0.5}};
  for (DataType dt : testing::kFloatTypes) {
    for (const U& u : ops) {
      SCOPED_TRACE(std::string(dtype_name(dt)) + " " +
                   std::string(enum_names(u.op)[static_cast<size_t>(u.op)]));
      auto a = random_tensor(dt, {3, 7}, u.lo, u.hi);
      Network net;
      auto z = net.add_unary(*net.add_input("a", dt, {3, 7}), u.op, u.alpha, u.beta);
      ASSERT_TRUE(z.ok()) << z.status().to_string();
      ASSERT_TRUE(net.mark_output(*z, "z").ok());
      auto outs = build_and_run(net, {a});
      ASSERT_EQ(outs.size(), 1u);
      std::vector<double> want;
      for (double v : to_doubles(a)) want.push_back(ref_unary(u.op, v, u.alpha, u.beta));
      double tol = testing::default_tolerance(dt);
      EXPECT_TRUE(all_close(outs[0], want, tol, tol));
    }
  }
}

TEST(Pointwise, WhereBroadcastsAndCastConverts) {
  for (DataType dt : {DataType::kFloat32, DataType::kFloat16, DataType::kInt64}) {
    auto c = random_tensor(DataType::kBool, {2, 1, 4});
    auto a = random_tensor(dt, {3, 4}, -5, 5);
    auto b = random_tensor(dt, {2, 3, 1}, -5, 5);
    Network net;
    auto xc = net.add_input("c", DataType::kBool, {2, 1, 4});
    auto xa = net.add_input("a", dt, {3, 4});
    auto xb = net.add_input("b", dt, {2, 3, 1});
    auto z = net.add_where(*xc, *xa, *xb);
    ASSERT_TRUE(z.ok()) << z.status().to_string();
    auto cast = net.add_cast(*z, DataType::kInt32);
    ASSERT_TRUE(net.mark_output(*z, "z").ok());
    ASSERT_TRUE(net.mark_output(*cast, "zi").ok());
    auto outs = build_and_run(net, {c, a, b});
    ASSERT_EQ(outs.size(), 2u);
    Dims od{2, 3, 4};
    std::vector<double> want, want_i;
    for (int64_t i = 0; i < 24; ++i) {
      double v = testing::at(c, bcast_index({2, 1, 4}, od, i)) != 0
                     ? testing::at(a, bcast_index({3, 4}, od, i))
                     : testing::at(b, bcast_index({2, 3, 1}, od, i));
      want.push_back(v);
      want_i.push_back(std::trunc(v));
    }
    EXPECT_TRUE(all_close(outs[0], want, 0, 0));
    EXPECT_TRUE(all_close(outs[1], want_i, 0, 0));
  }
}

TEST(Pointwise, DynamicShapesResolvePerRun) {
  Network net;
  auto x = net.add_input("x", DataType::kFloat32, {-1, 8});
  auto bias = testing::add_constant(net, random_tensor(DataType::kFloat32, {8}));
  auto y = net.add_unary(*net.add_elementwise(*x, bias, BinaryOp::kAdd), UnaryOp::kGelu);
  ASSERT_TRUE(net.mark_output(*y, "y").ok());
  BuilderConfig cfg;
  cfg.backend = "cpu";
  cfg.profiles.push_back(OptimizationProfile().set("x", {1, 8}, {4, 8}, {16, 8}));
  auto plan = Builder::build(net, cfg);
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  auto engine = Runtime::load(plan->bytes);
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();
  for (int64_t n : {1, 5, 16}) {
    auto in = random_tensor(DataType::kFloat32, {n, 8});
    auto outs = testing::run_engine(**engine, {in});
    ASSERT_TRUE(outs.ok()) << outs.status().to_string();
    ASSERT_TRUE(testing::has_type((*outs)[0], DataType::kFloat32, {n, 8}));
  }
  auto bad = testing::run_engine(**engine, {random_tensor(DataType::kFloat32, {17, 8})});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kShapeError);
  EXPECT_NE(bad.status().message().find("outside optimization profile 0 range [1, 16]"),
            std::string::npos)
      << bad.status().message();
}

}  // namespace
}  // namespace kiln
