// Kiln engine example: a small CNN + attention + MLP network built with the public API.
//
//   kiln_example_cnn_mlp_attention build model.plan   builds the network, writes the plan, and
//   writes
//                                                     model.plan.check (an input and the expected
//                                                     output, computed here by plain loops)
//   kiln_example_cnn_mlp_attention run model.plan     loads the plan in this (fresh) process, runs
//                                                     it on the check input and compares
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "kiln/kiln.h"

namespace {

constexpr int kC = 3, kH = 16, kW = 16, kF = 8, kTokens = 64, kHidden = 16, kClasses = 10;

struct Weights {
  std::vector<float> conv_w, conv_b, wq, wk, wv, w1, b1, w2, b2;
};

std::vector<float> random_vec(std::mt19937& rng, size_t n, float scale) {
  std::uniform_real_distribution<float> d(-scale, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

Weights make_weights() {
  std::mt19937 rng(1234);  // fixed so both processes agree without shipping weights separately
  Weights w;
  w.conv_w = random_vec(rng, kF * kC * 9, 0.3f);
  w.conv_b = random_vec(rng, kF, 0.1f);
  w.wq = random_vec(rng, kF * kF, 0.4f);
  w.wk = random_vec(rng, kF * kF, 0.4f);
  w.wv = random_vec(rng, kF * kF, 0.4f);
  w.w1 = random_vec(rng, kHidden * kF, 0.4f);
  w.b1 = random_vec(rng, kHidden, 0.1f);
  w.w2 = random_vec(rng, kClasses * kHidden, 0.4f);
  w.b2 = random_vec(rng, kClasses, 0.1f);
  return w;
}

#define CHECK_OK(expr)                                                      \
  do {                                                                      \
    auto&& r_ = (expr);                                                     \
    if (!r_.ok()) {                                                         \
      std::fprintf(stderr, "error: %s\n", r_.status().to_string().c_str()); \
      return 1;                                                             \
    }                                                                       \
  } while (0)

kiln::Status status_of(const kiln::Status& s) { return s; }
template <class T>
kiln::Status status_of(const kiln::Expected<T>& e) {
  return e.ok() ? kiln::Status{} : e.status();
}

// Adds the network; returns false (after printing why) on error.
bool build_network(kiln::Network& net, const Weights& w) {
  using namespace kiln;
  bool ok = true;
  auto need = [&](auto&& e) {
    Status s = status_of(e);
    if (!s.ok()) {
      std::fprintf(stderr, "error: %s\n", s.to_string().c_str());
      ok = false;
    }
    return ok;
  };
  auto cst = [&](const std::vector<float>& v, Dims d) {
    return *net.add_constant(d, DataType::kFloat32, v.data());
  };
  auto x = net.add_input("image", DataType::kFloat32, {-1, kC, kH, kW});
  if (!need(x)) return false;
  ConvolutionParams cp;
  cp.pads_begin = {1, 1};
  auto conv = net.add_convolution(*x, cst(w.conv_w, {kF, kC, 3, 3}), cst(w.conv_b, {kF}), cp);
  if (!need(conv)) return false;
  auto relu = net.add_unary(*conv, UnaryOp::kRelu);
  PoolingParams pp;
  pp.kernel = {2, 2};
  pp.strides = {2, 2};
  auto pool = net.add_pooling(*relu, pp);             // [N, 8, 8, 8]
  auto flat = net.add_flatten(*pool, 2);              // [N, 8, 64]
  auto tokens = net.add_transpose(*flat, {0, 2, 1});  // [N, 64, 8]
  if (!need(tokens)) return false;
  auto q = net.add_linear(*tokens, cst(w.wq, {kF, kF}), Tensor{});
  auto k = net.add_linear(*tokens, cst(w.wk, {kF, kF}), Tensor{});
  auto v = net.add_linear(*tokens, cst(w.wv, {kF, kF}), Tensor{});
  auto attn = net.add_attention(*q, *k, *v, Tensor{}, AttentionParams{});
  if (!need(attn)) return false;
  auto pooled = net.add_reduce(*attn, ReduceParams{ReduceOp::kMean, {1}, false, 1});  // [N, 8]
  auto h = net.add_unary(*net.add_linear(*pooled, cst(w.w1, {kHidden, kF}), cst(w.b1, {kHidden})),
                         UnaryOp::kGelu);
  auto logits = net.add_linear(*h, cst(w.w2, {kClasses, kHidden}), cst(w.b2, {kClasses}));
  auto probs = net.add_softmax(*logits, -1);
  if (!need(probs)) return false;
  return need(net.mark_output(*probs, "probs"));
}

// The same computation in plain loops (the independent reference).
std::vector<double> reference(const Weights& w, const std::vector<float>& img, int n) {
  std::vector<double> out;
  for (int b = 0; b < n; ++b) {
    std::vector<double> conv(kF * kH * kW);
    for (int f = 0; f < kF; ++f)
      for (int y = 0; y < kH; ++y)
        for (int x = 0; x < kW; ++x) {
          double s = w.conv_b[f];
          for (int c = 0; c < kC; ++c)
            for (int dy = -1; dy <= 1; ++dy)
              for (int dx = -1; dx <= 1; ++dx) {
                int yy = y + dy, xx = x + dx;
                if (yy < 0 || yy >= kH || xx < 0 || xx >= kW) continue;
                s += w.conv_w[((f * kC + c) * 3 + dy + 1) * 3 + dx + 1] *
                     img[((b * kC + c) * kH + yy) * kW + xx];
              }
          conv[(f * kH + y) * kW + x] = std::max(s, 0.0);
        }
    std::vector<double> tok(kTokens * kF);  // token t = y*8+x, feature f
    for (int f = 0; f < kF; ++f)
      for (int y = 0; y < 8; ++y)
        for (int x = 0; x < 8; ++x) {
          double m = -1e300;
          for (int dy = 0; dy < 2; ++dy)
            for (int dx = 0; dx < 2; ++dx)
              m = std::max(m, conv[(f * kH + 2 * y + dy) * kW + 2 * x + dx]);
          tok[(y * 8 + x) * kF + f] = m;
        }
    auto proj = [&](const std::vector<float>& wm) {
      std::vector<double> r(kTokens * kF);
      for (int t = 0; t < kTokens; ++t)
        for (int o = 0; o < kF; ++o) {
          double s = 0;
          for (int i = 0; i < kF; ++i) s += tok[t * kF + i] * wm[o * kF + i];
          r[t * kF + o] = s;
        }
      return r;
    };
    auto q = proj(w.wq), k = proj(w.wk), v = proj(w.wv);
    std::vector<double> pooled(kF, 0.0);
    for (int t = 0; t < kTokens; ++t) {
      std::vector<double> sc(kTokens);
      double mx = -1e300;
      for (int u = 0; u < kTokens; ++u) {
        double s = 0;
        for (int i = 0; i < kF; ++i) s += q[t * kF + i] * k[u * kF + i];
        sc[u] = s / std::sqrt(static_cast<double>(kF));
        mx = std::max(mx, sc[u]);
      }
      double z = 0;
      for (double& s : sc) z += (s = std::exp(s - mx));
      for (int i = 0; i < kF; ++i) {
        double a = 0;
        for (int u = 0; u < kTokens; ++u) a += sc[u] / z * v[u * kF + i];
        pooled[i] += a / kTokens;
      }
    }
    std::vector<double> hid(kHidden);
    for (int o = 0; o < kHidden; ++o) {
      double s = w.b1[o];
      for (int i = 0; i < kF; ++i) s += pooled[i] * w.w1[o * kF + i];
      hid[o] = 0.5 * s * (1 + std::erf(s / std::sqrt(2.0)));
    }
    std::vector<double> lg(kClasses);
    double mx = -1e300;
    for (int o = 0; o < kClasses; ++o) {
      double s = w.b2[o];
      for (int i = 0; i < kHidden; ++i) s += hid[i] * w.w2[o * kHidden + i];
      lg[o] = s;
      mx = std::max(mx, s);
    }
    double z = 0;
    for (double& s : lg) z += (s = std::exp(s - mx));
    for (double s : lg) out.push_back(s / z);
  }
  return out;
}

int build(const std::string& path) {
  Weights w = make_weights();
  kiln::Network net;
  if (!build_network(net, w)) return 1;
  kiln::BuilderConfig cfg;
  cfg.backend = "cpu";
  cfg.profiles.push_back(
      kiln::OptimizationProfile().set("image", {1, kC, kH, kW}, {2, kC, kH, kW}, {8, kC, kH, kW}));
  auto plan = kiln::Builder::build(net, cfg);
  CHECK_OK(plan);
  kiln::Status saved = plan->save(path);
  if (!saved.ok()) {
    std::fprintf(stderr, "error: %s\n", saved.to_string().c_str());
    return 1;
  }
  // A check file: batch size, input, expected probabilities.
  const int n = 3;
  std::mt19937 rng(std::random_device{}());
  std::vector<float> img = random_vec(rng, static_cast<size_t>(n) * kC * kH * kW, 1.0f);
  std::vector<double> want = reference(w, img, n);
  std::ofstream f(path + ".check", std::ios::binary);
  f.write(reinterpret_cast<const char*>(&n), sizeof n);
  f.write(reinterpret_cast<const char*>(img.data()),
          static_cast<std::streamsize>(img.size() * sizeof(float)));
  f.write(reinterpret_cast<const char*>(want.data()),
          static_cast<std::streamsize>(want.size() * sizeof(double)));
  std::printf("built %s (%zu bytes); %d layers\n", path.c_str(), plan->bytes.size(),
              net.num_layers());
  return f ? 0 : 1;
}

int run(const std::string& path) {
  auto engine = kiln::Runtime::load_file(path);
  CHECK_OK(engine);
  std::ifstream f(path + ".check", std::ios::binary);
  int n = 0;
  f.read(reinterpret_cast<char*>(&n), sizeof n);
  if (!f || n < 1 || n > 8) {
    std::fprintf(stderr, "error: cannot read %s.check\n", path.c_str());
    return 1;
  }
  std::vector<float> img(static_cast<size_t>(n) * kC * kH * kW);
  std::vector<double> want(static_cast<size_t>(n) * kClasses);
  f.read(reinterpret_cast<char*>(img.data()),
         static_cast<std::streamsize>(img.size() * sizeof(float)));
  f.read(reinterpret_cast<char*>(want.data()),
         static_cast<std::streamsize>(want.size() * sizeof(double)));
  auto ctx = (*engine)->create_context();
  CHECK_OK(ctx);
  std::vector<float> probs(want.size());
  auto& c = **ctx;
  for (const kiln::Status& s :
       {c.bind("image", img.data(), kiln::DataType::kFloat32, {n, kC, kH, kW}),
        c.bind("probs", probs.data(), kiln::DataType::kFloat32, {n, kClasses}), c.execute()}) {
    if (!s.ok()) {
      std::fprintf(stderr, "error: %s\n", s.to_string().c_str());
      return 1;
    }
  }
  double worst = 0;
  for (size_t i = 0; i < want.size(); ++i) worst = std::max(worst, std::fabs(probs[i] - want[i]));
  std::printf("%s", (*engine)->describe().c_str());
  std::printf("batch %d: max |kiln - reference| = %.3g\n", n, worst);
  for (int b = 0; b < n; ++b) {
    std::printf("  sample %d probs:", b);
    for (int k = 0; k < kClasses; ++k)
      std::printf(" %.4f", probs[static_cast<size_t>(b * kClasses + k)]);
    std::printf("\n");
  }
  if (!(worst < 1e-4)) {
    std::fprintf(stderr, "error: output differs from the reference by %g\n", worst);
    return 1;
  }
  std::printf("OK\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 || (std::strcmp(argv[1], "build") != 0 && std::strcmp(argv[1], "run") != 0)) {
    std::fprintf(stderr, "usage: %s build|run PLAN_PATH\n", argv[0]);
    return 2;
  }
  return std::strcmp(argv[1], "build") == 0 ? build(argv[2]) : run(argv[2]);
}
