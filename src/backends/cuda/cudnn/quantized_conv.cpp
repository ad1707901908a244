// cuDNN int8 graphs for channels-last quantized convolutions (quantized_conv.h).
#include "backends/cuda/cudnn/quantized_conv.h"

#include <optional>

#include "backends/cuda/cudnn/conv_problem.h"
#include "common/element_access.h"

namespace kiln::cuda {
namespace {

const QuantizedConvolutionParams& params(const ir::Layer& l) {
  return std::get<QuantizedConvolutionParams>(l.params);
}

bool present(const ir::Layer& l, size_t i) { return l.inputs.size() > i && l.inputs[i] >= 0; }

// The values of a constant input (nullopt when it is computed).
std::optional<std::vector<double>> constant_values(const ir::Graph& g, int32_t t) {
  const int32_t producer = g.tensors[static_cast<size_t>(t)].producer;
  if (producer < 0) return std::nullopt;
  const ir::Layer& c = g.layers[static_cast<size_t>(producer)];
  if (c.op != ir::OpKind::kConstant) return std::nullopt;
  const ir::Weight& w = g.constant_weight(c);
  if (!w.bytes) return std::nullopt;
  std::vector<double> v(static_cast<size_t>(w.type.dims.volume()));
  for (size_t i = 0; i < v.size(); ++i)
    v[i] = load_as_double(w.bytes->data(), w.type.dtype, static_cast<int64_t>(i));
  return v;
}

bool cudnn_float(DataType dt) {
  return dt == DataType::kFloat32 || dt == DataType::kFloat16 || dt == DataType::kBFloat16;
}

std::vector<int64_t> to_nchw(const Dims& d) {  // [N, H, W, C] -> [N, C, H, W]
  return {d[0], d[3], d[1], d[2]};
}

std::vector<int64_t> strides_of(const std::vector<int64_t>& nchw) {
  std::vector<int> d(nchw.begin(), nchw.end());
  std::vector<int> s = channels_last_strides(d);
  return {s.begin(), s.end()};
}

ConvGraphProblem problem(const ir::Layer& l, std::span<const TensorView> in,
                         const TensorView& out) {
  const auto& p = params(l);
  ConvGraphProblem g;
  g.int8 = true;
  g.x = to_nchw(in[0].dims);
  g.w = to_nchw(in[1].dims);
  g.y = to_nchw(out.dims);
  g.xs = strides_of(g.x);
  g.ws = strides_of(g.w);
  g.ys = strides_of(g.y);
  g.pad = p.pads_begin;
  g.stride = p.strides;
  g.dil = p.dilations;
  g.bias = present(l, 4);
  g.residual = present(l, 5);
  if (g.residual) g.z_type = cudnn_type(in[5].dtype);
  if (p.activation != UnaryOp::kIdentity) g.activation = graph_activation_steps(p.activation);
  g.out_multiplier = out.dtype == DataType::kInt8;
  g.y_type = g.out_multiplier ? CUDNN_DATA_INT8 : cudnn_type(out.dtype);
  return g;
}

std::string shape_key(std::span<const TensorView> in, const TensorView& out, int candidate) {
  return in[0].dims.to_string() + out.dims.to_string() + "#" + std::to_string(candidate);
}

Status upload(const std::vector<float>& v, float** dst) {
  KILN_CUDA_RETURN(cudaMalloc(dst, std::max<size_t>(v.size(), 1) * sizeof(float)));
  KILN_CUDA_RETURN(cudaMemcpy(*dst, v.data(), v.size() * sizeof(float), cudaMemcpyHostToDevice));
  return {};
}

}  // namespace

std::string quantized_cudnn_refusal(const ir::Graph& g, const ir::Layer& l) {
  if (l.op != ir::OpKind::kQuantizedConvolution) return "not a quantized convolution";
  const auto& p = params(l);
  const TensorType& x = g.tensors[static_cast<size_t>(l.inputs[0])].type;
  const TensorType& y = g.tensors[static_cast<size_t>(l.outputs[0])].type;
  if (!p.channels_last || x.dims.rank() != 4) return "not a channels-last 2-D convolution";
  if (p.groups != 1 || p.transposed) return "grouped or transposed";
  if (x.dtype != DataType::kInt8 || p.x_zero_point != 0)
    return "the input is not int8 with zero point 0";
  const int64_t cin = x.dims[3], cout = y.dims[3];
  if (cin < 0 || cout < 0 || cin % 4 != 0 || cout % 4 != 0)
    return "channel counts are not multiples of 4";
  if (p.pads_begin != p.pads_end) return "asymmetric padding";
  for (size_t i : {2u, 3u, 4u, 6u})
    if (present(l, i) && !constant_values(g, l.inputs[i]))
      return "a scale or the bias is not a constant";
  if (p.activation != UnaryOp::kIdentity && graph_activation_steps(p.activation).empty())
    return "an activation cuDNN does not fuse";
  if (present(l, 5) && !cudnn_float(g.tensors[static_cast<size_t>(l.inputs[5])].type.dtype))
    return "the residual is not f32, f16 or bf16";
  if (y.dtype == DataType::kInt8) {
    if (p.out_zero_point != 0 || p.quant_min != -128 || p.quant_max != 127)
      return "the int8 output has a zero point or a narrowed range";
  } else if (!cudnn_float(y.dtype)) {
    return "the output is not int8, f32, f16 or bf16";
  }
  return {};
}

QuantizedCudnnConv::~QuantizedCudnnConv() {
  graphs_.clear();
  if (alpha_) cudaFree(alpha_);
  if (bias_) cudaFree(bias_);
  if (out_multiplier_) cudaFree(out_multiplier_);
}

Expected<std::unique_ptr<QuantizedCudnnConv>> QuantizedCudnnConv::create(const ir::Graph& g,
                                                                         const ir::Layer& l) {
  std::string why = quantized_cudnn_refusal(g, l);
  if (!why.empty()) return layer_error(l, StatusCode::kUnsupported, "no cuDNN int8 graph: " + why);
  const int64_t cout = g.tensors[static_cast<size_t>(l.outputs[0])].type.dims[3];
  // alpha in float32 as the direct kernel computes it: f32(x_scale) * f32(w_scale[c]).
  const auto xs = *constant_values(g, l.inputs[2]);
  const auto ws = *constant_values(g, l.inputs[3]);
  std::vector<float> alpha(static_cast<size_t>(cout)), bias;
  for (size_t c = 0; c < alpha.size(); ++c)
    alpha[c] = static_cast<float>(xs[0]) * static_cast<float>(ws[ws.size() == 1 ? 0 : c]);
  if (present(l, 4)) {
    const auto b = *constant_values(g, l.inputs[4]);
    bias.assign(b.begin(), b.end());
  }
  std::optional<float> out_multiplier;
  if (present(l, 6))
    out_multiplier = 1.0f / static_cast<float>((*constant_values(g, l.inputs[6]))[0]);
  return create(l, alpha, bias, out_multiplier);
}

Expected<std::unique_ptr<QuantizedCudnnConv>> QuantizedCudnnConv::create(
    const ir::Layer& l, const std::vector<float>& alpha, const std::vector<float>& bias,
    std::optional<float> out_multiplier) {
  std::unique_ptr<QuantizedCudnnConv> k(new QuantizedCudnnConv(l));
  KILN_RETURN_IF_ERROR(upload(alpha, &k->alpha_));
  if (present(l, 4)) KILN_RETURN_IF_ERROR(upload(bias, &k->bias_));
  if (out_multiplier) KILN_RETURN_IF_ERROR(upload({*out_multiplier}, &k->out_multiplier_));
  return k;
}

Expected<ConvGraph*> QuantizedCudnnConv::graph_for(cudnnHandle_t h, std::span<const TensorView> in,
                                                   const TensorView& out, int candidate) const {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string key = shape_key(in, out, candidate);
  auto it = graphs_.find(key);
  if (it != graphs_.end()) return it->second.get();
  KILN_ASSIGN_OR_RETURN(auto graph, ConvGraph::create(h, problem(layer_, in, out)));
  if (candidate < 0 || !graph->select(h, candidate, kQuantizedCudnnWorkspace).ok())
    KILN_RETURN_IF_ERROR(graph->select_first(h, kQuantizedCudnnWorkspace).status());
  return graphs_.emplace(key, std::move(graph)).first->second.get();
}

Expected<int> QuantizedCudnnConv::candidates(cudnnHandle_t h, std::span<const TensorView> in,
                                             const TensorView& out) const {
  KILN_ASSIGN_OR_RETURN(auto graph, ConvGraph::create(h, problem(layer_, in, out)));
  return graph->candidates();
}

Status QuantizedCudnnConv::run(cudnnHandle_t h, std::span<const TensorView> in,
                               const TensorView& out, int candidate, void* workspace,
                               size_t workspace_bytes, cudaStream_t stream) const {
  KILN_ASSIGN_OR_RETURN(ConvGraph * graph, graph_for(h, in, out, candidate));
  if (graph->workspace() > workspace_bytes)
    return layer_error(layer_, StatusCode::kInternal, "cuDNN int8 graph workspace too small");
  const void* z = in.size() > 5 ? in[5].data : nullptr;
  return graph->run(h, in[0].data, in[1].data, bias_, z, out.data, workspace, stream, alpha_,
                    out_multiplier_);
}

}  // namespace kiln::cuda
