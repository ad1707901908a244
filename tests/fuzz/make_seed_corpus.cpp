// Writes seed corpora for the fuzzers: plans and text IR of small real networks, a timing cache.
#include <filesystem>
#include <fstream>
#include <random>

#include "builder/timing_cache.h"
#include "kiln/kiln.h"

namespace {

void write(const std::string& path, const void* data, size_t n) {
  std::ofstream(path, std::ios::binary)
      .write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
}

std::vector<float> rnd(size_t n) {
  static std::mt19937 g(7);
  std::uniform_real_distribution<float> d(-1, 1);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = argc > 1 ? argv[1] : "corpus";
  for (const char* sub : {"plan", "text", "timing"})
    std::filesystem::create_directories(dir + "/" + sub);
  std::vector<kiln::Network> nets;
  {
    kiln::Network n;
    auto x = n.add_input("x", kiln::DataType::kFloat32, {-1, 3, 8, 8});
    auto w = rnd(4 * 3 * 9);
    kiln::ConvolutionParams cp;
    cp.pads_begin = {1, 1};
    auto c = n.add_convolution(
        *x, *n.add_constant({4, 3, 3, 3}, kiln::DataType::kFloat32, w.data()), kiln::Tensor{}, cp);
    kiln::PoolingParams pp;
    pp.kernel = {2, 2};
    pp.strides = {2, 2};
    auto p = n.add_pooling(*n.add_unary(*c, kiln::UnaryOp::kRelu), pp);
    (void)n.mark_output(*n.add_flatten(*p, 1), "y");
    nets.push_back(std::move(n));
  }
  {
    kiln::Network n;
    auto q = n.add_input("q", kiln::DataType::kFloat32, {2, 4, 8});
    auto s = n.add_shape(*q);
    auto g = n.add_gather(*s, *n.add_int_vector({0, 1}), 0);
    auto r = n.add_reshape_dynamic(
        *n.add_attention(*q, *q, *q, kiln::Tensor{}, kiln::AttentionParams{true, 0}),
        *n.add_concat({*g, *n.add_int_vector({-1})}, 0));
    (void)n.mark_output(*n.add_softmax(*r, -1), "y");
    nets.push_back(std::move(n));
  }
  int i = 0;
  for (auto& n : nets) {
    kiln::BuilderConfig cfg;
    cfg.backend = "cpu";
    if (i == 0)
      cfg.profiles = {
          kiln::OptimizationProfile().set("x", {1, 3, 8, 8}, {2, 3, 8, 8}, {4, 3, 8, 8})};
    auto plan = kiln::Builder::build(n, cfg);
    if (!plan.ok()) return 1;
    write(dir + "/plan/net" + std::to_string(i) + ".plan", plan->bytes.data(), plan->bytes.size());
    std::string text = n.to_text();
    write(dir + "/text/net" + std::to_string(i) + ".txt", text.data(), text.size());
    ++i;
  }
  auto cache = kiln::builder::TimingCache::load("", "env", kiln::default_logger());
  cache.put("gemm|f16|1x2x3", kiln::builder::CachedTactic{2, {1, 2, 3}, 0.5f});
  std::string t = cache.serialize();
  write(dir + "/timing/cache.txt", t.data(), t.size());
  return 0;
}
