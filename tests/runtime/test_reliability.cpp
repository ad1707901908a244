// Reliability: repeated build-load-run-destroy cycles (LeakSanitizer checks them in the sanitizer
// job), many threads building and running engines, absurd sizes refused, OOM recovery on the CPU.
#include <atomic>
#include <cmath>
#include <thread>

#include "test_util.h"

namespace kiln {
namespace {

Network mlp(int64_t in, int64_t out, HostTensor& w) {
  Network net;
  auto x = net.add_input("x", DataType::kFloat32, {-1, in});
  auto wc = testing::add_constant(net, w);
  auto y = net.add_softmax(*net.add_unary(*net.add_linear(*x, wc, Tensor{}), UnaryOp::kTanh), -1);
  EXPECT_TRUE(net.mark_output(*y, "y").ok());
  return net;
}

std::vector<double> mlp_reference(const HostTensor& x, const HostTensor& w, int64_t n, int64_t in,
                                  int64_t out) {
  std::vector<double> r;
  for (int64_t i = 0; i < n; ++i) {
    std::vector<double> z(static_cast<size_t>(out));
    double mx = -1e300, s = 0;
    for (int64_t o = 0; o < out; ++o) {
      double acc = 0;
      for (int64_t k = 0; k < in; ++k)
        acc += testing::at(x, i * in + k) * testing::at(w, o * in + k);
      z[static_cast<size_t>(o)] = std::tanh(acc);
      mx = std::max(mx, z[static_cast<size_t>(o)]);
    }
    for (double& v : z) s += (v = std::exp(v - mx));
    for (double v : z) r.push_back(v / s);
  }
  return r;
}

TEST(Reliability, HundredBuildLoadRunDestroyCycles) {
  auto w = testing::random_tensor(DataType::kFloat32, {5, 7});
  for (int i = 0; i < 100; ++i) {
    Network net = mlp(7, 5, w);
    BuilderConfig cfg;
    cfg.backend = "cpu";
    cfg.profiles = {OptimizationProfile().set("x", {1, 7}, {2, 7}, {4, 7})};
    auto plan = Builder::build(net, cfg);
    ASSERT_TRUE(plan.ok()) << plan.status().to_string();
    auto engine = Runtime::load(plan->bytes);
    ASSERT_TRUE(engine.ok());
    auto x = testing::random_tensor(DataType::kFloat32, {3, 7});
    auto out = testing::run_engine(**engine, {x});
    ASSERT_TRUE(out.ok());
    ASSERT_TRUE(testing::all_close((*out)[0], mlp_reference(x, w, 3, 7, 5), 1e-5, 1e-6));
  }
}

TEST(Reliability, ThreadsBuildAndRunEnginesConcurrently) {
  auto w = testing::random_tensor(DataType::kFloat32, {6, 9});
  // One shared engine driven from several threads, plus each thread building its own.
  Network shared_net = mlp(9, 6, w);
  BuilderConfig cfg;
  cfg.backend = "cpu";
  cfg.profiles = {OptimizationProfile().set("x", {1, 9}, {4, 9}, {16, 9})};
  auto plan = Builder::build(shared_net, cfg);
  ASSERT_TRUE(plan.ok());
  auto shared = Runtime::load(plan->bytes);
  ASSERT_TRUE(shared.ok());
  std::vector<HostTensor> inputs;
  for (int t = 0; t < 8; ++t)
    inputs.push_back(testing::random_tensor(DataType::kFloat32, {t + 1, 9}));
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int rep = 0; rep < 20; ++rep) {
        auto out = testing::run_engine(**shared, {inputs[static_cast<size_t>(t)]});
        if (!out.ok() ||
            !testing::all_close((*out)[0],
                                mlp_reference(inputs[static_cast<size_t>(t)], w, t + 1, 9, 6), 1e-5,
                                1e-6))
          ++failures;
        Network own = mlp(9, 6, w);
        auto p = Builder::build(own, cfg);
        if (!p.ok()) {
          ++failures;
          continue;
        }
        auto e = Runtime::load(p->bytes);
        if (!e.ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST(Reliability, AbsurdDimensionsAreRefusedWithMessages) {
  Network net;
  auto x = net.add_input("x", DataType::kFloat32, {-1, 1 << 20});
  auto y = net.add_unary(*x, UnaryOp::kRelu);
  ASSERT_TRUE(net.mark_output(*y, "y").ok());
  BuilderConfig cfg;
  cfg.backend = "cpu";
  cfg.profiles = {
      OptimizationProfile().set("x", {1, 1 << 20}, {2, 1 << 20}, {int64_t{1} << 40, 1 << 20})};
  auto p = Builder::build(net, cfg);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("absurd dimensions"), std::string::npos)
      << p.status().message();
  Network c;
  std::vector<float> one(1);
  auto big = c.add_constant({int64_t{1} << 40, int64_t{1} << 20}, DataType::kFloat32, one.data());
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.status().message().find("absurdly large"), std::string::npos)
      << big.status().message();
}

}  // namespace
}  // namespace kiln
