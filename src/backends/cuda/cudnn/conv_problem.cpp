// Convolution problems and the choice of implementation (conv_problem.h).
#include "backends/cuda/cudnn/conv_problem.h"

namespace kiln::cuda {

cudnnDataType_t cudnn_type(DataType dt) {
  switch (dt) {
    case DataType::kFloat16:
      return CUDNN_DATA_HALF;
    case DataType::kBFloat16:
      return CUDNN_DATA_BFLOAT16;
    default:
      return CUDNN_DATA_FLOAT;
  }
}

std::string ConvProblem::key() const {
  std::string k = std::string(dtype_name(dt)) + (transposed ? "|T" : "|F") + "|g" +
                  std::to_string(groups) + (nhwc ? "|nhwc" : "");
  for (const auto* v : {&x, &w, &y, &pad, &stride, &dil}) {
    k += "|";
    for (int d : *v) k += std::to_string(d) + ",";
  }
  return k;
}

namespace {
std::vector<int> to_int(const Dims& d) { return std::vector<int>(d.begin(), d.end()); }

}  // namespace

Expected<ConvProblem> make_problem(const ir::Layer& l, std::span<const TensorView> in,
                                   std::span<const TensorView> out) {
  const auto& p = std::get<ConvolutionParams>(l.params);
  ConvProblem c;
  c.dt = in[0].dtype;
  c.x = to_int(in[0].dims);
  c.w = to_int(in[1].dims);
  c.y = to_int(out[0].dims);
  c.nhwc = p.channels_last;
  if (c.nhwc) {  // describe with NCHW-ordered dims; strides say channels-last
    auto to_nchw = [](std::vector<int>& d) {
      int ch = d.back();
      d.pop_back();
      d.insert(d.begin() + 1, ch);
    };
    to_nchw(c.x);
    to_nchw(c.w);
    to_nchw(c.y);
  }
  for (size_t i = 0; i < p.pads_begin.size(); ++i) {
    if (p.pads_begin[i] != p.pads_end[i]) {
      return layer_error(l, StatusCode::kUnsupported,
                         "asymmetric padding is not supported by the cuDNN convolution");
    }
    c.pad.push_back(static_cast<int>(p.pads_begin[i]));
    c.stride.push_back(static_cast<int>(p.strides[i]));
    c.dil.push_back(static_cast<int>(p.dilations[i]));
  }
  c.groups = static_cast<int>(p.groups);
  c.transposed = p.transposed;
  c.has_bias = in.size() > 2 && in[2].data != nullptr;
  if (c.x.size() == 3) {  // 1-D: insert H = 1
    c.x.insert(c.x.begin() + 2, 1);
    c.w.insert(c.w.begin() + 2, 1);
    c.y.insert(c.y.begin() + 2, 1);
    c.pad.insert(c.pad.begin(), 0);
    c.stride.insert(c.stride.begin(), 1);
    c.dil.insert(c.dil.begin(), 1);
  }
  return c;
}

std::vector<int> packed_strides(const std::vector<int>& d) {
  std::vector<int> s(d.size(), 1);
  for (int i = static_cast<int>(d.size()) - 2; i >= 0; --i)
    s[static_cast<size_t>(i)] = s[static_cast<size_t>(i) + 1] * d[static_cast<size_t>(i) + 1];
  return s;
}

std::vector<int> channels_last_strides(const std::vector<int>& d) {
  std::vector<int> s(d.size(), 1);
  int acc = d[1];  // C is innermost
  for (int i = static_cast<int>(d.size()) - 1; i >= 2; --i) {
    s[static_cast<size_t>(i)] = acc;
    acc *= d[static_cast<size_t>(i)];
  }
  s[1] = 1;
  s[0] = acc;
  return s;
}

bool graph_eligible(const ConvProblem& p) {
  if (p.legacy_only || p.transposed) return false;
  return p.dt == DataType::kFloat16 || p.dt == DataType::kBFloat16;
}

ConvGraphProblem graph_problem(const ConvProblem& p, const EpilogueSpec& epi,
                               bool with_activation) {
  auto widen = [](const std::vector<int>& v) { return std::vector<int64_t>(v.begin(), v.end()); };
  ConvGraphProblem g;
  g.io_type = cudnn_type(p.dt);
  g.x = widen(p.x);
  g.w = widen(p.w);
  g.y = widen(p.y);
  g.xs = widen(p.nhwc ? channels_last_strides(p.x) : packed_strides(p.x));
  g.ws = widen(p.nhwc ? channels_last_strides(p.w) : packed_strides(p.w));
  g.ys = widen(p.nhwc ? channels_last_strides(p.y) : packed_strides(p.y));
  g.pad = widen(p.pad);
  g.stride = widen(p.stride);
  g.dil = widen(p.dil);
  g.bias = p.has_bias;
  g.residual = epi.residual >= 0;
  if (with_activation) g.activation = graph_activation_steps(epi.activation);
  return g;
}

std::string epilogue_key(const EpilogueSpec& epi, bool has_bias) {
  // "|c": a composed activation is fused in the graph (older cached tactics ran it afterwards).
  return std::string("|b") + (has_bias ? "1" : "0") + (epi.residual >= 0 ? "|res" : "") + "|act" +
         std::to_string(static_cast<int>(epi.activation)) +
         (graph_activation_steps(epi.activation).size() > 1 ? "|c" : "");
}

bool depthwise_eligible(const ConvProblem& p) {
  return graph_eligible(p) && p.nhwc && p.x.size() == 4 && p.groups == p.x[1] && p.w[0] == p.x[1] &&
         p.w[1] == 1;
}

GraphVariant create_graph_variant(cudnnHandle_t h, const ConvProblem& p, const EpilogueSpec& epi,
                                  bool allow_activation) {
  const bool mappable = allow_activation && epi.activation != UnaryOp::kIdentity &&
                        !graph_activation_steps(epi.activation).empty();
  for (bool with_act : {true, false}) {
    if (with_act && !mappable) continue;
    auto cg = ConvGraph::create(h, graph_problem(p, epi, with_act));
    if (cg) return GraphVariant{std::move(*cg), with_act};
  }
  return {};
}

}  // namespace kiln::cuda
