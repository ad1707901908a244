// CUDA attention against the CPU reference: the fused flash kernel (f16/bf16, head dims 32..128,
// any mask, causal, broadcast batches) and the general cuBLASLt + softmax path (f32, other head
// dims, E != Ev), dynamic sequence lengths, fully masked rows (NaN, or zeros with zero_masked_rows)
// and empty shapes.
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "gpu_test_util.h"
#include "kiln/logger.h"

namespace kiln {
namespace {

using testing::expect_cuda_matches_cpu;
using testing::random_tensor;

constexpr double kInf = std::numeric_limits<double>::infinity();

enum class MaskKind { kNone, kBool, kFloat };

std::string trace(const std::string& what) {
  return what + " seed=" + std::to_string(testing::rng_seed());
}

// Random bool mask (70% attend); key 0 always attends, so no row is fully masked (also with
// causal).
HostTensor bool_mask(const Dims& d) {
  std::bernoulli_distribution on(0.7);
  const int64_t lk = d[d.rank() - 1];
  std::vector<double> v(static_cast<size_t>(d.volume()));
  for (size_t i = 0; i < v.size(); ++i)
    v[i] = (lk > 0 && static_cast<int64_t>(i) % lk == 0) || on(testing::rng()) ? 1 : 0;
  return testing::make_tensor(DataType::kBool, d, v);
}

// Random additive mask in [-2, 2) with ~25% large negatives (-1e4, as padding masks use); key 0
// stays small.
HostTensor float_mask(DataType dt, const Dims& d) {
  std::uniform_real_distribution<double> val(-2.0, 2.0);
  std::bernoulli_distribution off(0.25);
  const int64_t lk = d[d.rank() - 1];
  std::vector<double> v(static_cast<size_t>(d.volume()));
  for (size_t i = 0; i < v.size(); ++i) {
    v[i] = val(testing::rng());
    if (lk > 0 && static_cast<int64_t>(i) % lk != 0 && off(testing::rng())) v[i] = -1e4;
  }
  return testing::make_tensor(dt, d, v);
}

struct Case {
  DataType dt;
  Dims q, k, v;
  MaskKind mask = MaskKind::kNone;
  Dims mask_dims = {};
  bool causal = false;
  double scale = 0.0;
};

std::string describe(const Case& c) {
  std::string s = std::string(dtype_name(c.dt)) + " q" + c.q.to_string() + " k" + c.k.to_string() +
                  " v" + c.v.to_string();
  if (c.mask == MaskKind::kBool) s += " bool_mask" + c.mask_dims.to_string();
  if (c.mask == MaskKind::kFloat) s += " float_mask" + c.mask_dims.to_string();
  if (c.causal) s += " causal";
  if (c.scale != 0) s += " scale=" + std::to_string(c.scale);
  return s;
}

testing::GpuCompareOptions tolerance(DataType dt) {
  testing::GpuCompareOptions o;
  if (dt != DataType::kFloat32) o.rtol = o.atol = 2e-2;
  return o;
}

// Builds q/k/v(/mask) -> attention -> y and compares cuda with cpu on random inputs.
void run_case(const Case& c) {
  SCOPED_TRACE(trace(describe(c)));
  Network net;
  auto q = net.add_input("q", c.dt, c.q);
  auto k = net.add_input("k", c.dt, c.k);
  auto v = net.add_input("v", c.dt, c.v);
  ASSERT_TRUE(q.ok() && k.ok() && v.ok());
  std::vector<HostTensor> inputs = {random_tensor(c.dt, c.q, -2, 2),
                                    random_tensor(c.dt, c.k, -2, 2),
                                    random_tensor(c.dt, c.v, -1, 1)};
  Tensor mask;
  if (c.mask != MaskKind::kNone) {
    DataType mdt = c.mask == MaskKind::kBool ? DataType::kBool : c.dt;
    auto m = net.add_input("mask", mdt, c.mask_dims);
    ASSERT_TRUE(m.ok()) << m.status().to_string();
    mask = *m;
    inputs.push_back(c.mask == MaskKind::kBool ? bool_mask(c.mask_dims)
                                               : float_mask(c.dt, c.mask_dims));
  }
  AttentionParams p;
  p.causal = c.causal;
  p.scale = c.scale;
  auto y = net.add_attention(*q, *k, *v, mask, p);
  ASSERT_TRUE(y.ok()) << y.status().to_string();
  ASSERT_TRUE(net.mark_output(*y, "y").ok());
  expect_cuda_matches_cpu(net, inputs, {}, tolerance(c.dt));
}

TEST(CudaAttention, FlashHeadDimsLengthsCausalAndPaddingMasks) {
  KILN_REQUIRE_GPU();
  int i = 0;
  for (DataType dt : {DataType::kFloat16, DataType::kBFloat16}) {
    for (int64_t e : {32, 64, 128}) {
      for (int64_t l : {1, 7, 128, 197, 300}) {
        for (bool causal : {false, true}) {
          const MaskKind mk = static_cast<MaskKind>(i++ % 3);  // none, bool, float in turn
          Case c{dt, {2, 3, l, e}, {2, 3, l, e}, {2, 3, l, e}, mk, {2, 1, 1, l}, causal, 0.0};
          run_case(c);
        }
      }
    }
    // The other head dims the kernel is instantiated for.
    run_case({dt,
              {2, 2, 77, 80},
              {2, 2, 77, 80},
              {2, 2, 77, 80},
              MaskKind::kBool,
              {2, 1, 1, 77},
              false,
              0.0});
    run_case(
        {dt, {1, 3, 130, 96}, {1, 3, 130, 96}, {1, 3, 130, 96}, MaskKind::kNone, {}, true, 0.0});
  }
}

TEST(CudaAttention, FlashCrossAttentionFullMasksAndBroadcastBatches) {
  KILN_REQUIRE_GPU();
  const DataType h = DataType::kFloat16, b = DataType::kBFloat16;
  const std::vector<Case> cases = {
      // Lq != Lk, with and without causal (top-left aligned)
      {h, {2, 4, 5, 64}, {2, 4, 300, 64}, {2, 4, 300, 64}},
      {h, {2, 4, 5, 64}, {2, 4, 300, 64}, {2, 4, 300, 64}, MaskKind::kNone, {}, true},
      {b, {1, 4, 300, 64}, {1, 4, 70, 64}, {1, 4, 70, 64}, MaskKind::kNone, {}, true},
      {h, {3, 129, 32}, {3, 65, 32}, {3, 65, 32}, MaskKind::kFloat, {3, 1, 65}, false},
      // full and query-varying masks (read with their strides), mask + causal, custom scale
      {h,
       {2, 3, 100, 64},
       {2, 3, 100, 64},
       {2, 3, 100, 64},
       MaskKind::kBool,
       {2, 3, 100, 100},
       false},
      {b, {2, 3, 100, 64}, {2, 3, 90, 64}, {2, 3, 90, 64}, MaskKind::kFloat, {1, 3, 100, 90}, true},
      {h, {2, 3, 70, 128}, {2, 3, 70, 128}, {2, 3, 70, 128}, MaskKind::kBool, {70, 70}, true, 0.3},
      {h, {2, 3, 33, 64}, {2, 3, 33, 64}, {2, 3, 33, 64}, MaskKind::kFloat, {2, 1, 33, 1}, false},
      // broadcast batch dims: grouped keys/values, and mixed broadcasting
      {h, {2, 8, 50, 64}, {2, 1, 50, 64}, {2, 1, 50, 64}, MaskKind::kBool, {2, 1, 1, 50}, true},
      {b, {2, 1, 40, 32}, {1, 3, 60, 32}, {2, 3, 60, 32}},
      // rank 2 and 3
      {h, {200, 64}, {150, 64}, {150, 64}, MaskKind::kBool, {200, 150}, false},
      {b, {4, 65, 128}, {4, 65, 128}, {4, 65, 128}, MaskKind::kNone, {}, true, 0.05},
  };
  for (const Case& c : cases) run_case(c);
}

TEST(CudaAttention, GeneralPathCases) {
  KILN_REQUIRE_GPU();
  const DataType f = DataType::kFloat32, h = DataType::kFloat16, b = DataType::kBFloat16;
  const std::vector<Case> cases = {
      {f, {2, 3, 5, 8}, {2, 3, 7, 8}, {2, 3, 7, 6}},
      {f, {2, 12, 128, 64}, {2, 12, 128, 64}, {2, 12, 128, 64}, MaskKind::kBool, {2, 1, 1, 128}},
      {f, {2, 3, 50, 64}, {2, 3, 60, 64}, {2, 3, 60, 64}, MaskKind::kBool, {2, 3, 50, 60}},
      {f, {2, 3, 50, 64}, {2, 3, 50, 64}, {2, 3, 50, 64}, MaskKind::kFloat, {1, 3, 50, 50}, true},
      {f, {1, 4, 8}, {1, 6, 8}, {1, 6, 5}, MaskKind::kNone, {}, true},
      {f, {1, 6, 8}, {1, 4, 8}, {1, 4, 5}, MaskKind::kNone, {}, true},
      {f, {2, 3, 5, 8}, {2, 3, 7, 8}, {2, 3, 7, 6}, MaskKind::kNone, {}, false, 0.3},
      {f, {2, 1, 5, 8}, {1, 3, 7, 8}, {2, 3, 7, 6}},  // mixed broadcast: loops
      {f, {2, 1, 5, 8}, {1, 3, 7, 8}, {1, 3, 7, 6}, MaskKind::kFloat, {2, 1, 5, 1}, false, 0.7},
      {f, {2, 8, 33, 16}, {2, 1, 33, 16}, {2, 1, 33, 16}, MaskKind::kNone, {}, true},  // grouped
                                                                                       // keys
      {f, {4, 8}, {6, 8}, {6, 3}},
      {f, {3, 1, 16}, {3, 9, 16}, {3, 9, 16}},
      // 16-bit types the flash kernel does not take: odd head dim, E != Ev, head dim 256
      {h, {2, 3, 77, 40}, {2, 3, 77, 40}, {2, 3, 77, 40}, MaskKind::kBool, {2, 1, 1, 77}, true},
      {b, {2, 3, 77, 40}, {2, 3, 77, 40}, {2, 3, 77, 40}, MaskKind::kFloat, {2, 3, 77, 77}},
      {h, {2, 3, 31, 64}, {2, 3, 45, 64}, {2, 3, 45, 32}, MaskKind::kBool, {2, 3, 31, 45}},
      {b, {1, 2, 20, 256}, {1, 2, 20, 256}, {1, 2, 20, 256}, MaskKind::kNone, {}, true},
      {h, {2, 5, 7}, {2, 9, 7}, {2, 9, 3}, MaskKind::kFloat, {5, 9}, false, 0.5},  // unaligned
                                                                                   // everything
      {f, {2, 3, 77, 40}, {2, 3, 77, 40}, {2, 3, 77, 40}, MaskKind::kBool, {77, 77}, true},
  };
  for (const Case& c : cases) run_case(c);
}

TEST(CudaAttention, BertAndVitShapes) {
  KILN_REQUIRE_GPU();
  // BERT-base: 8 sequences, 12 heads, 128 tokens, head dim 64, key padding mask.
  run_case({DataType::kFloat16,
            {8, 12, 128, 64},
            {8, 12, 128, 64},
            {8, 12, 128, 64},
            MaskKind::kBool,
            {8, 1, 1, 128}});
  run_case({DataType::kFloat16,
            {8, 12, 128, 64},
            {8, 12, 128, 64},
            {8, 12, 128, 64},
            MaskKind::kFloat,
            {8, 1, 1, 128}});
  // ViT-B/16: 197 tokens.
  run_case({DataType::kFloat16, {2, 12, 197, 64}, {2, 12, 197, 64}, {2, 12, 197, 64}});
  run_case({DataType::kBFloat16, {2, 12, 197, 64}, {2, 12, 197, 64}, {2, 12, 197, 64}});
}

// cuDNN's fused attention is a timed tactic (backends/cuda/cudnn/sdpa.cpp): at these shapes the
// build must have built cuDNN's graph, timed it against Kiln's kernel and found it agreeing (the
// verbose log says so); whichever won, the engine matches the CPU reference, at the opt shape and
// (dynamic sequence length) at another one.
class LinesLogger : public Logger {
 public:
  void log(Severity, std::string_view m) override { lines.emplace_back(m); }
  bool any(const std::string& needle) const {
    for (const auto& l : lines)
      if (l.find(needle) != std::string::npos) return true;
    return false;
  }
  std::vector<std::string> lines;
};

TEST(CudaAttention, CudnnFusedAttentionTactic) {
  KILN_REQUIRE_GPU();
  struct Shape {
    DataType dt;
    int64_t b, h, l, e;
    MaskKind mask;
    bool causal;
  };
  for (const Shape& c : {Shape{DataType::kFloat16, 8, 12, 128, 64, MaskKind::kNone, false},
                         Shape{DataType::kFloat16, 8, 12, 128, 64, MaskKind::kFloat, false},
                         Shape{DataType::kBFloat16, 4, 12, 197, 64, MaskKind::kNone, false},
                         Shape{DataType::kFloat16, 2, 12, 256, 64, MaskKind::kNone, true},
                         Shape{DataType::kFloat16, 2, 8, 128, 128, MaskKind::kNone, true}}) {
    SCOPED_TRACE(trace(std::string(dtype_name(c.dt)) + " l=" + std::to_string(c.l) +
                       " e=" + std::to_string(c.e) + (c.causal ? " causal" : "") +
                       (c.mask == MaskKind::kFloat ? " float_mask" : "")));
    for (bool dynamic : {false, true}) {
      Network net;
      const Dims full{c.b, c.h, c.l, c.e};
      const Dims qd = dynamic ? Dims{c.b, c.h, -1, c.e} : full;
      auto q = net.add_input("q", c.dt, qd);
      auto k = net.add_input("k", c.dt, qd);
      auto v = net.add_input("v", c.dt, qd);
      ASSERT_TRUE(q.ok() && k.ok() && v.ok());
      Tensor mask;
      const Dims md{c.b, 1, 1, c.l};
      if (c.mask == MaskKind::kFloat) {
        auto m = net.add_input("mask", c.dt, dynamic ? Dims{c.b, 1, 1, -1} : md);
        ASSERT_TRUE(m.ok());
        mask = *m;
      }
      AttentionParams p;
      p.causal = c.causal;
      // cuDNN takes a mask only where a fully masked row gives zeros (what fold_attention_row_guard
      // sets for transformers' padding masks); float_mask leaves key 0 to every row anyway.
      p.zero_masked_rows = c.mask == MaskKind::kFloat;
      auto y = net.add_attention(*q, *k, *v, mask, p);
      ASSERT_TRUE(y.ok()) << y.status().to_string();
      ASSERT_TRUE(net.mark_output(*y, "y").ok());
      LinesLogger logger;
      BuilderConfig cfg;
      cfg.logger = &logger;
      if (dynamic) {
        OptimizationProfile prof;
        const Dims lo{c.b, c.h, 16, c.e}, hi{c.b, c.h, 2 * c.l, c.e};
        for (const char* n : {"q", "k", "v"}) prof.set(n, lo, full, hi);
        if (c.mask == MaskKind::kFloat) prof.set("mask", {c.b, 1, 1, 16}, md, {c.b, 1, 1, 2 * c.l});
        cfg.profiles.push_back(prof);
      }
      // Run at the opt shape, and (dynamic) at a shorter sequence the tuning did not see.
      for (int64_t l :
           dynamic ? std::vector<int64_t>{c.l, c.l / 2 + 3} : std::vector<int64_t>{c.l}) {
        const Dims d{c.b, c.h, l, c.e};
        std::vector<HostTensor> inputs = {random_tensor(c.dt, d, -2, 2),
                                          random_tensor(c.dt, d, -2, 2),
                                          random_tensor(c.dt, d, -1, 1)};
        if (c.mask == MaskKind::kFloat) inputs.push_back(float_mask(c.dt, {c.b, 1, 1, l}));
        expect_cuda_matches_cpu(net, inputs, cfg, tolerance(c.dt));
      }
      EXPECT_TRUE(logger.any("cuDNN")) << "no cuDNN fused attention timing in the build log";
      EXPECT_FALSE(logger.any("cannot run it")) << "cuDNN refused the problem";
      EXPECT_FALSE(logger.any("Kiln's attention kernel runs"))
          << "cuDNN and Kiln's kernel disagree";
    }
  }
}

TEST(CudaAttention, DynamicSequenceLength) {
  KILN_REQUIRE_GPU();
  for (DataType dt :
       {DataType::kFloat16, DataType::kFloat32}) {  // flash, general (workspace per shape)
    for (bool with_mask : {false, true}) {
      SCOPED_TRACE(trace(std::string(dtype_name(dt)) + (with_mask ? " mask" : "")));
      Network net;
      auto q = net.add_input("q", dt, Dims{2, 4, -1, 64});
      auto k = net.add_input("k", dt, Dims{2, 4, -1, 64});
      auto v = net.add_input("v", dt, Dims{2, 4, -1, 64});
      ASSERT_TRUE(q.ok() && k.ok() && v.ok());
      Tensor mask;
      OptimizationProfile prof;
      prof.set("q", {2, 4, 1, 64}, {2, 4, 64, 64}, {2, 4, 256, 64})
          .set("k", {2, 4, 1, 64}, {2, 4, 64, 64}, {2, 4, 256, 64})
          .set("v", {2, 4, 1, 64}, {2, 4, 64, 64}, {2, 4, 256, 64});
      if (with_mask) {
        auto m = net.add_input("mask", DataType::kBool, Dims{2, 1, 1, -1});
        ASSERT_TRUE(m.ok());
        mask = *m;
        prof.set("mask", {2, 1, 1, 1}, {2, 1, 1, 64}, {2, 1, 1, 256});
      }
      AttentionParams p;
      p.causal = !with_mask;
      auto y = net.add_attention(*q, *k, *v, mask, p);
      ASSERT_TRUE(y.ok()) << y.status().to_string();
      ASSERT_TRUE(net.mark_output(*y, "y").ok());
      BuilderConfig cfg;
      cfg.backend = "cuda";
      cfg.profiles = {prof};
      auto plan = Builder::build(net, cfg);
      ASSERT_TRUE(plan.ok()) << plan.status().to_string();
      auto engine = Runtime::load(plan->bytes);
      ASSERT_TRUE(engine.ok()) << engine.status().to_string();
      for (int64_t len : {50, 200, 7}) {  // grows, then shrinks (workspace is reused)
        SCOPED_TRACE("len=" + std::to_string(len));
        std::vector<HostTensor> in = {random_tensor(dt, {2, 4, len, 64}, -2, 2),
                                      random_tensor(dt, {2, 4, len, 64}, -2, 2),
                                      random_tensor(dt, {2, 4, len, 64})};
        if (with_mask) in.push_back(bool_mask({2, 1, 1, len}));
        auto gpu = testing::run_cuda_engine(**engine, in, 0, true, 2);
        ASSERT_TRUE(gpu.ok()) << gpu.status().to_string();
        BuilderConfig ccfg = cfg;
        ccfg.backend = "cpu";
        auto cpu = testing::try_build_and_run(net, in, ccfg);
        ASSERT_TRUE(cpu.ok()) << cpu.status().to_string();
        ASSERT_EQ(gpu->size(), 1u);
        ASSERT_EQ(cpu->size(), 1u);
        EXPECT_TRUE(testing::has_type((*gpu)[0], dt, Dims{2, 4, len, 64}));
        const double tol = dt == DataType::kFloat32 ? 1e-4 : 2e-2;
        EXPECT_TRUE(testing::all_close((*gpu)[0], testing::to_doubles((*cpu)[0]), tol, tol));
      }
    }
  }
}

TEST(CudaAttention, FullyMaskedRowIsNaNOrZeroOnBothPaths) {
  KILN_REQUIRE_GPU();
  for (bool zero_rows : {false, true}) {  // zero_masked_rows: what fold_attention_row_guard sets
    // (dtype, head dim): f16/bf16 with E = 64 run the flash kernel, f32 and E = 40 the general
    // path.
    const std::vector<std::pair<DataType, int64_t>> configs = {{DataType::kFloat16, 64},
                                                               {DataType::kBFloat16, 64},
                                                               {DataType::kFloat32, 64},
                                                               {DataType::kFloat16, 40}};
    for (auto [dt, e] : configs) {
      for (bool float_mask_kind : {false, true}) {
        SCOPED_TRACE(trace(std::string(dtype_name(dt)) + " E=" + std::to_string(e) +
                           (float_mask_kind ? " float" : " bool") +
                           (zero_rows ? " zero_masked_rows" : "")));
        const int64_t lq = 6, lk = 9;
        Network net;
        auto q = net.add_input("q", dt, Dims{2, lq, e});
        auto k = net.add_input("k", dt, Dims{2, lk, e});
        auto v = net.add_input("v", dt, Dims{2, lk, e});
        auto m = net.add_input("mask", float_mask_kind ? dt : DataType::kBool, Dims{lq, lk});
        ASSERT_TRUE(q.ok() && k.ok() && v.ok() && m.ok());
        AttentionParams ap;
        ap.zero_masked_rows = zero_rows;
        auto y = net.add_attention(*q, *k, *v, *m, ap);
        ASSERT_TRUE(y.ok()) << y.status().to_string();
        ASSERT_TRUE(net.mark_output(*y, "y").ok());
        // Row 2 sees nothing; the others see a few keys.
        std::vector<double> mv(static_cast<size_t>(lq * lk));
        for (int64_t i = 0; i < lq; ++i) {
          for (int64_t j = 0; j < lk; ++j) {
            const bool attend = i != 2 && (j == i || (i + j) % 3 == 0);
            mv[static_cast<size_t>(i * lk + j)] =
                float_mask_kind ? (attend ? 0.5 : -kInf) : (attend ? 1.0 : 0.0);
          }
        }
        std::vector<HostTensor> in = {
            random_tensor(dt, {2, lq, e}, -2, 2), random_tensor(dt, {2, lk, e}, -2, 2),
            random_tensor(dt, {2, lk, e}),
            testing::make_tensor(float_mask_kind ? dt : DataType::kBool, {lq, lk}, mv)};
        auto out = expect_cuda_matches_cpu(net, in, {}, tolerance(dt));  // NaNs must match too
        ASSERT_EQ(out.size(), 1u);
        for (int64_t bi = 0; bi < 2; ++bi) {
          for (int64_t i = 0; i < lq; ++i) {
            const double x = testing::at(out[0], (bi * lq + i) * e);
            if (zero_rows) {
              EXPECT_FALSE(std::isnan(x)) << "batch " << bi << " row " << i;
              if (i == 2) EXPECT_EQ(x, 0.0) << "batch " << bi;
            } else {
              EXPECT_EQ(std::isnan(x), i == 2) << "batch " << bi << " row " << i;
            }
          }
        }
      }
    }
  }
}

// Attention reading q, k, v through the views transformers make of the packed QKV GEMM output and
// writing the heads back in place (attention_views.h): the group forms, and the results match the
// CPU reference at the opt shape and at other dynamic shapes, eagerly and replayed from a graph.
enum class QkvLayout { kPackedBld, kPackedLbd, kSeparate };

struct ViewsCase {
  DataType dt;
  QkvLayout layout;
  int64_t h, d;
  bool causal;
  bool mask;
};

void run_views_case(const ViewsCase& c) {
  SCOPED_TRACE(trace(std::string(dtype_name(c.dt)) + " layout " +
                     std::to_string(static_cast<int>(c.layout)) + " h" + std::to_string(c.h) +
                     " d" + std::to_string(c.d) + (c.causal ? " causal" : "") +
                     (c.mask ? " mask" : "")));
  const int64_t hd = c.h * c.d;
  Network net;
  Tensor ops[3];
  std::vector<std::string> names;
  OptimizationProfile prof;
  const int64_t b0 = 4, l0 = 96;  // opt shape
  auto in_dims = [&](int64_t b, int64_t l, int64_t width) {
    return c.layout == QkvLayout::kPackedLbd ? Dims{l, b, width} : Dims{b, l, width};
  };
  auto add_in = [&](const std::string& n, int64_t width) {
    auto x = net.add_input(n, c.dt, in_dims(-1, -1, width));
    EXPECT_TRUE(x.ok());
    prof.set(n, in_dims(1, 8, width), in_dims(b0, l0, width), in_dims(8, 256, width));
    names.push_back(n);
    return *x;
  };
  // x [.., .., W] -> [.., .., tail...] with the leading (dynamic) dims from x's shape, as the
  // frontends emit it.
  auto split_last = [&](Tensor x, std::vector<int64_t> tail) -> Tensor {
    auto shape = net.add_shape(x);
    SliceParams lead;
    lead.axes = {0};
    lead.starts = {0};
    lead.ends = {2};
    lead.steps = {1};
    auto head = net.add_slice(*shape, lead);
    auto rest =
        net.add_constant(Dims{static_cast<int64_t>(tail.size())}, DataType::kInt64, tail.data());
    auto full = net.add_concat({*head, *rest}, 0);
    auto r = net.add_reshape_dynamic(x, *full);
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    return *r;
  };
  if (c.layout == QkvLayout::kSeparate) {
    for (int i = 0; i < 3; ++i) {
      Tensor x = add_in(std::string(1, "qkv"[i]), hd);
      auto t = net.add_transpose(split_last(x, {c.h, c.d}), {0, 2, 1, 3});
      ASSERT_TRUE(t.ok()) << t.status().to_string();
      ops[i] = *t;
    }
  } else {
    Tensor x = add_in("x", 3 * hd);
    const bool lbd = c.layout == QkvLayout::kPackedLbd;
    auto t =
        net.add_transpose(split_last(x, {3, c.h, c.d}), lbd ? std::vector<int64_t>{2, 1, 3, 0, 4}
                                                            : std::vector<int64_t>{2, 0, 3, 1, 4});
    ASSERT_TRUE(t.ok()) << t.status().to_string();
    for (int i = 0; i < 3; ++i) {
      SliceParams sp;
      sp.axes = {0};
      sp.starts = {i};
      sp.ends = {i + 1};
      sp.steps = {1};
      auto s = net.add_slice(*t, sp);
      auto o = net.add_squeeze(*s, {0});
      ASSERT_TRUE(o.ok()) << o.status().to_string();
      ops[i] = *o;
    }
  }
  Tensor mask;
  if (c.mask) {
    auto m = net.add_input("mask", c.dt, Dims{-1, 1, 1, -1});
    ASSERT_TRUE(m.ok());
    mask = *m;
    prof.set("mask", {1, 1, 1, 8}, {b0, 1, 1, l0}, {8, 1, 1, 256});
  }
  AttentionParams p;
  p.causal = c.causal;
  p.zero_masked_rows = c.mask;
  auto a = net.add_attention(ops[0], ops[1], ops[2], mask, p);
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  const bool lbd = c.layout == QkvLayout::kPackedLbd;
  auto back = net.add_transpose(
      *a, lbd ? std::vector<int64_t>{2, 0, 1, 3} : std::vector<int64_t>{0, 2, 1, 3});
  auto y = net.add_flatten(*back, 2);
  ASSERT_TRUE(y.ok()) << y.status().to_string();
  auto w = testing::add_constant(net, random_tensor(c.dt, {hd, hd}, -0.1, 0.1));
  auto z = net.add_matmul(*y, w, MatMulParams{});
  ASSERT_TRUE(z.ok()) << z.status().to_string();
  ASSERT_TRUE(net.mark_output(*z, "z").ok());
  BuilderConfig cfg;
  cfg.profiles = {prof};
  cfg.backend = "cuda";
  auto contents = testing::build_contents(net, cfg);
  bool grouped = false;
  for (const auto& rec : contents.kernels)
    grouped = grouped || (rec.kernel.rfind("cuda.attention", 0) == 0 && rec.layers.size() > 1);
  EXPECT_TRUE(grouped) << "the attention did not absorb its views";
  for (auto [b, l] : {std::pair<int64_t, int64_t>{b0, l0}, {1, 8}, {3, 131}, {8, 256}}) {
    SCOPED_TRACE("b=" + std::to_string(b) + " l=" + std::to_string(l));
    std::vector<HostTensor> inputs;
    for (const auto& n : names)
      inputs.push_back(random_tensor(c.dt, in_dims(b, l, n == "x" ? 3 * hd : hd), -2, 2));
    if (c.mask) inputs.push_back(float_mask(c.dt, {b, 1, 1, l}));
    for (bool graphs : {false, true}) {
      testing::GpuCompareOptions o = tolerance(c.dt);
      o.cuda_graphs = graphs;
      expect_cuda_matches_cpu(net, inputs, cfg, o);
    }
  }
}

TEST(CudaAttention, AttentionThroughViews) {
  KILN_REQUIRE_GPU();
  run_views_case({DataType::kFloat16, QkvLayout::kPackedBld, 12, 64, false, true});   // BERT
  run_views_case({DataType::kFloat16, QkvLayout::kPackedBld, 12, 64, true, false});   // GPT-2
  run_views_case({DataType::kBFloat16, QkvLayout::kPackedLbd, 4, 64, false, false});  // ViT (MHA)
  run_views_case({DataType::kFloat16, QkvLayout::kSeparate, 8, 128, true, false});    // Llama
  run_views_case({DataType::kBFloat16, QkvLayout::kPackedBld, 2, 80, false, true});
}

TEST(CudaAttention, EmptyShapes) {
  KILN_REQUIRE_GPU();
  for (DataType dt : {DataType::kFloat16, DataType::kFloat32}) {
    // Lk == 0: softmax over nothing gives zeros; Lq == 0 and batch == 0: empty outputs.
    run_case({dt, {2, 5, 64}, {2, 0, 64}, {2, 0, 64}});
    run_case({dt, {2, 0, 64}, {2, 7, 64}, {2, 7, 64}});
    run_case({dt, {0, 5, 64}, {0, 7, 64}, {0, 7, 64}});
  }
}

}  // namespace
}  // namespace kiln
