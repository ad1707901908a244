// Builds y = relu(x W^T + b) with the installed engine, runs it on the CPU backend and checks it
// against the same computed by hand. Exit 0 when it matches.
#include <cmath>
#include <cstdio>
#include <vector>

#include "kiln/kiln.h"

int main() {
  const std::vector<float> w = {1, -2, 0.5f, 3, 0, -1};  // [2 out, 3 in]
  const std::vector<float> b = {0.25f, -4};
  const std::vector<float> x = {1, 2, 3, -1, 0.5f, 2};  // [2 rows, 3 in]
  kiln::Network net;
  auto in = net.add_input("x", kiln::DataType::kFloat32, {-1, 3});
  auto wt = net.add_constant({2, 3}, kiln::DataType::kFloat32, w.data());
  auto bt = net.add_constant({2}, kiln::DataType::kFloat32, b.data());
  auto y = net.add_linear(*in, *wt, *bt);
  auto r = net.add_unary(*y, kiln::UnaryOp::kRelu);
  if (!net.mark_output(*r, "y").ok()) return 1;
  kiln::BuilderConfig cfg;
  cfg.backend = "cpu";
  cfg.profiles.push_back(kiln::OptimizationProfile().set("x", {1, 3}, {2, 3}, {4, 3}));
  auto plan = kiln::Builder::build(net, cfg);
  if (!plan) {
    std::printf("build failed: %s\n", plan.status().to_string().c_str());
    return 1;
  }
  auto engine = kiln::Runtime::load(plan->bytes);
  auto ctx = (*engine)->create_context();
  std::vector<float> out(4, -1.0f);
  (*ctx)->bind("x", const_cast<float*>(x.data()), kiln::DataType::kFloat32, {2, 3});
  (*ctx)->bind("y", out.data(), kiln::DataType::kFloat32, {2, 2});
  if (auto s = (*ctx)->execute(); !s.ok()) {
    std::printf("execute failed: %s\n", s.to_string().c_str());
    return 1;
  }
  for (int i = 0; i < 2; ++i) {
    for (int o = 0; o < 2; ++o) {
      float ref = b[o];
      for (int k = 0; k < 3; ++k) ref += x[i * 3 + k] * w[o * 3 + k];
      ref = ref > 0 ? ref : 0;
      if (std::fabs(out[i * 2 + o] - ref) > 1e-5f) {
        std::printf("mismatch at [%d,%d]: %f vs %f\n", i, o, out[i * 2 + o], ref);
        return 1;
      }
    }
  }
  std::printf("engine_consumer: ok (kiln %s)\n", kiln::version());
  return 0;
}
