// kv_cache_write on the CUDA backend with device memory the test owns: the rows land in the bound
// cache in place (no staging copy, also when the run is a replayed CUDA graph), a step sequence
// like a generator's (prefill, then one-row decode steps replayed from a graph) leaves the same
// cache as a host reference, fp16 and fp32, and a cache that moves to another address is written
// there. Attention of a decode step over the cache (the split-K decode kernel,
// kernels/attention_decode.cu) against the CPU reference: cache lengths 1 to 2048 (odd ones too),
// GQA ratios 1/4/8 (k/v broadcast along the query-heads-per-key-head dim), head dims 64 and 128,
// 1 to 3 new tokens, left-padded batches (each sequence its own valid columns), fp16 and bf16, and
// a whole decode step (cache write + attention) replayed from a CUDA graph.
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "backends/kv_cache_nets.h"
#include "gpu/gpu_test_util.h"
#include "kiln/kiln.h"
#include "test_util.h"

namespace kiln {
namespace {

constexpr int64_t kB = 2, kH = 2, kL = 16, kD = 8;

std::shared_ptr<Engine> build(DataType dt) {
  const testing::KvCacheDims dims{kB, kH, kL, kD};
  return testing::build_kv_cache_engine(testing::kv_cache_net(dt, dims), "cuda", dt, dims);
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

// ---- attention over the cache (decode) ----

// Per sequence b, the first `start[b]` cache columns are left padding: masked out for every query.
// Bool mask (true = attend) or additive (0 / -30000, as a padding mask in 16-bit types).
HostTensor padding_mask(DataType dt, bool as_bool, int64_t b, int64_t lq, int64_t l,
                        const std::vector<int64_t>& start) {
  std::vector<double> m(static_cast<size_t>(b * lq * l));
  for (int64_t i = 0; i < b; ++i)
    for (int64_t r = 0; r < lq; ++r)
      for (int64_t j = 0; j < l; ++j) {
        const bool attend = j >= start[static_cast<size_t>(i)];
        m[static_cast<size_t>((i * lq + r) * l + j)] =
            as_bool ? (attend ? 1 : 0) : (attend ? 0.0 : -30000.0);
      }
  return testing::make_tensor(as_bool ? DataType::kBool : dt, {b, 1, 1, lq, l}, m);
}

struct DecodeCase {
  DataType dt;
  int64_t batch, kv_heads, rep, lq, len, e;
  bool bool_mask;
};

// q [B, Hkv, R, Lq, E] attends over k, v [B, Hkv, 1, L, E] (GQA: broadcast over R) with a padding
// mask [B, 1, 1, Lq, L]; sequences start at different columns (the last one at 0).
void run_decode_case(const DecodeCase& c) {
  SCOPED_TRACE(std::string(dtype_name(c.dt)) + " B=" + std::to_string(c.batch) +
               " Hkv=" + std::to_string(c.kv_heads) + " R=" + std::to_string(c.rep) +
               " Lq=" + std::to_string(c.lq) + " L=" + std::to_string(c.len) +
               " E=" + std::to_string(c.e) + (c.bool_mask ? " bool" : " additive") +
               " seed=" + std::to_string(testing::rng_seed()));
  const Dims qd = {c.batch, c.kv_heads, c.rep, c.lq, c.e};
  const Dims kd = {c.batch, c.kv_heads, 1, c.len, c.e};
  std::vector<int64_t> start(static_cast<size_t>(c.batch));
  std::uniform_int_distribution<int64_t> pad(0, c.len - 1);
  for (int64_t i = 0; i + 1 < c.batch; ++i) start[static_cast<size_t>(i)] = pad(testing::rng());
  Network net;
  auto q = net.add_input("q", c.dt, qd);
  auto k = net.add_input("k", c.dt, kd);
  auto v = net.add_input("v", c.dt, kd);
  auto m =
      net.add_input("mask", c.bool_mask ? DataType::kBool : c.dt, {c.batch, 1, 1, c.lq, c.len});
  ASSERT_TRUE(q.ok() && k.ok() && v.ok() && m.ok());
  auto y = net.add_attention(*q, *k, *v, *m, AttentionParams{});
  ASSERT_TRUE(y.ok()) << y.status().to_string();
  ASSERT_TRUE(net.mark_output(*y, "y").ok());
  std::vector<HostTensor> inputs = {testing::random_tensor(c.dt, qd, -2, 2),
                                    testing::random_tensor(c.dt, kd, -2, 2),
                                    testing::random_tensor(c.dt, kd, -1, 1),
                                    padding_mask(c.dt, c.bool_mask, c.batch, c.lq, c.len, start)};
  testing::GpuCompareOptions o;
  o.rtol = o.atol = 2e-2;
  testing::expect_cuda_matches_cpu(net, inputs, {}, o);
}

TEST(CudaDecodeAttention, CacheLengthsGqaRatiosHeadDims) {
  KILN_REQUIRE_GPU();
  int i = 0;
  for (DataType dt : {DataType::kFloat16, DataType::kBFloat16})
    for (int64_t e : {64, 128})
      for (int64_t rep : {1, 4, 8})
        for (int64_t len : {1, 7, 64, 129, 1000, 2048}) {
          const int64_t lq = (i % 3 == 2) ? 3 : 1;  // mostly one new token, sometimes three
          run_decode_case({dt, 3, 2, rep, lq, len, e, i++ % 2 == 0});
        }
}

TEST(CudaDecodeAttention, LargeBatchFewSplitsAndMqa) {
  KILN_REQUIRE_GPU();
  // Many batch indices (one split each) and MQA (one key head for 14 query heads, Qwen2.5-0.5B's).
  run_decode_case({DataType::kFloat16, 8, 1, 14, 1, 4096, 64, false});
  run_decode_case({DataType::kBFloat16, 16, 8, 4, 1, 333, 128, true});
  run_decode_case({DataType::kFloat16, 1, 1, 1, 4, 97, 64, true});  // 4 tokens: the widest
}

// A whole decode step as a generator runs it: the new key/value rows are written into the caches
// in place, then q attends over the written caches (GQA 4) with a left-padding mask; dynamic
// positions, replayed from a CUDA graph, against the CPU reference.
TEST(CudaDecodeAttention, CacheWriteThenAttendInOneEngine) {
  KILN_REQUIRE_GPU();
  for (DataType dt : {DataType::kFloat16, DataType::kBFloat16}) {
    constexpr int64_t b = 2, hkv = 2, rep = 4, l = 300, e = 128;
    SCOPED_TRACE(std::string(dtype_name(dt)) + " seed=" + std::to_string(testing::rng_seed()));
    Network net;
    auto kc = net.add_input("k_cache", dt, {b, hkv, l, e});
    auto vc = net.add_input("v_cache", dt, {b, hkv, l, e});
    auto pos = net.add_input("pos", DataType::kInt64, {1});
    auto kn = net.add_input("k_new", dt, {b, hkv, 1, e});
    auto vn = net.add_input("v_new", dt, {b, hkv, 1, e});
    auto q = net.add_input("q", dt, {b, hkv, rep, 1, e});
    auto m = net.add_input("mask", dt, {b, 1, 1, 1, l});
    ASSERT_TRUE(kc.ok() && vc.ok() && pos.ok() && kn.ok() && vn.ok() && q.ok() && m.ok());
    auto kw = net.add_kv_cache_write(*kc, *pos, *kn);
    auto vw = net.add_kv_cache_write(*vc, *pos, *vn);
    ASSERT_TRUE(kw.ok() && vw.ok());
    auto k5 = net.add_unsqueeze(*kw, {2});
    auto v5 = net.add_unsqueeze(*vw, {2});
    ASSERT_TRUE(k5.ok() && v5.ok());
    AttentionParams p;
    p.zero_masked_rows = true;
    auto y = net.add_attention(*q, *k5, *v5, *m, p);
    ASSERT_TRUE(y.ok()) << y.status().to_string();
    ASSERT_TRUE(net.mark_output(*y, "y").ok());
    const int64_t step = 250;  // columns 0..step are written; sequence 0 starts at 40
    HostTensor kcache = testing::random_tensor(dt, {b, hkv, l, e}, -2, 2);
    HostTensor vcache = testing::random_tensor(dt, {b, hkv, l, e}, -1, 1);
    std::vector<HostTensor> inputs = {kcache,
                                      vcache,
                                      testing::make_tensor(DataType::kInt64, {1}, {step}),
                                      testing::random_tensor(dt, {b, hkv, 1, e}, -2, 2),
                                      testing::random_tensor(dt, {b, hkv, 1, e}, -1, 1),
                                      testing::random_tensor(dt, {b, hkv, rep, 1, e}, -2, 2)};
    std::vector<double> mask(static_cast<size_t>(b * l), -30000.0);
    for (int64_t j = 40; j <= step; ++j) mask[static_cast<size_t>(j)] = 0.0;
    for (int64_t j = 0; j <= step; ++j) mask[static_cast<size_t>(l + j)] = 0.0;
    inputs.push_back(testing::make_tensor(dt, {b, 1, 1, 1, l}, mask));
    testing::GpuCompareOptions o;
    o.rtol = o.atol = 2e-2;
    testing::expect_cuda_matches_cpu(net, inputs, {}, o);
  }
}

}  // namespace
}  // namespace kiln
