// The shared single-op cases (see op_cases.h). Test sizes are small and odd (tails of every kernel
// path); perf sizes are what the layer meets in ResNet-50, BERT-base and ViT-B at batch 8-32.
#include "backends/op_cases.h"

#include <cmath>

namespace kiln::testing {
namespace {

uint32_t seed_of(const std::string& s, uint32_t salt) {
  uint32_t h = 2166136261u ^ salt;
  for (char ch : s) h = (h ^ static_cast<uint8_t>(ch)) * 16777619u;
  return h;
}

std::vector<double> rounded(DataType round_to, const Dims& dims, std::vector<double> v) {
  if (round_to == DataType::kFloat32 || !is_floating(round_to)) return v;
  return to_doubles(make_tensor(round_to, dims, v));
}

std::vector<double> uniform(std::mt19937& rng, int64_t n, double lo, double hi) {
  std::uniform_real_distribution<double> d(lo, hi);
  std::vector<double> v(static_cast<size_t>(n));
  for (auto& x : v) x = d(rng);
  return v;
}

Dims dims_of(const Network& n, Tensor t) { return n.tensor_type(t)->dims; }
int64_t last_dim(const Network& n, Tensor t) {
  Dims d = dims_of(n, t);
  return d[d.rank() - 1];
}
DataType dtype_of(const Network& n, Tensor t) { return n.tensor_type(t)->dtype; }

Expected<Tensor> unary(Network& n, const std::vector<Tensor>& in, UnaryOp op, double a = 0,
                       double b = 0) {
  return n.add_unary(in[0], op, a, b);
}

ConvolutionParams conv(int64_t stride, int64_t pad, int64_t groups = 1) {
  ConvolutionParams p;
  p.strides = {stride, stride};
  p.pads_begin = p.pads_end = {pad, pad};
  p.dilations = {1, 1};
  p.groups = groups;
  return p;
}

std::vector<OpCase> all_cases() {
  using In = const std::vector<Tensor>&;
  std::vector<OpCase> c;
  // Pointwise.
  c.push_back({"relu",
               [](Network& n, In in, WeightMaker&) { return unary(n, in, UnaryOp::kRelu); },
               {{3, 5, 7}},
               {{32, 256, 56, 56}}});
  c.push_back({"gelu",
               [](Network& n, In in, WeightMaker&) { return unary(n, in, UnaryOp::kGelu); },
               {{4, 33}},
               {{8192, 3072}}});
  c.push_back({"silu",
               [](Network& n, In in, WeightMaker&) { return unary(n, in, UnaryOp::kSilu); },
               {{2, 3, 17}},
               {{8192, 3072}}});
  c.push_back({"exp",
               [](Network& n, In in, WeightMaker&) { return unary(n, in, UnaryOp::kExp); },
               {{5, 9}},
               {{8192, 768}}});
  c.push_back({"add_broadcast",
               [](Network& n, In in, WeightMaker&) {
                 return n.add_elementwise(in[0], in[1], BinaryOp::kAdd);
               },
               {{2, 3, 4, 5}, {3, 1, 5}},
               {{32, 64, 56, 56}, {64, 1, 1}}});
  c.push_back({"mul_residual",
               [](Network& n, In in, WeightMaker&) {
                 return n.add_elementwise(in[0], in[1], BinaryOp::kMul);
               },
               {{6, 11}, {6, 11}},
               {{8192, 768}, {8192, 768}}});
  c.push_back({"where",
               [](Network& n, In in, WeightMaker&) -> Expected<Tensor> {
                 auto zero = n.add_scalar(0.0, dtype_of(n, in[0]));
                 if (!zero) return zero.status();
                 auto cond = n.add_elementwise(in[0], *zero, BinaryOp::kGreater);
                 if (!cond) return cond.status();
                 return n.add_where(*cond, in[0], in[1]);
               },
               {{4, 9}, {4, 9}},
               {{8192, 768}, {8192, 768}}});
  c.push_back(
      {"cast_to_f32",
       [](Network& n, In in, WeightMaker&) { return n.add_cast(in[0], DataType::kFloat32); },
       {{7, 13}},
       {{8192, 768}}});
  // Reductions and normalizations.
  c.push_back({"reduce_sum_last",
               [](Network& n, In in, WeightMaker&) {
                 ReduceParams p;
                 p.op = ReduceOp::kSum;
                 p.axes = {-1};
                 return n.add_reduce(in[0], p);
               },
               {{5, 37}},
               {{8192, 768}}});
  c.push_back({"reduce_mean_spatial",
               [](Network& n, In in, WeightMaker&) {
                 ReduceParams p;
                 p.op = ReduceOp::kMean;
                 p.axes = {2, 3};
                 p.keep_dims = true;
                 return n.add_reduce(in[0], p);
               },
               {{2, 3, 5, 7}},
               {{32, 2048, 7, 7}}});
  c.push_back({"reduce_max_middle",
               [](Network& n, In in, WeightMaker&) {
                 ReduceParams p;
                 p.op = ReduceOp::kMax;
                 p.axes = {1};
                 return n.add_reduce(in[0], p);
               },
               {{3, 19, 4}},
               {{64, 197, 768}}});
  c.push_back({"softmax",
               [](Network& n, In in, WeightMaker&) { return n.add_softmax(in[0], -1); },
               {{2, 3, 33}},
               {{96, 128, 128}}});
  c.push_back({"log_softmax",
               [](Network& n, In in, WeightMaker&) { return n.add_softmax(in[0], -1, true); },
               {{4, 70}},
               {{64, 32000}}});
  c.push_back({"layer_norm",
               [](Network& n, In in, WeightMaker& w) {
                 const int64_t d = last_dim(n, in[0]);
                 LayerNormParams p;
                 return n.add_layer_norm(in[0], w({d}, 0.5, 1.5), w({d}), p);
               },
               {{3, 5, 40}},
               {{16, 512, 768}}});
  c.push_back({"rms_norm",
               [](Network& n, In in, WeightMaker& w) {
                 const int64_t d = last_dim(n, in[0]);
                 return n.add_rms_norm(in[0], w({d}, 0.5, 1.5), RmsNormParams{});
               },
               {{3, 41}},
               {{8192, 2048}}});
  c.push_back({"group_norm",
               [](Network& n, In in, WeightMaker& w) {
                 GroupNormParams p;
                 p.num_groups = 2;
                 const int64_t ch = dims_of(n, in[0])[1];
                 return n.add_group_norm(in[0], w({ch}, 0.5, 1.5), w({ch}), p);
               },
               {{2, 6, 5, 3}},
               {{8, 64, 64, 64}}});
  c.push_back({"batch_norm",
               [](Network& n, In in, WeightMaker& w) {
                 const int64_t ch = dims_of(n, in[0])[1];
                 return n.add_batch_norm(in[0], w({ch}), w({ch}, 0.5, 1.5), w({ch}, 0.5, 1.5),
                                         w({ch}), BatchNormParams{});
               },
               {{2, 5, 3, 3}},
               {{32, 256, 56, 56}}});
  c.push_back({"cumsum",
               [](Network& n, In in, WeightMaker&) {
                 CumSumParams p;
                 p.axis = 1;
                 return n.add_cumsum(in[0], p);
               },
               {{3, 21}},
               {{64, 4096}}});
  c.push_back({"topk",
               [](Network& n, In in, WeightMaker&) -> Expected<Tensor> {
                 TopKParams p;
                 p.k = 3;
                 auto r = n.add_topk(in[0], p);
                 if (!r) return r.status();
                 return (*r)[0];
               },
               {{4, 29}},
               {{64, 32000}}});
  // Seeded random fills shaped like the input (a runtime shape operand): both backends draw the
  // same counter-based numbers.
  for (FillMode mode : {FillMode::kUniform, FillMode::kNormal}) {
    c.push_back(
        {std::string("random_fill_") + std::string(enum_names(mode)[static_cast<size_t>(mode)]),
         [mode](Network& n, In in, WeightMaker&) -> Expected<Tensor> {
           auto shape = n.add_shape(in[0]);
           if (!shape) return shape.status();
           return n.add_random_fill(mode, 1234567, dtype_of(n, in[0]), {}, *shape);
         },
         {{3, 37}},
         {{64, 4096}}});
  }
  // GEMMs.
  c.push_back({"linear_bias",
               [](Network& n, In in, WeightMaker& w) {
                 const int64_t k = last_dim(n, in[0]);
                 const int64_t out = k == 768 ? 3072 : 24;
                 return n.add_linear(in[0], w({out, k}), w({out}));
               },
               {{3, 5, 40}},
               {{16, 512, 768}}});
  c.push_back({"matmul_batched",
               [](Network& n, In in, WeightMaker&) { return n.add_matmul(in[0], in[1]); },
               {{2, 3, 9, 16}, {2, 3, 16, 7}},
               {{16, 12, 512, 64}, {16, 12, 64, 512}}});
  c.push_back({"matmul_transpose_b",
               [](Network& n, In in, WeightMaker&) {
                 MatMulParams p;
                 p.transpose_b = true;
                 return n.add_matmul(in[0], in[1], p);
               },
               {{3, 10, 8}, {3, 12, 8}},
               {{192, 512, 64}, {192, 512, 64}}});
  // Convolutions and pooling.
  c.push_back({"conv3x3",
               [](Network& n, In in, WeightMaker& w) {
                 const int64_t ch = dims_of(n, in[0])[1];
                 return n.add_convolution(in[0], w({ch, ch, 3, 3}), w({ch}), conv(1, 1));
               },
               {{2, 4, 9, 7}},
               {{32, 64, 56, 56}}});
  c.push_back({"conv1x1_stride2",
               [](Network& n, In in, WeightMaker& w) {
                 const int64_t ch = dims_of(n, in[0])[1];
                 return n.add_convolution(in[0], w({2 * ch, ch, 1, 1}), Tensor{}, conv(2, 0));
               },
               {{2, 3, 8, 8}},
               {{32, 256, 56, 56}}});
  c.push_back({"conv_depthwise",
               [](Network& n, In in, WeightMaker& w) {
                 const int64_t ch = dims_of(n, in[0])[1];
                 return n.add_convolution(in[0], w({ch, 1, 3, 3}), w({ch}), conv(1, 1, ch));
               },
               {{2, 5, 7, 6}},
               {{32, 144, 56, 56}}});
  c.push_back({"conv_transpose",
               [](Network& n, In in, WeightMaker& w) {
                 const int64_t ch = dims_of(n, in[0])[1];
                 ConvolutionParams p = conv(2, 1);
                 p.transposed = true;
                 p.output_padding = {1, 1};
                 return n.add_convolution(in[0], w({ch, 3, 3, 3}), w({3}), p);
               },
               {{1, 4, 5, 6}},
               {{8, 64, 64, 64}}});
  c.push_back({"max_pool",
               [](Network& n, In in, WeightMaker&) {
                 PoolingParams p;
                 p.type = PoolingType::kMax;
                 p.kernel = {3, 3};
                 p.strides = {2, 2};
                 p.pads_begin = p.pads_end = {1, 1};
                 return n.add_pooling(in[0], p);
               },
               {{2, 3, 9, 8}},
               {{32, 64, 112, 112}}});
  // The indices output (returned here): int64 positions of each maximum in its input plane.
  c.push_back({"max_pool_indices",
               [](Network& n, In in, WeightMaker&) -> Expected<Tensor> {
                 PoolingParams p;
                 p.type = PoolingType::kMax;
                 p.kernel = {3, 3};
                 p.strides = {2, 2};
                 p.pads_begin = p.pads_end = {1, 1};
                 p.ceil_mode = true;
                 auto r = n.add_max_pooling_with_indices(in[0], p);
                 if (!r) return r.status();
                 return (*r)[1];
               },
               {{2, 3, 9, 8}},
               {{32, 64, 112, 112}}});
  c.push_back({"max_pool3d_dilated_indices",
               [](Network& n, In in, WeightMaker&) -> Expected<Tensor> {
                 PoolingParams p;
                 p.type = PoolingType::kMax;
                 p.kernel = {2, 2, 2};
                 p.strides = {1, 2, 2};
                 p.dilations = {2, 1, 1};
                 auto r = n.add_max_pooling_with_indices(in[0], p);
                 if (!r) return r.status();
                 return (*r)[1];
               },
               {{1, 2, 5, 6, 7}},
               {{8, 32, 16, 56, 56}}});
  c.push_back({"avg_pool",
               [](Network& n, In in, WeightMaker&) {
                 PoolingParams p;
                 p.type = PoolingType::kAverage;
                 p.kernel = {2, 2};
                 p.strides = {2, 2};
                 return n.add_pooling(in[0], p);
               },
               {{2, 3, 6, 8}},
               {{32, 256, 56, 56}}});
  c.push_back({"adaptive_avg_pool",
               [](Network& n, In in, WeightMaker&) {
                 AdaptivePoolingParams p;
                 p.output_size = {1, 1};
                 return n.add_adaptive_pooling(in[0], p);
               },
               {{2, 5, 7, 7}},
               {{32, 2048, 7, 7}}});
  // Attention.
  c.push_back({"attention",
               [](Network& n, In in, WeightMaker&) {
                 return n.add_attention(in[0], in[1], in[2], Tensor{}, AttentionParams{});
               },
               {{2, 3, 7, 16}, {2, 3, 9, 16}, {2, 3, 9, 16}},
               {{16, 12, 512, 64}, {16, 12, 512, 64}, {16, 12, 512, 64}}});
  c.push_back({"attention_causal",
               [](Network& n, In in, WeightMaker&) {
                 AttentionParams p;
                 p.causal = true;
                 return n.add_attention(in[0], in[1], in[2], Tensor{}, p);
               },
               {{1, 2, 11, 8}, {1, 2, 11, 8}, {1, 2, 11, 8}},
               {{8, 12, 1024, 64}, {8, 12, 1024, 64}, {8, 12, 1024, 64}}});
  // Data movement.
  c.push_back({"transpose_heads",
               [](Network& n, In in, WeightMaker&) { return n.add_transpose(in[0], {0, 2, 1, 3}); },
               {{2, 5, 3, 4}},
               {{16, 512, 12, 64}}});
  c.push_back({"concat",
               [](Network& n, In in, WeightMaker&) { return n.add_concat({in[0], in[1]}, 1); },
               {{2, 3, 5}, {2, 4, 5}},
               {{32, 128, 3136}, {32, 128, 3136}}});
  c.push_back({"slice_step",
               [](Network& n, In in, WeightMaker&) {
                 SliceParams p;
                 p.axes = {1};
                 p.starts = {1};
                 p.ends = {-1};
                 p.steps = {2};
                 return n.add_slice(in[0], p);
               },
               {{3, 11, 4}},
               {{64, 197, 768}}});
  c.push_back({"gather_embedding",
               [](Network& n, In in, WeightMaker& w) {
                 const int64_t rows = dims_of(n, in[0])[0];
                 std::vector<double> idx;
                 for (int64_t i = 0; i < 2 * rows; ++i)
                   idx.push_back(static_cast<double>((i * 7) % rows));
                 return n.add_gather(in[0], w.exact(DataType::kInt64, {2, rows}, idx), 0);
               },
               {{9, 16}},
               {{4096, 768}}});
  c.push_back({"pad_reflect",
               [](Network& n, In in, WeightMaker&) {
                 PadParams p;
                 p.pads_begin = {0, 0, 1, 2};
                 p.pads_end = {0, 0, 2, 1};
                 p.mode = PadMode::kReflect;
                 return n.add_pad(in[0], p);
               },
               {{2, 3, 5, 6}},
               {{16, 64, 128, 128}}});
  c.push_back({"resize_bilinear",
               [](Network& n, In in, WeightMaker&) {
                 ResizeParams p;
                 p.mode = ResizeMode::kLinear;
                 p.scales = {2.0, 2.0};
                 return n.add_resize(in[0], p);
               },
               {{1, 3, 5, 7}},
               {{8, 256, 64, 64}}});
  // Grid sample: the grid (second input) reaches past [-1, 1], so every padding mode is exercised.
  for (int mode = 0; mode < kNumGridSampleModes; ++mode) {
    for (int pad = 0; pad < kNumGridSamplePaddings; ++pad) {
      GridSampleParams p;
      p.mode = static_cast<GridSampleMode>(mode);
      p.padding = static_cast<GridSamplePadding>(pad);
      p.align_corners = (mode + pad) % 2 == 1;
      OpCase gs{"grid_sample_" + std::string(enum_names(p.mode)[static_cast<size_t>(mode)]) + "_" +
                    std::string(enum_names(p.padding)[static_cast<size_t>(pad)]),
                [p](Network& n, In in, WeightMaker&) { return n.add_grid_sample(in[0], in[1], p); },
                {{2, 3, 5, 7}, {2, 4, 6, 2}},
                {{8, 64, 64, 64}, {8, 64, 64, 2}}};
      gs.lo = -1.3;
      gs.hi = 1.3;
      c.push_back(gs);
    }
  }
  // Quantization: quantize then dequantize back to the case's dtype.
  c.push_back({"fake_quant_per_tensor_i8",
               [](Network& n, In in, WeightMaker& w) -> Expected<Tensor> {
                 Tensor s = w.exact(DataType::kFloat32, {}, {0.0123});
                 Tensor z = w.exact(DataType::kInt32, {}, {-7});
                 auto q = n.add_quantize(in[0], s, z, QuantizeParams{});
                 if (!q) return q.status();
                 DequantizeParams dp;
                 dp.to = dtype_of(n, in[0]);
                 return n.add_dequantize(*q, s, z, dp);
               },
               {{3, 7, 11}},
               {{8192, 3072}}});
  c.push_back({"fake_quant_per_channel_u8",
               [](Network& n, In in, WeightMaker& w) -> Expected<Tensor> {
                 std::vector<double> sv, zv;
                 for (int i = 0; i < 6; ++i) {
                   sv.push_back(0.004 + 0.003 * i);
                   zv.push_back(100 + 5 * i);
                 }
                 Tensor s = w.exact(DataType::kFloat32, {6}, sv);
                 Tensor z = w.exact(DataType::kInt64, {6}, zv);
                 QuantizeParams qp;
                 qp.to = DataType::kUInt8;
                 qp.axis = 1;
                 qp.quant_min = 0;
                 qp.quant_max = 255;
                 auto q = n.add_quantize(in[0], s, z, qp);
                 if (!q) return q.status();
                 DequantizeParams dp;
                 dp.to = dtype_of(n, in[0]);
                 dp.axis = 1;
                 return n.add_dequantize(*q, s, z, dp);
               },
               {{2, 6, 5, 3}},
               {{64, 6, 112, 112}}});
  c.push_back({"fake_quant_fp8",
               [](Network& n, In in, WeightMaker& w) -> Expected<Tensor> {
                 Tensor s = w.exact(DataType::kFloat32, {}, {0.002});
                 QuantizeParams qp;
                 qp.to = DataType::kFloat8E4M3;
                 qp.quant_min = -448;
                 qp.quant_max = 448;
                 auto q = n.add_quantize(in[0], s, {}, qp);
                 if (!q) return q.status();
                 DequantizeParams dp;
                 dp.to = dtype_of(n, in[0]);
                 return n.add_dequantize(*q, s, {}, dp);
               },
               {{5, 33}},
               {{8192, 3072}}});
  c.push_back({"cast_fp8_round_trip",
               [](Network& n, In in, WeightMaker&) -> Expected<Tensor> {
                 auto f8 = n.add_cast(in[0], DataType::kFloat8E4M3);
                 if (!f8) return f8.status();
                 return n.add_cast(*f8, dtype_of(n, in[0]));
               },
               {{4, 29}},
               {{8192, 768}},
               kFloatTypes,
               -500.0,
               500.0});
  return c;
}

}  // namespace

WeightMaker::WeightMaker(Network& net, const std::string& seed, DataType round_to,
                         DataType store_as)
    : net_(net), rng_(seed_of(seed, 0x5eedu)), round_to_(round_to), store_as_(store_as) {}

Tensor WeightMaker::operator()(const Dims& dims, double lo, double hi) {
  auto v = rounded(round_to_, dims, uniform(rng_, dims.volume(), lo, hi));
  return add_constant(net_, make_tensor(store_as_, dims, v));
}

Tensor WeightMaker::exact(DataType dt, const Dims& dims, const std::vector<double>& values) {
  return add_constant(net_, make_tensor(dt, dims, values));
}

const std::vector<OpCase>& op_cases() {
  static const std::vector<OpCase> cases = all_cases();
  return cases;
}

Expected<Network> make_case_network(const OpCase& c, DataType dtype, DataType round_to,
                                    const std::vector<Dims>& dims) {
  Network net;
  std::vector<Tensor> ins;
  for (size_t i = 0; i < dims.size(); ++i) {
    auto t = net.add_input("in" + std::to_string(i), dtype, dims[i]);
    if (!t) return t.status();
    ins.push_back(*t);
  }
  WeightMaker w(net, c.name, round_to, dtype);
  auto out = c.build(net, ins, w);
  if (!out) return out.status();
  KILN_RETURN_IF_ERROR(net.mark_output(*out, "out"));
  return net;
}

std::vector<HostTensor> make_case_inputs(const OpCase& c, DataType dtype, DataType round_to,
                                         const std::vector<Dims>& dims, uint32_t salt) {
  std::mt19937 rng(seed_of(c.name, salt));
  std::vector<HostTensor> out;
  for (const Dims& d : dims)
    out.push_back(
        make_tensor(dtype, d, rounded(round_to, d, uniform(rng, d.volume(), c.lo, c.hi))));
  return out;
}

std::string case_label(const OpCase& c, DataType dt) {
  return c.name + "/" + std::string(dtype_name(dt));
}

}  // namespace kiln::testing
