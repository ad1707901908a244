// Epilogue fusion on CUDA: conv(+add)(+relu) and linear/matmul(+add)(+relu|gelu_tanh) run as one
// kernel and match the CPU reference (which runs every layer separately).
#include "backends/cuda/cuda_plan.h"
#include "backends/transformer_nets.h"
#include "gpu_test_util.h"
#include "serialization/plan_contents.h"

namespace kiln {
namespace {

using testing::expect_cuda_matches_cpu;
using testing::random_tensor;

std::string describe_cuda(const Network& net, const BuildSwitches& switches = {}) {
  BuilderConfig cfg;
  cfg.switches = switches;
  return testing::describe_on_cuda(net, cfg);
}

TEST(CudaFusion, ConvAddReluVariants) {
  KILN_REQUIRE_GPU();
  // NCHW: here the residual is a network input, so in NHWC (the half-precision default) a layout
  // transpose would separate the add from the convolution.
  // ChannelsLastResidualBlocksWithGraphEpilogues covers fusion in NHWC.
  BuilderConfig nchw;
  nchw.switches.layout = LayoutChoice::kNCHW;
  for (DataType dt : testing::kFloatTypes) {
    for (int variant = 0; variant < 4; ++variant) {  // relu | add | add+relu | no-bias add+relu
      SCOPED_TRACE(std::string(dtype_name(dt)) + " variant " + std::to_string(variant));
      Network net;
      auto x = net.add_input("x", dt, {2, 8, 12, 12});
      auto r = net.add_input("r", dt, {2, 16, 12, 12});
      auto w = testing::add_constant(net, random_tensor(dt, {16, 8, 3, 3}, -0.3, 0.3));
      Tensor b = variant == 3 ? Tensor{} : testing::add_constant(net, random_tensor(dt, {16}));
      ConvolutionParams p;
      p.pads_begin = {1, 1};
      auto c = net.add_convolution(*x, w, b, p);
      Expected<Tensor> y = c;
      if (variant >= 1) y = net.add_elementwise(*r, *y, BinaryOp::kAdd);
      if (variant != 1) y = net.add_unary(*y, UnaryOp::kRelu);
      ASSERT_TRUE(net.mark_output(*y, "y").ok());
      expect_cuda_matches_cpu(
          net, {random_tensor(dt, {2, 8, 12, 12}), random_tensor(dt, {2, 16, 12, 12})}, nchw);
      std::string d = describe_cuda(net, nchw.switches);
      if (variant == 1) {
        EXPECT_TRUE(d.find("cudnn_conv#") != std::string::npos ||
                    d.find("cudnn_graph#") != std::string::npos)
            << d;
      } else {
        EXPECT_NE(d.find("+relu"), std::string::npos) << d;
      }
      // Half-precision forward convolutions run as cuDNN operation graphs (tuned engine candidates)
      // where cuDNN has an engine (NCHW graphs with a residual have none: legacy fused call).
      if (dt != DataType::kFloat32 && variant == 0)
        EXPECT_NE(d.find("cudnn_graph#"), std::string::npos) << d;
      if (variant >= 1) EXPECT_NE(d.find("+add"), std::string::npos) << d;
    }
  }
}

// Channels-last (half precision, or float32 at batch >= 16, turns the layout pass on) residual
// blocks with odd channel counts, a strided and a grouped convolution, bias / residual / relu fused
// into the cuDNN graph, dynamic batch (plans per shape) — against the CPU reference.
TEST(CudaFusion, ChannelsLastResidualBlocksWithGraphEpilogues) {
  KILN_REQUIRE_GPU();
  for (DataType dt : testing::kFloatTypes) {
    SCOPED_TRACE(dtype_name(dt));
    Network net;
    auto x = net.add_input("x", dt, {-1, 12, 10, 10});
    ConvolutionParams p3;
    p3.pads_begin = {1, 1};
    auto w1 = testing::add_constant(net, random_tensor(dt, {24, 12, 3, 3}, -0.2, 0.2));
    auto b1 = testing::add_constant(net, random_tensor(dt, {24}));
    auto c1 = net.add_unary(*net.add_convolution(*x, w1, b1, p3), UnaryOp::kRelu);
    ConvolutionParams pg = p3;
    pg.groups = 4;
    auto w2 = testing::add_constant(net, random_tensor(dt, {24, 6, 3, 3}, -0.2, 0.2));
    auto c2 = net.add_convolution(*c1, w2, Tensor{}, pg);
    auto r2 = net.add_unary(*net.add_elementwise(*c2, *c1, BinaryOp::kAdd), UnaryOp::kRelu);
    ConvolutionParams ps;
    ps.strides = {2, 2};
    auto w3 = testing::add_constant(net, random_tensor(dt, {5, 24, 1, 1}, -0.2, 0.2));
    auto b3 = testing::add_constant(net, random_tensor(dt, {5}));
    auto c3 = net.add_convolution(*r2, w3, b3, ps);
    ASSERT_TRUE(c3.ok()) << c3.status().to_string();
    ASSERT_TRUE(net.mark_output(*c3, "y").ok());
    BuilderConfig cfg;
    cfg.profiles = {
        OptimizationProfile().set("x", {1, 12, 10, 10}, {16, 12, 10, 10}, {20, 12, 10, 10})};
    for (int64_t n : {16, 3, 20})
      expect_cuda_matches_cpu(net, {random_tensor(dt, {n, 12, 10, 10})}, cfg);
    if (dt != DataType::kFloat32) {
      auto plan = Builder::build(net, cfg);
      ASSERT_TRUE(plan.ok()) << plan.status().to_string();
      auto e = Runtime::load(plan->bytes);
      ASSERT_TRUE(e.ok());
      EXPECT_NE((*e)->describe().find("cudnn_graph#"), std::string::npos) << (*e)->describe();
    }
  }
}

// Depthwise convolutions in channels-last layout (mobilenet / efficientnet / convnext blocks) with
// bias, residual and activations fused, through each implementation: Kiln's depthwise kernel
// (16-byte vectors when C % 8 == 0, scalar otherwise; one output per thread or row tiles of 4 / 8
// outputs, which the 13-wide maps leave partly filled) and the cuDNN graph.
TEST(CudaFusion, DepthwiseChannelsLastEpilogues) {
  KILN_REQUIRE_GPU();
  struct Case {
    int64_t c, k, stride, pad, dil;
    UnaryOp act;
    bool residual;
  };
  const Case cases[] = {
      {24, 3, 1, 1, 1, UnaryOp::kSilu, false},    {24, 5, 2, 2, 1, UnaryOp::kHardSwish, false},
      {16, 7, 1, 3, 1, UnaryOp::kIdentity, true}, {6, 3, 1, 2, 2, UnaryOp::kRelu, false},
      {40, 3, 2, 1, 1, UnaryOp::kRelu, true},     {32, 7, 2, 3, 1, UnaryOp::kGelu, false},
  };
  for (const char* impl : {"depthwise:1", "depthwise:4", "depthwise:8", "graph"}) {
    for (DataType dt : {DataType::kFloat16, DataType::kBFloat16}) {
      for (const auto& c : cases) {
        SCOPED_TRACE(std::string(impl) + " " + std::string(dtype_name(dt)) + " c" +
                     std::to_string(c.c) + " k" + std::to_string(c.k) + " s" +
                     std::to_string(c.stride));
        Network net;
        const int64_t h = 13, oh = (h + 2 * c.pad - c.dil * (c.k - 1) - 1) / c.stride + 1;
        auto x = net.add_input("x", dt, {-1, c.c, h, h});
        auto w = testing::add_constant(net, random_tensor(dt, {c.c, 1, c.k, c.k}, -0.3, 0.3));
        auto b = testing::add_constant(net, random_tensor(dt, {c.c}));
        ConvolutionParams p;
        p.strides = {c.stride, c.stride};
        p.pads_begin = {c.pad, c.pad};
        p.pads_end = {c.pad, c.pad};
        p.dilations = {c.dil, c.dil};
        p.groups = c.c;
        Expected<Tensor> y = net.add_convolution(*x, w, b, p);
        ASSERT_TRUE(y.ok()) << y.status().to_string();
        OptimizationProfile prof;
        prof.set("x", {1, c.c, h, h}, {4, c.c, h, h}, {5, c.c, h, h});
        if (c.residual) {
          auto r = net.add_input("r", dt, {-1, c.c, oh, oh});
          y = net.add_elementwise(*y, *r, BinaryOp::kAdd);
          prof.set("r", {1, c.c, oh, oh}, {4, c.c, oh, oh}, {5, c.c, oh, oh});
        }
        if (c.act != UnaryOp::kIdentity) y = net.add_unary(*y, c.act);
        ASSERT_TRUE(net.mark_output(*y, "y").ok());
        BuilderConfig cfg;
        cfg.profiles = {prof};
        cfg.switches.layout = LayoutChoice::kNHWC;
        cfg.switches.conv_impl = impl;
        for (int64_t n : {4, 5}) {
          std::vector<HostTensor> inputs{random_tensor(dt, {n, c.c, h, h})};
          if (c.residual) inputs.push_back(random_tensor(dt, {n, c.c, oh, oh}));
          expect_cuda_matches_cpu(net, inputs, cfg);
        }
        auto plan = Builder::build(net, cfg);
        ASSERT_TRUE(plan.ok()) << plan.status().to_string();
        auto e = Runtime::load(plan->bytes);
        ASSERT_TRUE(e.ok());
        std::string d = (*e)->describe();
        const std::string im(impl);
        const bool tileable = c.c % 8 == 0 && c.dil == 1;
        if (im == "depthwise:1") EXPECT_NE(d.find("depthwise_nhwc"), std::string::npos) << d;
        if (im != "depthwise:1" && im != "graph" && tileable)
          EXPECT_NE(d.find("depthwise_nhwc_tile" + im.substr(10)), std::string::npos) << d;
      }
    }
  }
}

TEST(CudaFusion, LinearAndMatmulEpilogues) {
  KILN_REQUIRE_GPU();
  for (DataType dt : testing::kFloatTypes) {
    for (int variant = 0; variant < 4; ++variant) {  // add | add+relu | gelu_tanh | matmul+add
      SCOPED_TRACE(std::string(dtype_name(dt)) + " variant " + std::to_string(variant));
      Network net;
      auto x = net.add_input("x", dt, {-1, 24, 64});
      auto res = net.add_input("res", dt, {-1, 24, 48});
      Expected<Tensor> y = Tensor{};
      if (variant < 3) {
        auto w = testing::add_constant(net, random_tensor(dt, {48, 64}, -0.2, 0.2));
        auto b = testing::add_constant(net, random_tensor(dt, {48}));
        y = net.add_linear(*x, w, b);
      } else {
        auto w = testing::add_constant(net, random_tensor(dt, {64, 48}, -0.2, 0.2));
        y = net.add_matmul(*x, w);
      }
      if (variant != 2) y = net.add_elementwise(*y, *res, BinaryOp::kAdd);
      if (variant == 1) y = net.add_unary(*y, UnaryOp::kRelu);
      if (variant == 2) y = net.add_unary(*y, UnaryOp::kGeluTanh);
      ASSERT_TRUE(net.mark_output(*y, "y").ok());
      BuilderConfig cfg;
      cfg.profiles = {OptimizationProfile()
                          .set("x", {1, 24, 64}, {2, 24, 64}, {4, 24, 64})
                          .set("res", {1, 24, 48}, {2, 24, 48}, {4, 24, 48})};
      for (int64_t n : {2, 3})
        expect_cuda_matches_cpu(
            net, {random_tensor(dt, {n, 24, 64}), random_tensor(dt, {n, 24, 48})}, cfg);
    }
  }
}

// GPT-2's Conv1D: addmm on [B*L, K] -> view [B, L, N] -> + residual (-> relu): the view joins the
// GEMM's group, which adds the residual in its epilogue; dynamic batch.
TEST(CudaFusion, ResidualAddAfterAViewOfTheGemm) {
  KILN_REQUIRE_GPU();
  for (DataType dt : testing::kFloatTypes) {
    for (bool relu : {false, true}) {
      SCOPED_TRACE(std::string(dtype_name(dt)) + (relu ? " relu" : ""));
      Network net;
      auto x = net.add_input("x", dt, {-1, 64});
      auto res = net.add_input("res", dt, {-1, 16, 48});
      auto w = testing::add_constant(net, random_tensor(dt, {48, 64}, -0.2, 0.2));
      auto b = testing::add_constant(net, random_tensor(dt, {48}));
      auto y = net.add_linear(*x, w, b);
      auto shape = net.add_shape(*res);
      auto v = net.add_reshape_dynamic(*y, *shape);
      ASSERT_TRUE(v.ok()) << v.status().to_string();
      Expected<Tensor> z = net.add_elementwise(*v, *res, BinaryOp::kAdd);
      if (relu) z = net.add_unary(*z, UnaryOp::kRelu);
      ASSERT_TRUE(net.mark_output(*z, "z").ok());
      BuilderConfig cfg;
      cfg.profiles = {OptimizationProfile()
                          .set("x", {16, 64}, {32, 64}, {64, 64})
                          .set("res", {1, 16, 48}, {2, 16, 48}, {4, 16, 48})};
      for (int64_t n : {2, 3})
        expect_cuda_matches_cpu(
            net, {random_tensor(dt, {16 * n, 64}), random_tensor(dt, {n, 16, 48})}, cfg);
      cfg.backend = "cuda";
      auto plan = Builder::build(net, cfg);
      ASSERT_TRUE(plan.ok()) << plan.status().to_string();
      auto e = Runtime::load(plan->bytes);
      ASSERT_TRUE(e.ok());
      EXPECT_NE((*e)->describe().find("+add"), std::string::npos) << (*e)->describe();
    }
  }
}

// Linear + bias (+ residual) + exact GELU: one CUTLASS sm_90 GEMM where it wins the timing (half
// precision, n and k multiples of 8), else cuBLASLt and GELU in place; odd sizes and float32 take
// the fallback. Dynamic batch: shapes other than the opt shape run too.
TEST(CudaFusion, LinearExactGeluEpilogue) {
  KILN_REQUIRE_GPU();
  struct Case {
    int64_t rows, k, n;
    bool residual;
  };
  for (const Case& c : {Case{256, 256, 512, false}, Case{256, 512, 256, true},
                        Case{24, 40, 24, true}, Case{24, 33, 20, false}}) {
    for (DataType dt : testing::kFloatTypes) {
      SCOPED_TRACE(std::string(dtype_name(dt)) + " rows " + std::to_string(c.rows) + " k " +
                   std::to_string(c.k) + " n " + std::to_string(c.n) +
                   (c.residual ? " +residual" : ""));
      Network net;
      auto x = net.add_input("x", dt, {-1, c.rows, c.k});
      auto w = testing::add_constant(net, random_tensor(dt, {c.n, c.k}, -0.2, 0.2));
      auto b = testing::add_constant(net, random_tensor(dt, {c.n}));
      Expected<Tensor> y = net.add_linear(*x, w, b);
      OptimizationProfile prof;
      prof.set("x", {1, c.rows, c.k}, {2, c.rows, c.k}, {3, c.rows, c.k});
      if (c.residual) {
        auto r = net.add_input("r", dt, {-1, c.rows, c.n});
        y = net.add_elementwise(*y, *r, BinaryOp::kAdd);
        prof.set("r", {1, c.rows, c.n}, {2, c.rows, c.n}, {3, c.rows, c.n});
      }
      y = net.add_unary(*y, UnaryOp::kGelu);
      ASSERT_TRUE(net.mark_output(*y, "y").ok());
      BuilderConfig cfg;
      cfg.profiles = {prof};
      cfg.optimization_level = 4;  // CUTLASS candidates are timed from level 4
      for (int64_t batch : {2, 3}) {
        std::vector<HostTensor> in{random_tensor(dt, {batch, c.rows, c.k})};
        if (c.residual) in.push_back(random_tensor(dt, {batch, c.rows, c.n}));
        expect_cuda_matches_cpu(net, in, cfg);
      }
      cfg.backend = "cuda";
      auto plan = Builder::build(net, cfg);
      ASSERT_TRUE(plan.ok()) << plan.status().to_string();
      auto e = Runtime::load(plan->bytes);
      ASSERT_TRUE(e.ok()) << e.status().to_string();
      const std::string d = (*e)->describe();
      EXPECT_NE(d.find("+gelu"), std::string::npos) << d;  // one kernel either way
      if (dt != DataType::kFloat32 && c.n == 512) std::cout << "  [kernel] " << d << "\n";
    }
  }
}

TEST(CudaFusion, IntermediateUsedElsewhereIsNotFused) {
  KILN_REQUIRE_GPU();
  Network net;
  auto x = net.add_input("x", DataType::kFloat32, {1, 4, 8, 8});
  auto w = testing::add_constant(net, random_tensor(DataType::kFloat32, {4, 4, 3, 3}, -0.3, 0.3));
  ConvolutionParams p;
  p.pads_begin = {1, 1};
  auto c = net.add_convolution(*x, w, Tensor{}, p);
  auto r = net.add_unary(*c, UnaryOp::kRelu);
  auto s = net.add_elementwise(*c, *r, BinaryOp::kMul);  // the conv output is read twice
  ASSERT_TRUE(net.mark_output(*s, "y").ok());
  expect_cuda_matches_cpu(net, {random_tensor(DataType::kFloat32, {1, 4, 8, 8})});
  EXPECT_EQ(describe_cuda(net).find("+relu"), std::string::npos);
}

// GPT-2 blocks and a BERT encoder layer as the converters spell them: the whole network on CUDA
// (fused GEMM epilogues, attention through views, aliasing views with no kernel at all) matches
// the CPU reference, with a static and a dynamic batch; and the kernel records the build writes are
// the ones cuda::plan_kernels predicts without a GPU (test_transformer_kernel_count pins those).
TEST(CudaFusion, TransformerNetsMatchCpu) {
  KILN_REQUIRE_GPU();
  for (DataType dt : testing::kFloatTypes) {
    for (bool dynamic : {false, true}) {
      for (bool gpt2 : {true, false}) {
        SCOPED_TRACE(std::string(dtype_name(dt)) + (gpt2 ? " gpt2" : " bert") +
                     (dynamic ? " dynamic batch" : ""));
        testing::TransformerShape s;
        s.dtype = dt;
        s.seq = 13;  // odd: no vector-width multiple
        s.batch = dynamic ? kDynamic : 2;
        Network net;
        if (gpt2) {
          testing::build_gpt2(net, s, 2);
        } else {
          testing::build_bert_layer(net, s);
        }
        BuilderConfig cfg;  // 16-bit networks: their precision enabled, as kiln.compile does
        if (dt == DataType::kFloat16) cfg.enabled_precisions = {Precision::kFP32, Precision::kFP16};
        if (dt == DataType::kBFloat16)
          cfg.enabled_precisions = {Precision::kFP32, Precision::kBF16};
        if (dynamic) {
          OptimizationProfile prof;
          if (gpt2) {
            prof.set("input_ids", {1, s.seq}, {2, s.seq}, {3, s.seq});
          } else {
            prof.set("hidden", {1, s.seq, s.embed}, {2, s.seq, s.embed}, {3, s.seq, s.embed});
            prof.set("mask", {1, 1, 1, s.seq}, {2, 1, 1, s.seq}, {3, 1, 1, s.seq});
          }
          cfg.profiles.push_back(prof);
        }
        const bool half = dt != DataType::kFloat32;
        testing::GpuCompareOptions tol;
        tol.rtol = dt == DataType::kBFloat16 ? 6e-2 : half ? 2e-2 : 1e-4;
        tol.atol = tol.rtol;
        for (int64_t b : dynamic ? std::vector<int64_t>{3, 1} : std::vector<int64_t>{2}) {
          std::vector<HostTensor> in;
          if (gpt2) {
            in.push_back(random_tensor(DataType::kInt64, {b, s.seq}, 0, 64));
          } else {
            in.push_back(random_tensor(dt, {b, s.seq, s.embed}));
            in.push_back(random_tensor(dt, {b, 1, 1, s.seq}, -2, 0));
          }
          expect_cuda_matches_cpu(net, in, cfg, tol);
        }
        cfg.backend = "cuda";
        auto plan = Builder::build(net, cfg);
        ASSERT_TRUE(plan.ok()) << plan.status().to_string();
        auto contents = serial::read_plan(plan->bytes);
        auto predicted = cuda::plan_kernels(net, cfg);
        ASSERT_TRUE(contents.ok() && predicted.ok());
        ASSERT_EQ(contents->kernels.size(), predicted->kernels.size());
        for (size_t k = 0; k < predicted->kernels.size(); ++k)
          EXPECT_EQ(contents->kernels[k].layers, predicted->kernels[k].layers) << "kernel " << k;
      }
    }
  }
}

}  // namespace
}  // namespace kiln

namespace kiln {
namespace {

// With a 2-D convolution present the CUDA build runs the channels-last layout pass: convolutions,
// pooling and adaptive pooling then use their NHWC kernels.
TEST(CudaChannelsLast, ConvPoolingChainsMatchTheReference) {
  KILN_REQUIRE_GPU();
  for (DataType dt : testing::kFloatTypes) {
    SCOPED_TRACE(dtype_name(dt));
    Network net;
    auto x = net.add_input("x", dt, {-1, 6, 19, 17});
    auto w = testing::add_constant(net, testing::random_tensor(dt, {8, 3, 3, 3}, -0.3, 0.3));
    ConvolutionParams cp;
    cp.pads_begin = {1, 1};
    cp.groups = 2;
    auto c = net.add_unary(*net.add_convolution(*x, w, Tensor{}, cp), UnaryOp::kRelu);
    PoolingParams mp;
    mp.kernel = {3, 3};
    mp.strides = {2, 2};
    mp.pads_begin = {1, 1};
    mp.ceil_mode = true;
    auto m = net.add_pooling(*c, mp);
    PoolingParams ap;
    ap.type = PoolingType::kAverage;
    ap.kernel = {2, 3};
    ap.strides = {1, 2};
    ap.pads_begin = {1, 1};
    ap.count_include_pad = false;
    auto a = net.add_pooling(*m, ap);
    auto g = net.add_adaptive_pooling(*a, AdaptivePoolingParams{PoolingType::kAverage, {3, 2}});
    auto h = net.add_adaptive_pooling(*m, AdaptivePoolingParams{PoolingType::kMax, {4, 3}});
    ASSERT_TRUE(g.ok() && h.ok()) << g.status().to_string() << h.status().to_string();
    ASSERT_TRUE(net.mark_output(*g, "g").ok());
    ASSERT_TRUE(net.mark_output(*h, "h").ok());
    // Global pooling (adaptive to 1 x 1, the SE-block / classifier pattern), average and max.
    auto ga = net.add_adaptive_pooling(*c, AdaptivePoolingParams{PoolingType::kAverage, {1, 1}});
    auto gm = net.add_adaptive_pooling(*m, AdaptivePoolingParams{PoolingType::kMax, {1, 1}});
    ASSERT_TRUE(ga.ok() && gm.ok());
    ASSERT_TRUE(net.mark_output(*ga, "global_avg").ok());
    ASSERT_TRUE(net.mark_output(*gm, "global_max").ok());
    BuilderConfig cfg;
    cfg.profiles = {OptimizationProfile().set("x", {1, 6, 19, 17}, {2, 6, 19, 17}, {3, 6, 19, 17})};
    cfg.switches.layout = LayoutChoice::kNHWC;  // every dtype, whatever the auto rule says
    testing::expect_cuda_matches_cpu(net, {testing::random_tensor(dt, {3, 6, 19, 17})}, cfg);
    testing::expect_cuda_matches_cpu(net, {testing::random_tensor(dt, {1, 6, 19, 17})}, cfg);
  }
}

}  // namespace
}  // namespace kiln
