// kv_cache_write on the CUDA backend with device memory the test owns: the rows land in the bound
// cache in place (no staging copy, also when the run is a replayed CUDA graph), a step sequence
// like a generator's (prefill, then one-row decode steps replayed from a graph) leaves the same
// cache as a host reference, fp16 and fp32, and a cache that moves to another address is written
// there.
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "gpu/gpu_test_util.h"
#include "kiln/kiln.h"

namespace kiln {
namespace {

constexpr int64_t kB = 2, kH = 2, kL = 16, kD = 8;

std::shared_ptr<Engine> build(DataType dt) {
  Network net;
  auto cache = net.add_input("cache", dt, {kB, kH, kL, kD});
  auto pos = net.add_input("pos", DataType::kInt64, {-1});
  auto upd = net.add_input("upd", dt, {kB, kH, -1, kD});
  auto w = net.add_kv_cache_write(*cache, *pos, *upd);
  EXPECT_TRUE(w.ok()) << w.status().to_string();
  ReduceParams r;
  r.op = ReduceOp::kSum;
  r.axes = {3};
  auto s = net.add_reduce(*net.add_cast(*w, DataType::kFloat32), r);
  EXPECT_TRUE(net.mark_output(*s, "row_sums").ok());
  BuilderConfig cfg;
  cfg.backend = "cuda";
  if (dt == DataType::kFloat16) cfg.enabled_precisions.push_back(Precision::kFP16);
  cfg.profiles.push_back(OptimizationProfile()
                             .set("pos", {1}, {1}, {kL})
                             .set("upd", {kB, kH, 1, kD}, {kB, kH, 1, kD}, {kB, kH, kL, kD}));
  auto plan = Builder::build(net, cfg);
  EXPECT_TRUE(plan.ok()) << plan.status().to_string();
  if (!plan.ok()) return nullptr;
  auto e = Runtime::load(plan->bytes);
  EXPECT_TRUE(e.ok()) << e.status().to_string();
  return e.ok() ? *e : nullptr;
}

uint16_t to_half_bits(float f) {
  // Values here are multiples of 1/64 in [-1, 1]: exact in fp16; convert through CUDA's rules.
  __half_raw h = __float2half(f);
  return h.x;
}

void run_steps(DataType dt, bool graphs) {
  auto engine = build(dt);
  ASSERT_TRUE(engine);
  auto ctx = engine->create_context();
  ASSERT_TRUE(ctx.ok());
  (*ctx)->set_cuda_graphs(graphs);
  const size_t es = dt == DataType::kFloat16 ? 2 : 4;
  const size_t n = static_cast<size_t>(kB * kH * kL * kD);
  std::vector<float> ref(n, 0.f);
  void *d_cache = nullptr, *d_cache2 = nullptr, *d_upd = nullptr, *d_pos = nullptr,
       *d_sums = nullptr;
  ASSERT_EQ(cudaMalloc(&d_cache, n * es), cudaSuccess);
  ASSERT_EQ(cudaMalloc(&d_cache2, n * es), cudaSuccess);
  ASSERT_EQ(cudaMemset(d_cache, 0, n * es), cudaSuccess);
  ASSERT_EQ(cudaMalloc(&d_upd, n * es), cudaSuccess);
  ASSERT_EQ(cudaMalloc(&d_pos, kL * 8), cudaSuccess);
  ASSERT_EQ(cudaMalloc(&d_sums, kB * kH * kL * 4), cudaSuccess);
  std::uniform_int_distribution<int> u(-64, 64);
  std::vector<std::vector<int64_t>> steps = {{0, 1, 2, 3}};
  for (int64_t p = 4; p < 12; ++p) steps.push_back({p});  // decode steps: replayed from a graph
  int step_no = 0;
  for (const auto& pos : steps) {
    if (step_no == 6) {  // the cache moves: the graph must write the new place
      ASSERT_EQ(cudaMemcpy(d_cache2, d_cache, n * es, cudaMemcpyDeviceToDevice), cudaSuccess);
      std::swap(d_cache, d_cache2);
    }
    ++step_no;
    const auto s = static_cast<int64_t>(pos.size());
    std::vector<float> upd(static_cast<size_t>(kB * kH * s * kD));
    for (float& v : upd) v = static_cast<float>(u(testing::rng())) / 64.f;
    for (int64_t o = 0; o < kB * kH; ++o)
      for (int64_t j = 0; j < s; ++j)
        for (int64_t d = 0; d < kD; ++d)
          ref[static_cast<size_t>((o * kL + pos[static_cast<size_t>(j)]) * kD + d)] =
              upd[static_cast<size_t>((o * s + j) * kD + d)];
    if (dt == DataType::kFloat16) {
      std::vector<uint16_t> h(upd.size());
      for (size_t i = 0; i < upd.size(); ++i) h[i] = to_half_bits(upd[i]);
      ASSERT_EQ(cudaMemcpy(d_upd, h.data(), h.size() * 2, cudaMemcpyHostToDevice), cudaSuccess);
    } else {
      ASSERT_EQ(cudaMemcpy(d_upd, upd.data(), upd.size() * 4, cudaMemcpyHostToDevice), cudaSuccess);
    }
    ASSERT_EQ(cudaMemcpy(d_pos, pos.data(), pos.size() * 8, cudaMemcpyHostToDevice), cudaSuccess);
    auto& c = **ctx;
    ASSERT_TRUE(c.bind("cache", d_cache, dt, {kB, kH, kL, kD}).ok());
    ASSERT_TRUE(c.bind("pos", d_pos, DataType::kInt64, {s}).ok());
    ASSERT_TRUE(c.bind("upd", d_upd, dt, {kB, kH, s, kD}).ok());
    ASSERT_TRUE(c.bind("row_sums", d_sums, DataType::kFloat32, {kB, kH, kL}).ok());
    Status st = c.execute();
    ASSERT_TRUE(st.ok()) << st.to_string();
    std::vector<float> got(n);
    if (dt == DataType::kFloat16) {
      std::vector<__half> h(n);
      ASSERT_EQ(cudaMemcpy(h.data(), d_cache, n * 2, cudaMemcpyDeviceToHost), cudaSuccess);
      for (size_t i = 0; i < n; ++i) got[i] = __half2float(h[i]);
    } else {
      ASSERT_EQ(cudaMemcpy(got.data(), d_cache, n * 4, cudaMemcpyDeviceToHost), cudaSuccess);
    }
    for (size_t i = 0; i < n; ++i)
      ASSERT_EQ(got[i], ref[i]) << "element " << i << " step " << step_no;
    std::vector<float> sums(static_cast<size_t>(kB * kH * kL));
    ASSERT_EQ(cudaMemcpy(sums.data(), d_sums, sums.size() * 4, cudaMemcpyDeviceToHost),
              cudaSuccess);
    for (int64_t r = 0; r < kB * kH * kL; ++r) {
      double want = 0;
      for (int64_t d = 0; d < kD; ++d) want += ref[static_cast<size_t>(r * kD + d)];
      ASSERT_NEAR(sums[static_cast<size_t>(r)], want, 1e-4) << "row " << r;
    }
  }
  for (void* p : {d_cache, d_cache2, d_upd, d_pos, d_sums}) cudaFree(p);
}

TEST(CudaKvCacheWrite, Fp32WithGraphs) {
  KILN_REQUIRE_GPU();
  run_steps(DataType::kFloat32, true);
}
TEST(CudaKvCacheWrite, Fp16WithGraphs) {
  KILN_REQUIRE_GPU();
  run_steps(DataType::kFloat16, true);
}
TEST(CudaKvCacheWrite, Fp32Eager) {
  KILN_REQUIRE_GPU();
  run_steps(DataType::kFloat32, false);
}

}  // namespace
}  // namespace kiln
