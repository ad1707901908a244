// CPU reference kernel: scaled dot-product attention, through the public API, against a direct
// softmax(q k^T * scale + mask) v written here in double, and a few hand-computed cases.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "test_util.h"

namespace kiln {
namespace {

using testing::unflatten;

using testing::all_close;
using testing::build_and_run;
using testing::default_tolerance;
using testing::has_type;
using testing::kFloatTypes;
using testing::make_tensor;
using testing::random_tensor;
using testing::rng_seed;
using testing::to_doubles;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

std::string trace(const std::string& what) { return what + " seed=" + std::to_string(rng_seed()); }

// Flat index into `in` of the (right-aligned) broadcast multi-index `oidx`.
int64_t bcast_index(const std::vector<int64_t>& oidx, const Dims& in) {
  int lead = static_cast<int>(oidx.size()) - in.rank();
  int64_t f = 0;
  for (int k = 0; k < in.rank(); ++k)
    f = f * in[k] + (in[k] == 1 ? 0 : oidx[static_cast<size_t>(k + lead)]);
  return f;
}

struct Ref {
  Dims dims;
  std::vector<double> values;
};

// Direct attention in double. mask: nullptr, bool (true = attend) or float (added).
Ref attention_ref(const HostTensor& q, const HostTensor& k, const HostTensor& v,
                  const HostTensor* mask, bool causal, double scale) {
  std::vector<double> qv = to_doubles(q), kv = to_doubles(k), vv = to_doubles(v), mv;
  if (mask) mv = to_doubles(*mask);
  const bool bool_mask = mask && mask->type.dtype == DataType::kBool;
  int r = q.type.dims.rank();
  int64_t lq = q.type.dims[r - 2], e = q.type.dims[r - 1], lk = k.type.dims[r - 2],
          ev = v.type.dims[r - 1];
  if (scale == 0) scale = 1.0 / std::sqrt(static_cast<double>(e));
  Ref out;
  for (int i = 0; i < r - 2; ++i) {
    out.dims.push_back(std::max({q.type.dims[i], k.type.dims[i], v.type.dims[i]}));
  }
  Dims batch = out.dims;
  out.dims.push_back(lq);
  out.dims.push_back(ev);
  Dims scores = batch;
  scores.push_back(lq);
  scores.push_back(lk);
  for (int64_t b = 0; b < batch.volume(); ++b) {
    std::vector<int64_t> bi = unflatten(b, batch);
    int64_t qb = 0, kb = 0, vb = 0;
    for (int i = 0; i < r - 2; ++i) {
      auto u = static_cast<size_t>(i);
      qb = qb * q.type.dims[i] + (q.type.dims[i] == 1 ? 0 : bi[u]);
      kb = kb * k.type.dims[i] + (k.type.dims[i] == 1 ? 0 : bi[u]);
      vb = vb * v.type.dims[i] + (v.type.dims[i] == 1 ? 0 : bi[u]);
    }
    for (int64_t i = 0; i < lq; ++i) {
      std::vector<double> s(static_cast<size_t>(lk));
      for (int64_t j = 0; j < lk; ++j) {
        double dot = 0;
        for (int64_t c = 0; c < e; ++c)
          dot += qv[static_cast<size_t>((qb * lq + i) * e + c)] *
                 kv[static_cast<size_t>((kb * lk + j) * e + c)];
        double sc = dot * scale;
        if (mask) {
          std::vector<int64_t> sidx = bi;
          sidx.push_back(i);
          sidx.push_back(j);
          double m = mv[static_cast<size_t>(bcast_index(sidx, mask->type.dims))];
          if (bool_mask) {
            if (m == 0) sc = -kInf;
          } else {
            sc += m;
          }
        }
        if (causal && j > i) sc = -kInf;
        s[static_cast<size_t>(j)] = sc;
      }
      double mx = -kInf;
      for (double x : s) mx = std::max(mx, x);
      double sum = 0;
      for (double& x : s) {
        x = mx == -kInf ? kNaN : std::exp(x - mx);  // fully masked row: NaN, like torch
        sum += x;
      }
      for (int64_t c = 0; c < ev; ++c) {
        double acc = 0;
        for (int64_t j = 0; j < lk; ++j)
          acc += s[static_cast<size_t>(j)] / sum * vv[static_cast<size_t>((vb * lk + j) * ev + c)];
        out.values.push_back(acc);
      }
    }
  }
  return out;
}

HostTensor run_attention(const HostTensor& q, const HostTensor& k, const HostTensor& v,
                         const HostTensor* mask, const AttentionParams& p) {
  Network net;
  auto tq = net.add_input("q", q.type.dtype, q.type.dims);
  auto tk = net.add_input("k", k.type.dtype, k.type.dims);
  auto tv = net.add_input("v", v.type.dtype, v.type.dims);
  EXPECT_TRUE(tq.ok() && tk.ok() && tv.ok());
  if (!tq.ok() || !tk.ok() || !tv.ok()) return {};
  Tensor tm;
  std::vector<HostTensor> ins = {q, k, v};
  if (mask) {
    auto m = net.add_input("mask", mask->type.dtype, mask->type.dims);
    EXPECT_TRUE(m.ok());
    if (!m.ok()) return {};
    tm = *m;
    ins.push_back(*mask);
  }
  auto y = net.add_attention(*tq, *tk, *tv, tm, p);
  EXPECT_TRUE(y.ok()) << y.status().to_string();
  if (!y.ok()) return {};
  EXPECT_TRUE(net.mark_output(*y, "y").ok());
  auto outs = build_and_run(net, ins);
  if (outs.size() != 1) {
    ADD_FAILURE() << "expected one output";
    return {};
  }
  return outs[0];
}

// A bool mask with at least one attended position in every [Lq, Lk] row.
HostTensor random_bool_mask(const Dims& d) {
  HostTensor m = random_tensor(DataType::kBool, d);
  int64_t lk = d[d.rank() - 1];
  for (int64_t row = 0; lk > 0 && row < m.numel() / lk; ++row)
    m.as<uint8_t>()[row * lk + row % lk] = 1;
  return m;
}

struct Case {
  std::string name;
  Dims q, k, v;
  enum { kNone, kBool, kFloat } mask;
  Dims mask_dims;
  bool causal;
  double scale;
};

const std::vector<Case> kCases = {
    {"plain", {2, 3, 5, 8}, {2, 3, 7, 8}, {2, 3, 7, 6}, Case::kNone, {}, false, 0.0},
    {"rank2", {4, 8}, {6, 8}, {6, 3}, Case::kNone, {}, false, 0.0},
    {"bool_mask_full", {2, 5, 4}, {2, 7, 4}, {2, 7, 4}, Case::kBool, {2, 5, 7}, false, 0.0},
    {"bool_mask_bcast", {2, 3, 5, 8}, {2, 3, 7, 8}, {2, 3, 7, 8}, Case::kBool, {5, 7}, false, 0.0},
    {"bool_mask_keys",
     {2, 3, 5, 8},
     {2, 3, 7, 8},
     {2, 3, 7, 8},
     Case::kBool,
     {2, 1, 1, 7},
     false,
     0.0},
    {"float_mask",
     {2, 3, 5, 8},
     {2, 3, 7, 8},
     {2, 3, 7, 4},
     Case::kFloat,
     {1, 3, 5, 7},
     false,
     0.0},
    {"causal_square", {2, 2, 6, 8}, {2, 2, 6, 8}, {2, 2, 6, 8}, Case::kNone, {}, true, 0.0},
    {"causal_lq_lt_lk", {1, 4, 8}, {1, 6, 8}, {1, 6, 5}, Case::kNone, {}, true, 0.0},
    {"causal_lq_gt_lk", {1, 6, 8}, {1, 4, 8}, {1, 4, 5}, Case::kNone, {}, true, 0.0},
    {"causal_and_float_mask", {2, 6, 4}, {2, 6, 4}, {2, 6, 4}, Case::kFloat, {6, 6}, true, 0.0},
    {"scale", {2, 3, 5, 8}, {2, 3, 7, 8}, {2, 3, 7, 6}, Case::kNone, {}, false, 0.3},
    {"bcast_batch", {2, 1, 5, 8}, {1, 3, 7, 8}, {2, 3, 7, 6}, Case::kNone, {}, false, 0.0},
    {"bcast_batch_mask",
     {2, 1, 5, 8},
     {1, 3, 7, 8},
     {1, 3, 7, 6},
     Case::kFloat,
     {2, 1, 5, 1},
     false,
     0.7},
    {"lq1", {3, 1, 16}, {3, 9, 16}, {3, 9, 16}, Case::kNone, {}, false, 0.0},
    {"empty_batch", {0, 5, 8}, {0, 7, 8}, {0, 7, 6}, Case::kNone, {}, false, 0.0},
    {"empty_lq", {2, 0, 8}, {2, 7, 8}, {2, 7, 6}, Case::kNone, {}, false, 0.0},
};

TEST(CpuAttention, CasesAgainstReference) {
  for (DataType dt : kFloatTypes) {
    for (const Case& c : kCases) {
      SCOPED_TRACE(trace(std::string(dtype_name(dt)) + " " + c.name));
      HostTensor q = random_tensor(dt, c.q), k = random_tensor(dt, c.k), v = random_tensor(dt, c.v);
      HostTensor mask;
      if (c.mask == Case::kBool) mask = random_bool_mask(c.mask_dims);
      if (c.mask == Case::kFloat) mask = random_tensor(dt, c.mask_dims, -2.0, 2.0);
      const HostTensor* mp = c.mask == Case::kNone ? nullptr : &mask;
      AttentionParams p;
      p.causal = c.causal;
      p.scale = c.scale;
      Ref ref = attention_ref(q, k, v, mp, c.causal, c.scale);
      HostTensor got = run_attention(q, k, v, mp, p);
      ASSERT_TRUE(has_type(got, dt, ref.dims));
      double tol = default_tolerance(dt);
      EXPECT_TRUE(all_close(got, ref.values, tol, tol));
    }
  }
}

TEST(CpuAttention, HandComputed) {
  // q = [1, 0]; keys [1, 0] and [0, 1]; scale 1: softmax([1, 0]) = [e/(e+1), 1/(e+1)].
  HostTensor q = make_tensor(DataType::kFloat32, {1, 2}, {1, 0});
  HostTensor k = make_tensor(DataType::kFloat32, {2, 2}, {1, 0, 0, 1});
  HostTensor v = make_tensor(DataType::kFloat32, {2, 2}, {1, 2, 3, 4});
  double p0 = std::exp(1.0) / (std::exp(1.0) + 1.0), p1 = 1.0 - p0;
  AttentionParams p;
  p.scale = 1.0;
  HostTensor got = run_attention(q, k, v, nullptr, p);
  EXPECT_TRUE(has_type(got, DataType::kFloat32, Dims{1, 2}));
  EXPECT_TRUE(all_close(got, {p0 * 1 + p1 * 3, p0 * 2 + p1 * 4}, 1e-6, 1e-6));
  // Masking the first key leaves only the second: output = v[1].
  HostTensor m = make_tensor(DataType::kBool, {1, 2}, {0, 1});
  EXPECT_TRUE(all_close(run_attention(q, k, v, &m, p), {3, 4}, 1e-6, 0));
  // Causal with two queries: row 0 only sees key 0.
  HostTensor q2 = make_tensor(DataType::kFloat32, {2, 2}, {1, 0, 1, 0});
  p.causal = true;
  EXPECT_TRUE(all_close(run_attention(q2, k, v, nullptr, p),
                        {1, 2, p0 * 1 + p1 * 3, p0 * 2 + p1 * 4}, 1e-6, 1e-6));
  // Default scale 1/sqrt(E) with E = 4: identical q/k rows give uniform weights.
  HostTensor q4 = make_tensor(DataType::kFloat32, {1, 4}, {2, 2, 2, 2});
  HostTensor k4 = make_tensor(DataType::kFloat32, {3, 4}, {1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0});
  HostTensor v4 = make_tensor(DataType::kFloat32, {3, 1}, {1, 2, 3});
  // scores = [8, 8, 0] / 2 = [4, 4, 0]
  double w0 = std::exp(4.0) / (2 * std::exp(4.0) + 1.0), w2 = 1.0 / (2 * std::exp(4.0) + 1.0);
  EXPECT_TRUE(all_close(run_attention(q4, k4, v4, nullptr, AttentionParams{}),
                        {w0 * 1 + w0 * 2 + w2 * 3}, 1e-6, 1e-6));
}

TEST(CpuAttention, FullyMaskedRowIsNaN) {
  for (DataType dt : kFloatTypes) {
    SCOPED_TRACE(trace(std::string(dtype_name(dt))));
    HostTensor q = random_tensor(dt, {3, 4}), k = random_tensor(dt, {5, 4}),
               v = random_tensor(dt, {5, 2});
    HostTensor m = random_bool_mask({3, 5});
    for (int64_t j = 0; j < 5; ++j) m.as<uint8_t>()[5 + j] = 0;  // row 1 sees nothing
    Ref ref = attention_ref(q, k, v, &m, false, 0.0);
    HostTensor got = run_attention(q, k, v, &m, AttentionParams{});
    ASSERT_TRUE(has_type(got, dt, Dims{3, 2}));
    EXPECT_TRUE(std::isnan(ref.values[2]) && std::isnan(ref.values[3]));
    double tol = default_tolerance(dt);
    EXPECT_TRUE(all_close(got, ref.values, tol, tol));
    // A float mask of -inf does the same.
    HostTensor fm2 = make_tensor(
        dt, {3, 5}, {0, 0, 0, 0, 0, -kInf, -kInf, -kInf, -kInf, -kInf, 1, -1, 0, 2, -kInf});
    Ref ref2 = attention_ref(q, k, v, &fm2, false, 0.0);
    HostTensor got2 = run_attention(q, k, v, &fm2, AttentionParams{});
    EXPECT_TRUE(all_close(got2, ref2.values, tol, tol));
    EXPECT_TRUE(std::isnan(testing::at(got2, 2)) && !std::isnan(testing::at(got2, 0)) &&
                !std::isnan(testing::at(got2, 4)));
  }
}

TEST(CpuAttention, BertLikeShape) {
  // One BERT-base attention: 12 heads, 128 tokens, head dim 64, key-padding mask.
  HostTensor q = random_tensor(DataType::kFloat32, {1, 12, 128, 64});
  HostTensor k = random_tensor(DataType::kFloat32, {1, 12, 128, 64});
  HostTensor v = random_tensor(DataType::kFloat32, {1, 12, 128, 64});
  HostTensor m = random_bool_mask({1, 1, 1, 128});
  SCOPED_TRACE(trace("bert"));
  Ref ref = attention_ref(q, k, v, &m, false, 0.0);
  HostTensor got = run_attention(q, k, v, &m, AttentionParams{});
  ASSERT_TRUE(has_type(got, DataType::kFloat32, ref.dims));
  EXPECT_TRUE(all_close(got, ref.values, 1e-5, 1e-5));
}

TEST(CpuAttention, DynamicSequenceLength) {
  Network net;
  auto q = net.add_input("q", DataType::kFloat32, Dims{2, -1, 8});
  auto k = net.add_input("k", DataType::kFloat32, Dims{2, -1, 8});
  auto v = net.add_input("v", DataType::kFloat32, Dims{2, -1, 4});
  ASSERT_TRUE(q.ok() && k.ok() && v.ok());
  AttentionParams p;
  p.causal = true;
  auto y = net.add_attention(*q, *k, *v, Tensor{}, p);
  ASSERT_TRUE(y.ok()) << y.status().to_string();
  ASSERT_TRUE(net.mark_output(*y, "y").ok());
  BuilderConfig cfg;
  cfg.backend = "cpu";
  OptimizationProfile prof;
  prof.set("q", {2, 1, 8}, {2, 8, 8}, {2, 16, 8})
      .set("k", {2, 1, 8}, {2, 8, 8}, {2, 16, 8})
      .set("v", {2, 1, 4}, {2, 8, 4}, {2, 16, 4});
  cfg.profiles.push_back(prof);
  auto plan = Builder::build(net, cfg);
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  auto engine = Runtime::load(plan->bytes);
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();
  for (int64_t len : {3, 11}) {
    SCOPED_TRACE(trace("len=" + std::to_string(len)));
    HostTensor qv = random_tensor(DataType::kFloat32, {2, len, 8});
    HostTensor kv = random_tensor(DataType::kFloat32, {2, len, 8});
    HostTensor vv = random_tensor(DataType::kFloat32, {2, len, 4});
    auto outs = testing::run_engine(**engine, {qv, kv, vv});
    ASSERT_TRUE(outs.ok()) << outs.status().to_string();
    ASSERT_EQ(outs->size(), 1u);
    Ref ref = attention_ref(qv, kv, vv, nullptr, true, 0.0);
    EXPECT_TRUE(has_type((*outs)[0], DataType::kFloat32, ref.dims));
    EXPECT_TRUE(all_close((*outs)[0], ref.values, 1e-5, 1e-5));
  }
}

}  // namespace
}  // namespace kiln
