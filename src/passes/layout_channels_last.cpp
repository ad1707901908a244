// Channels-last layout for the CUDA backend (cuDNN's fast convolution kernels are NHWC):
//  1. every 2-D convolution / pooling / adaptive pooling runs in channels_last form, wrapped in
//     transposes: x -> T(x, NHWC) -> op -> T(y, NCHW); convolution weights get a transpose that
//     constant folding turns into a converted weight;
//  2. transposes are pushed below pointwise layers (all non-scalar operands carry the same
//     transpose; constant operands get a transpose of their own), so chains of layers stay NHWC;
//  3. transpose(transpose(x, p), q) collapses to one transpose (or to x when it composes to the
//     identity), and a transpose that only moves size-1 dims becomes a reshape (a free view).
#include <map>
#include <optional>

#include "common/unverified.h"
#include "passes/graph_rewriter.h"
#include "passes/pass.h"

namespace kiln::passes {
namespace {

using Perm = std::vector<int64_t>;

const Perm kToLast = {0, 2, 3, 1};
const Perm kToFirst = {0, 3, 1, 2};

bool is_pointwise(const ir::Layer& l) { return ir::has_flag(l.op, ir::kFlagPointwise); }

struct TransposeInfo {
  int32_t source;
  Perm perm;
};

// Quantized convolutions' channels-last kernels (NHWC direct / GEMM, cuDNN int8 graphs) have not
// yet run on a GPU: until they have, only an explicit layout = nhwc (or layout_any_backend) gives
// quantized convolutions the NHWC form. KILN_UNVERIFIED (common/unverified.h): true once
// test_cuda_quantized has passed on a GPU.
constexpr bool kQuantizedNhwcEnabled = kUnverifiedKernelsOn;

class LayoutRewriter {
 public:
  /// quantized_nhwc: quantized convolutions take the channels-last form too (their NHWC kernels
  /// have not yet run on a GPU, KILN_UNVERIFIED: only when the layout is asked for explicitly).
  LayoutRewriter(const ir::Graph& g, bool quantized_nhwc)
      : src_(g), rw_(g), quantized_nhwc_(quantized_nhwc) {}

  Expected<ir::Graph> run() {
    for (size_t li = 0; li < src_.layers.size(); ++li) KILN_RETURN_IF_ERROR(rewrite(li));
    return rw_.finish();
  }

 private:
  ir::Graph& dst() { return rw_.dst(); }
  const TensorType& type(int32_t t) { return dst().tensors[static_cast<size_t>(t)].type; }

  std::optional<TransposeInfo> transpose_of(int32_t t) {
    auto it = transposes_.find(t);
    if (it == transposes_.end()) return std::nullopt;
    return it->second;
  }

  // Adds transpose(x, perm), simplifying against an existing transpose of x.
  Expected<int32_t> transpose(int32_t x, const Perm& perm, const std::string& name) {
    if (auto t = transpose_of(x)) {
      Perm composed(perm.size());
      for (size_t i = 0; i < perm.size(); ++i) composed[i] = t->perm[static_cast<size_t>(perm[i])];
      bool identity = true;
      for (size_t i = 0; i < composed.size(); ++i)
        identity &= composed[i] == static_cast<int64_t>(i);
      if (identity) return t->source;
      return transpose(t->source, composed, name);
    }
    // Moving only size-1 dims keeps the element order: a reshape (view) does it.
    const Dims& d = type(x).dims;
    Dims out;
    for (int64_t p : perm) out.push_back(d[static_cast<int>(p)]);
    std::vector<int64_t> order_in, order_out;
    for (int i = 0; i < d.rank(); ++i)
      if (d[i] != 1) order_in.push_back(i);
    for (int64_t p : perm)
      if (d[static_cast<int>(p)] != 1) order_out.push_back(p);
    int dynamic = 0;
    for (int64_t v : out) dynamic += v < 0;
    if (order_in == order_out && dynamic <= 1) {
      std::vector<int64_t> shape(out.begin(), out.end());
      KILN_ASSIGN_OR_RETURN(auto r, rw_.add(ir::OpKind::kReshape, ReshapeParams{shape}, {x}, name));
      transposes_[r[0]] = TransposeInfo{x, perm};  // still a transpose for sinking and cancelling
      return r[0];
    }
    KILN_ASSIGN_OR_RETURN(auto r,
                          rw_.add(ir::OpKind::kTranspose, TransposeParams{perm}, {x}, name));
    transposes_[r[0]] = TransposeInfo{x, perm};
    return r[0];
  }

  static bool rank4_spatial(const ir::Graph& g, const ir::Layer& l) {
    return g.tensors[static_cast<size_t>(l.inputs[0])].type.dims.rank() == 4;
  }

  Status wrap_channels_last(size_t li) {
    const ir::Layer& l = src_.layers[li];
    std::vector<int32_t> ins;
    for (int32_t i : l.inputs) ins.push_back(rw_.map(i));
    KILN_ASSIGN_OR_RETURN(auto xt, transpose(ins[0], kToLast, l.name + "/to_nhwc"));
    ins[0] = xt;
    ir::LayerParams params = l.params;
    if (l.op == ir::OpKind::kConvolution) {
      KILN_ASSIGN_OR_RETURN(auto wt, transpose(ins[1], kToLast, l.name + "/weight_krsc"));
      ins[1] = wt;
      std::get<ConvolutionParams>(params).channels_last = true;
    } else if (l.op == ir::OpKind::kQuantizedConvolution) {
      // int8 / float8 activations stay NHWC between quantized convolutions (the transposes
      // between them cancel); the residual operand (input 5) follows the output's layout.
      KILN_ASSIGN_OR_RETURN(auto wt, transpose(ins[1], kToLast, l.name + "/weight_krsc"));
      ins[1] = wt;
      if (ins.size() > 5 && ins[5] >= 0) {
        KILN_ASSIGN_OR_RETURN(auto rt, transpose(ins[5], kToLast, l.name + "/residual_nhwc"));
        ins[5] = rt;
      }
      std::get<QuantizedConvolutionParams>(params).channels_last = true;
    } else if (l.op == ir::OpKind::kPooling) {
      std::get<PoolingParams>(params).channels_last = true;
    } else {
      std::get<AdaptivePoolingParams>(params).channels_last = true;
    }
    KILN_ASSIGN_OR_RETURN(auto y, rw_.add(l.op, params, ins, l.name));
    dst().layers.back().precision = l.precision;
    dst().layers.back().user_precision = l.user_precision;
    KILN_ASSIGN_OR_RETURN(auto back, transpose(y[0], kToFirst, l.name + "/to_nchw"));
    rw_.set_map(l.outputs[0], back);
    return {};
  }

  // Pointwise layer over transposed operands: apply it before the transpose instead.
  Expected<bool> sink(size_t li) {
    const ir::Layer& l = src_.layers[li];
    const int rank = src_.tensors[static_cast<size_t>(l.outputs[0])].type.dims.rank();
    std::optional<Perm> perm;
    std::vector<int32_t> ins;
    for (int32_t i : l.inputs) ins.push_back(rw_.map(i));
    for (int32_t t : ins) {
      if (t < 0) continue;
      auto tr = transpose_of(t);
      if (tr) {
        if (perm && *perm != tr->perm) return false;
        perm = tr->perm;
      } else if (type(t).dims.volume() != 1 && !is_constant(dst(), t)) {
        return false;  // an activation without the transpose: moving would add work
      }
    }
    if (!perm || static_cast<int>(perm->size()) != rank) return false;
    // Inverse permutation: the operand layout that produces the transposed layout.
    Perm inverse(perm->size());
    for (size_t i = 0; i < perm->size(); ++i)
      inverse[static_cast<size_t>((*perm)[i])] = static_cast<int64_t>(i);
    for (int32_t& t : ins) {
      if (t < 0) continue;
      if (auto tr = transpose_of(t)) {
        t = tr->source;
      } else if (type(t).dims.volume() != 1) {
        int r = type(t).dims.rank();
        if (r != rank) {
          if (r > rank) return false;
          std::vector<int64_t> axes;
          for (int k = 0; k < rank - r; ++k) axes.push_back(k);
          KILN_ASSIGN_OR_RETURN(auto u, rw_.add(ir::OpKind::kUnsqueeze, UnsqueezeParams{axes}, {t},
                                                l.name + "/align"));
          t = u[0];
        }
        KILN_ASSIGN_OR_RETURN(auto c, rw_.add(ir::OpKind::kTranspose, TransposeParams{inverse}, {t},
                                              l.name + "/const_nhwc"));
        t = c[0];
      }
    }
    KILN_ASSIGN_OR_RETURN(auto y, rw_.add(l.op, l.params, ins, l.name));
    dst().layers.back().precision = l.precision;
    dst().layers.back().user_precision = l.user_precision;
    KILN_ASSIGN_OR_RETURN(auto back, transpose(y[0], *perm, l.name + "/relayout"));
    rw_.set_map(l.outputs[0], back);
    return true;
  }

  // A quantize / dequantize with one scale and zero point maps every element alike: transposes
  // move through it as through a pointwise layer (per-channel ones name an axis: they stay).
  bool per_tensor_qdq(const ir::Layer& l) const {
    if (l.op != ir::OpKind::kQuantize && l.op != ir::OpKind::kDequantize) return false;
    for (size_t i = 1; i < l.inputs.size(); ++i)
      if (l.inputs[i] >= 0 &&
          src_.tensors[static_cast<size_t>(l.inputs[i])].type.dims.volume() != 1)
        return false;
    return true;
  }

  Status rewrite(size_t li) {
    const ir::Layer& l = src_.layers[li];
    // The quantized convolution has the convolution's NHWC form (kernels on both backends).
    bool spatial = ir::has_flag(l.op, ir::kFlagChannelsLast) ||
                   (quantized_nhwc_ && l.op == ir::OpKind::kQuantizedConvolution);
    if (spatial && rank4_spatial(src_, l)) {
      bool ok = true;
      if (l.op == ir::OpKind::kConvolution) {
        const auto& p = std::get<ConvolutionParams>(l.params);
        ok = !p.transposed && !p.channels_last;
      } else if (l.op == ir::OpKind::kQuantizedConvolution) {
        const auto& p = std::get<QuantizedConvolutionParams>(l.params);
        ok = !p.transposed && !p.channels_last;
      } else if (l.op == ir::OpKind::kPooling) {
        const auto& p = std::get<PoolingParams>(l.params);
        ok = !p.channels_last && !p.return_indices;  // indices count channels-first planes
      } else {
        ok = !std::get<AdaptivePoolingParams>(l.params).channels_last;
      }
      if (ok) return wrap_channels_last(li);
    }
    if ((is_pointwise(l) || per_tensor_qdq(l)) && l.outputs.size() == 1) {
      KILN_ASSIGN_OR_RETURN(auto sunk, sink(li));
      if (sunk) return {};
    }
    if (l.op == ir::OpKind::kTranspose) {
      KILN_ASSIGN_OR_RETURN(auto t, transpose(rw_.map(l.inputs[0]),
                                              std::get<TransposeParams>(l.params).perm, l.name));
      rw_.set_map(l.outputs[0], t);
      return {};
    }
    return rw_.copy_layer(li);
  }

  const ir::Graph& src_;
  GraphRewriter rw_;
  bool quantized_nhwc_ = false;
  std::map<int32_t, TransposeInfo> transposes_;  // dst tensor -> how it was made
};

}  // namespace

// Batch at or above which the auto rule picks NHWC in float32 (between the measured points 1 and
// 64).
constexpr int64_t kChannelsLastMinBatch = 16;

// The leading dimension of the first rank-4 network input at the first profile's opt shape (its
// static size when it has one); 0 when there is no such input.
static int64_t opt_batch(const ir::Graph& g, const BuilderConfig& config) {
  for (int32_t id : g.inputs) {
    const auto& t = g.tensors[static_cast<size_t>(id)];
    if (t.type.dims.rank() != 4) continue;
    if (t.type.dims[0] != kDynamic) return t.type.dims[0];
    if (config.profiles.empty()) return 0;
    auto it = config.profiles[0].ranges.find(t.name);
    return it == config.profiles[0].ranges.end() ? 0 : it->second.opt[0];
  }
  return 0;
}

bool channels_last_profitable(const ir::Graph& g, const BuilderConfig& config, std::string* why) {
  bool any = false, grouped = false,
       half =
           config.precision_enabled(Precision::kFP16) || config.precision_enabled(Precision::kBF16);
  bool quantized = false;
  for (const auto& l : g.layers) {
    quantized |= l.op == ir::OpKind::kQuantizedConvolution &&
                 g.tensors[static_cast<size_t>(l.inputs[0])].type.dims.rank() == 4;
    if (l.op == ir::OpKind::kConvolution &&
        g.tensors[static_cast<size_t>(l.inputs[0])].type.dims.rank() == 4) {
      any = true;
      if (std::get<ConvolutionParams>(l.params).groups != 1) grouped = true;
      DataType dt = g.tensors[static_cast<size_t>(l.inputs[0])].type.dtype;
      if (dt == DataType::kFloat16 || dt == DataType::kBFloat16) half = true;
    }
  }
  // Measured on H100 (bench/benchmark.py --variants KILN_LAYOUT=nhwc): in half precision NHWC wins
  // or ties at every batch now that convolutions run as cuDNN graphs and depthwise convolutions on
  // Kiln's NHWC kernel — resnet50 b1 0.37 vs 0.87 ms, b64 3.06 vs 3.06; mobilenet_v3 b64 1.93 vs
  // 4.34; efficientnet_b0 b64 3.70 vs 7.75; convnext_tiny b1 0.73 vs 0.88, b64 5.81 vs 12.0.
  // In float32 (legacy cuDNN algorithms) the earlier H200 measurements stand: NHWC wins for dense
  // convolutions at large batch only (resnet50 b64 4.0 vs 9.5 ms; b1 2.4 vs 1.1 ms) and loses with
  // grouped convolutions.
  const int64_t batch = opt_batch(g, config);
  auto say = [&](bool r, const std::string& w) {
    if (why != nullptr) *why = w;
    return r;
  };
  // cuDNN's int8 engines and the IMMA GEMM path read NHWC, but those kernels have not yet run on a
  // GPU (KILN_UNVERIFIED): the auto rule keeps quantized convolutions NCHW until they have.
  if (quantized && kQuantizedNhwcEnabled)
    return say(true, "8-bit 2-D convolutions (NHWC int8 kernels)");
  if (!any) return say(false, "no 2-D convolutions");
  if (half)
    return say(true,
               "half-precision 2-D convolutions (cuDNN graph engines, NHWC depthwise kernel)");
  if (grouped) return say(false, "float32 grouped or depthwise convolutions");
  if (batch < kChannelsLastMinBatch)
    return say(false, "float32 at opt batch " + std::to_string(batch) + " < " +
                          std::to_string(kChannelsLastMinBatch));
  return say(true, "float32 dense convolutions at opt batch " + std::to_string(batch));
}

Status layout_channels_last(ir::Graph& g, const PassContext& ctx) {
  // layout_any_backend runs it for any backend and skips the auto rule (tests check it on the CPU
  // reference); kNCHW turns it off, kNHWC forces it for every network on CUDA.
  const BuildSwitches& sw = ctx.config.switches;
  const bool forced = sw.layout_any_backend;
  if (sw.layout == LayoutChoice::kNCHW) return {};
  if (ctx.backend != "cuda" && !forced) return {};
  std::string why;
  bool use = channels_last_profitable(g, ctx.config, &why);
  if (sw.layout == LayoutChoice::kAuto && !forced) {
    ctx.logger.log(Severity::kInfo, std::string("[passes.layout_channels_last] ") +
                                        (use ? "NHWC: " : "NCHW: ") + why);
    if (!use) return {};
  }
  const bool quantized_nhwc = kQuantizedNhwcEnabled || sw.layout == LayoutChoice::kNHWC || forced;
  KILN_ASSIGN_OR_RETURN(auto out, LayoutRewriter(g, quantized_nhwc).run());
  g = std::move(out);
  if (ctx.outcome != nullptr) ctx.outcome->channels_last = true;
  return {};
}

}  // namespace kiln::passes
