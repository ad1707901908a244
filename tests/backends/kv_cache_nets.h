// The kv_cache_write test network and its engine, shared by the CPU test
// (backends/cpu/test_kv_cache.cpp) and the GPU test (gpu/test_cuda_kv_cache.cpp): a cache input
// [B, H, L, D] written in place at `pos` by `upd` rows, read back as per-row sums (float32).
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "kiln/kiln.h"

namespace kiln::testing {

struct KvCacheDims {
  int64_t b, h, l, d;
};

/// cache [B, H, L, D] (input), pos int64 [S], upd [B, H, S, D] -> kv_cache_write along `axis` ->
/// float32 (a cast unless the cache is float32) -> sum over D: output "row_sums" [B, H, L].
inline Network kv_cache_net(DataType dt, KvCacheDims k, int64_t axis = 2) {
  Network net;
  auto cache = net.add_input("cache", dt, {k.b, k.h, k.l, k.d});
  auto pos = net.add_input("pos", DataType::kInt64, {-1});
  auto upd = net.add_input("upd", dt, {k.b, k.h, -1, k.d});
  EXPECT_TRUE(cache.ok() && pos.ok() && upd.ok());
  KvCacheWriteParams p;
  p.axis = axis;
  auto w = net.add_kv_cache_write(*cache, *pos, *upd, p);
  EXPECT_TRUE(w.ok()) << w.status().to_string();
  Tensor rows = *w;
  if (dt != DataType::kFloat32) rows = *net.add_cast(rows, DataType::kFloat32);
  ReduceParams r;
  r.op = ReduceOp::kSum;
  r.axes = {3};
  auto s = net.add_reduce(rows, r);
  EXPECT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_TRUE(net.mark_output(*s, "row_sums").ok());
  return net;
}

/// The engine of `net` on `backend` with one profile: 1..L positions (opt 1, a decode step).
inline std::shared_ptr<Engine> build_kv_cache_engine(const Network& net, const std::string& backend,
                                                     DataType dt, KvCacheDims k) {
  BuilderConfig cfg;
  cfg.backend = backend;
  if (dt == DataType::kFloat16) cfg.enabled_precisions.push_back(Precision::kFP16);
  cfg.profiles.push_back(
      OptimizationProfile()
          .set("pos", {1}, {1}, {k.l})
          .set("upd", {k.b, k.h, 1, k.d}, {k.b, k.h, 1, k.d}, {k.b, k.h, k.l, k.d}));
  auto plan = Builder::build(net, cfg);
  EXPECT_TRUE(plan.ok()) << plan.status().to_string();
  if (!plan.ok()) return nullptr;
  auto e = Runtime::load(plan->bytes);
  EXPECT_TRUE(e.ok()) << e.status().to_string();
  return e.ok() ? *e : nullptr;
}

}  // namespace kiln::testing
