// kiln::Network: the public facade over ir::Graph. Validates handles, fills parameter defaults and
// adds layers through ir::add_layer (which infers types at once).
#include "kiln/network.h"

#include <atomic>
#include <cstring>
#include <functional>

#include "ir/graph.h"
#include "ir/text_printer.h"

namespace kiln {
namespace {

std::atomic<uint64_t> g_next_serial{1};

Status net_error(StatusCode code, const std::string& msg) {
  return make_error(code, "network", msg);
}

std::vector<int64_t> filled(const std::vector<int64_t>& v, size_t n, int64_t def) {
  return v.empty() ? std::vector<int64_t>(n, def) : v;
}

}  // namespace

Network::Network() : graph_(std::make_unique<ir::Graph>()), serial_(g_next_serial++) {}
Network::~Network() = default;
Network::Network(Network&&) noexcept = default;
Network& Network::operator=(Network&&) noexcept = default;

Status Network::check_tensor(Tensor t, std::string_view what, bool optional) const {
  if (!t.valid()) {
    if (optional) return {};
    return net_error(StatusCode::kInvalidArgument,
                     std::string(what) + " is an invalid (empty) tensor handle");
  }
  if (t.network_serial() != serial_) {
    return net_error(StatusCode::kInvalidArgument, std::string(what) + " (tensor " +
                                                       std::to_string(t.id()) +
                                                       ") belongs to a different network");
  }
  if (static_cast<size_t>(t.id()) >= graph_->tensors.size()) {
    return net_error(StatusCode::kInvalidArgument, std::string(what) + " refers to tensor " +
                                                       std::to_string(t.id()) +
                                                       " which does not exist");
  }
  return {};
}

#define KILN_CHECK_TENSOR(t, what, optional) KILN_RETURN_IF_ERROR(check_tensor(t, what, optional))

static Expected<Tensor> first_output(Expected<std::vector<int32_t>> r,
                                     const std::function<Tensor(int32_t)>& h) {
  KILN_ASSIGN_OR_RETURN(auto ids, std::move(r));
  return h(ids[0]);
}

Expected<Tensor> Network::add_input(std::string_view name, DataType dtype, const Dims& dims) {
  KILN_ASSIGN_OR_RETURN(auto id,
                        ir::add_input(*graph_, std::string(name), TensorType{dtype, dims}));
  return handle(id);
}

Expected<Tensor> Network::add_constant(const Dims& dims, DataType dtype, const void* data) {
  if (!dims.is_static())
    return net_error(StatusCode::kInvalidArgument,
                     "constant dims must be static, got " + dims.to_string());
  if (dims.volume() > kMaxTensorBytes / static_cast<int64_t>(dtype_size(dtype)))
    return net_error(StatusCode::kInvalidArgument,
                     "constant " + dims.to_string() + " is absurdly large");
  size_t n = static_cast<size_t>(dims.volume()) * dtype_size(dtype);
  if (n > 0 && data == nullptr)
    return net_error(StatusCode::kInvalidArgument, "constant data is null");
  std::vector<uint8_t> bytes(n);
  if (n > 0) std::memcpy(bytes.data(), data, n);
  KILN_ASSIGN_OR_RETURN(auto id,
                        ir::add_constant(*graph_, TensorType{dtype, dims}, std::move(bytes)));
  return handle(id);
}

Expected<Tensor> Network::add_scalar(double value, DataType dtype) {
  std::vector<uint8_t> bytes(dtype_size(dtype));
  switch (dtype) {
    case DataType::kFloat32: {
      float v = static_cast<float>(value);
      std::memcpy(bytes.data(), &v, 4);
      break;
    }
    case DataType::kFloat16: {
      uint16_t v = float_to_half(static_cast<float>(value));
      std::memcpy(bytes.data(), &v, 2);
      break;
    }
    case DataType::kBFloat16: {
      uint16_t v = float_to_bfloat16(static_cast<float>(value));
      std::memcpy(bytes.data(), &v, 2);
      break;
    }
    case DataType::kInt32: {
      auto v = static_cast<int32_t>(value);
      std::memcpy(bytes.data(), &v, 4);
      break;
    }
    case DataType::kInt64: {
      auto v = static_cast<int64_t>(value);
      std::memcpy(bytes.data(), &v, 8);
      break;
    }
    case DataType::kInt8: {
      auto v = static_cast<int8_t>(value);
      std::memcpy(bytes.data(), &v, 1);
      break;
    }
    case DataType::kUInt8: {
      auto v = static_cast<uint8_t>(value);
      std::memcpy(bytes.data(), &v, 1);
      break;
    }
    case DataType::kBool:
      bytes[0] = value != 0.0;
      break;
    case DataType::kFloat8E4M3:
      bytes[0] = float_to_fp8e4m3(static_cast<float>(value));
      break;
    case DataType::kFloat64:
      std::memcpy(bytes.data(), &value, 8);
      break;
    case DataType::kInt16: {
      auto v = static_cast<int16_t>(value);
      std::memcpy(bytes.data(), &v, 2);
      break;
    }
  }
  KILN_ASSIGN_OR_RETURN(auto id,
                        ir::add_constant(*graph_, TensorType{dtype, Dims{}}, std::move(bytes)));
  return handle(id);
}

Expected<Tensor> Network::add_int_vector(const std::vector<int64_t>& values, DataType dtype) {
  if (dtype != DataType::kInt64 && dtype != DataType::kInt32)
    return net_error(StatusCode::kInvalidArgument, "add_int_vector needs int32 or int64");
  std::vector<uint8_t> bytes(values.size() * dtype_size(dtype));
  for (size_t i = 0; i < values.size(); ++i) {
    if (dtype == DataType::kInt64) {
      std::memcpy(bytes.data() + i * 8, &values[i], 8);
    } else {
      auto v = static_cast<int32_t>(values[i]);
      std::memcpy(bytes.data() + i * 4, &v, 4);
    }
  }
  KILN_ASSIGN_OR_RETURN(
      auto id,
      ir::add_constant(*graph_, TensorType{dtype, Dims{static_cast<int64_t>(values.size())}},
                       std::move(bytes)));
  return handle(id);
}

Status Network::mark_output(Tensor t, std::string_view name) {
  KILN_CHECK_TENSOR(t, "output", false);
  std::string n(name);
  if (n.empty()) return net_error(StatusCode::kInvalidArgument, "output name must not be empty");
  if (graph_->find_io(n) >= 0)
    return net_error(StatusCode::kInvalidArgument,
                     "an input or output named '" + n + "' already exists");
  ir::TensorDesc& td = graph_->tensors[static_cast<size_t>(t.id())];
  if (td.is_output)
    return net_error(StatusCode::kInvalidArgument,
                     "tensor '" + td.name + "' is already an output (add an identity)");
  if (td.is_input)
    return net_error(StatusCode::kInvalidArgument,
                     "input '" + td.name + "' cannot also be an output (add an identity)");
  // Internal tensor names must not collide with the new I/O name.
  for (auto& other : graph_->tensors)
    if (&other != &td && other.name == n) other.name += "#";
  td.name = n;
  td.is_output = true;
  graph_->outputs.push_back(t.id());
  return {};
}

// ---- layers ----

#define KILN_ADD_LAYER(op, params, ...)                                       \
  first_output(ir::add_layer(*graph_, ir::OpKind::op, params, {__VA_ARGS__}), \
               [this](int32_t id) { return handle(id); })

Expected<Tensor> Network::add_convolution(Tensor x, Tensor w, Tensor bias,
                                          const ConvolutionParams& p) {
  KILN_CHECK_TENSOR(x, "convolution input", false);
  KILN_CHECK_TENSOR(w, "convolution weight", false);
  KILN_CHECK_TENSOR(bias, "convolution bias", true);
  int rank = graph_->tensors[static_cast<size_t>(x.id())].type.dims.rank();
  size_t n = rank >= 3 ? static_cast<size_t>(rank - 2) : 0;
  ConvolutionParams q = p;
  q.strides = filled(p.strides, n, 1);
  q.dilations = filled(p.dilations, n, 1);
  q.pads_begin = filled(p.pads_begin, n, 0);
  q.pads_end = p.pads_end.empty() ? q.pads_begin : p.pads_end;
  if (q.transposed) q.output_padding = filled(p.output_padding, n, 0);
  return KILN_ADD_LAYER(kConvolution, q, x.id(), w.id(), bias.id());
}

Expected<Tensor> Network::add_matmul(Tensor a, Tensor b, const MatMulParams& p) {
  KILN_CHECK_TENSOR(a, "matmul a", false);
  KILN_CHECK_TENSOR(b, "matmul b", false);
  return KILN_ADD_LAYER(kMatMul, p, a.id(), b.id());
}

Expected<Tensor> Network::add_linear(Tensor x, Tensor w, Tensor bias) {
  KILN_CHECK_TENSOR(x, "linear input", false);
  KILN_CHECK_TENSOR(w, "linear weight", false);
  KILN_CHECK_TENSOR(bias, "linear bias", true);
  return KILN_ADD_LAYER(kLinear, LinearParams{}, x.id(), w.id(), bias.id());
}

Expected<Tensor> Network::add_elementwise(Tensor a, Tensor b, BinaryOp op) {
  KILN_CHECK_TENSOR(a, "elementwise a", false);
  KILN_CHECK_TENSOR(b, "elementwise b", false);
  return KILN_ADD_LAYER(kBinary, BinaryParams{op}, a.id(), b.id());
}

Expected<Tensor> Network::add_unary(Tensor x, UnaryOp op, double alpha, double beta) {
  KILN_CHECK_TENSOR(x, "unary input", false);
  return KILN_ADD_LAYER(kUnary, (UnaryParams{op, alpha, beta}), x.id());
}

namespace {
PoolingParams filled_pooling(const PoolingParams& p) {
  size_t n = p.kernel.size();
  PoolingParams q = p;
  q.strides = filled(p.strides, n, 1);
  q.dilations = filled(p.dilations, n, 1);
  q.pads_begin = filled(p.pads_begin, n, 0);
  q.pads_end = p.pads_end.empty() ? q.pads_begin : p.pads_end;
  return q;
}
}  // namespace

Expected<Tensor> Network::add_pooling(Tensor x, const PoolingParams& p) {
  KILN_CHECK_TENSOR(x, "pooling input", false);
  PoolingParams q = filled_pooling(p);
  q.return_indices = false;
  return KILN_ADD_LAYER(kPooling, q, x.id());
}

Expected<std::vector<Tensor>> Network::add_max_pooling_with_indices(Tensor x,
                                                                    const PoolingParams& p) {
  KILN_CHECK_TENSOR(x, "pooling input", false);
  PoolingParams q = filled_pooling(p);
  q.return_indices = true;
  KILN_ASSIGN_OR_RETURN(auto r, ir::add_layer(*graph_, ir::OpKind::kPooling, q, {x.id()}));
  return std::vector<Tensor>{handle(r[0]), handle(r[1])};
}

Expected<Tensor> Network::add_adaptive_pooling(Tensor x, const AdaptivePoolingParams& p) {
  KILN_CHECK_TENSOR(x, "adaptive pooling input", false);
  return KILN_ADD_LAYER(kAdaptivePooling, p, x.id());
}

Expected<Tensor> Network::add_reduce(Tensor x, const ReduceParams& p) {
  KILN_CHECK_TENSOR(x, "reduce input", false);
  return KILN_ADD_LAYER(kReduce, p, x.id());
}

Expected<Tensor> Network::add_softmax(Tensor x, int64_t axis, bool log) {
  KILN_CHECK_TENSOR(x, "softmax input", false);
  return KILN_ADD_LAYER(kSoftmax, (SoftmaxParams{axis, log}), x.id());
}

Expected<Tensor> Network::add_layer_norm(Tensor x, Tensor gamma, Tensor beta,
                                         const LayerNormParams& p) {
  KILN_CHECK_TENSOR(x, "layer_norm input", false);
  KILN_CHECK_TENSOR(gamma, "layer_norm gamma", true);
  KILN_CHECK_TENSOR(beta, "layer_norm beta", true);
  return KILN_ADD_LAYER(kLayerNorm, p, x.id(), gamma.id(), beta.id());
}

Expected<Tensor> Network::add_group_norm(Tensor x, Tensor gamma, Tensor beta,
                                         const GroupNormParams& p) {
  KILN_CHECK_TENSOR(x, "group_norm input", false);
  KILN_CHECK_TENSOR(gamma, "group_norm gamma", true);
  KILN_CHECK_TENSOR(beta, "group_norm beta", true);
  return KILN_ADD_LAYER(kGroupNorm, p, x.id(), gamma.id(), beta.id());
}

Expected<Tensor> Network::add_batch_norm(Tensor x, Tensor mean, Tensor var, Tensor gamma,
                                         Tensor beta, const BatchNormParams& p) {
  KILN_CHECK_TENSOR(x, "batch_norm input", false);
  KILN_CHECK_TENSOR(mean, "batch_norm mean", false);
  KILN_CHECK_TENSOR(var, "batch_norm var", false);
  KILN_CHECK_TENSOR(gamma, "batch_norm gamma", true);
  KILN_CHECK_TENSOR(beta, "batch_norm beta", true);
  return KILN_ADD_LAYER(kBatchNorm, p, x.id(), mean.id(), var.id(), gamma.id(), beta.id());
}

Expected<Tensor> Network::add_rms_norm(Tensor x, Tensor gamma, const RmsNormParams& p) {
  KILN_CHECK_TENSOR(x, "rms_norm input", false);
  KILN_CHECK_TENSOR(gamma, "rms_norm gamma", true);
  return KILN_ADD_LAYER(kRmsNorm, p, x.id(), gamma.id());
}

Expected<Tensor> Network::add_reshape(Tensor x, const std::vector<int64_t>& shape) {
  KILN_CHECK_TENSOR(x, "reshape input", false);
  return KILN_ADD_LAYER(kReshape, ReshapeParams{shape}, x.id());
}

Expected<Tensor> Network::add_reshape_dynamic(Tensor x, Tensor shape) {
  KILN_CHECK_TENSOR(x, "reshape input", false);
  KILN_CHECK_TENSOR(shape, "reshape shape", false);
  return KILN_ADD_LAYER(kReshape, ReshapeParams{}, x.id(), shape.id());
}

Expected<Tensor> Network::add_transpose(Tensor x, const std::vector<int64_t>& perm) {
  KILN_CHECK_TENSOR(x, "transpose input", false);
  return KILN_ADD_LAYER(kTranspose, TransposeParams{perm}, x.id());
}

Expected<Tensor> Network::add_concat(const std::vector<Tensor>& inputs, int64_t axis) {
  if (inputs.empty())
    return net_error(StatusCode::kInvalidArgument, "concat needs at least one input");
  std::vector<int32_t> ids;
  for (size_t i = 0; i < inputs.size(); ++i) {
    KILN_CHECK_TENSOR(inputs[i], "concat input " + std::to_string(i), false);
    ids.push_back(inputs[i].id());
  }
  return first_output(ir::add_layer(*graph_, ir::OpKind::kConcat, ConcatParams{axis}, ids),
                      [this](int32_t id) { return handle(id); });
}

Expected<std::vector<Tensor>> Network::add_split(Tensor x, const SplitParams& p) {
  KILN_CHECK_TENSOR(x, "split input", false);
  KILN_ASSIGN_OR_RETURN(auto r, ir::add_layer(*graph_, ir::OpKind::kSplit, p, {x.id()}));
  std::vector<Tensor> out;
  for (int32_t id : r) out.push_back(handle(id));
  return out;
}

Expected<Tensor> Network::add_slice(Tensor x, const SliceParams& p, Tensor starts, Tensor ends) {
  KILN_CHECK_TENSOR(x, "slice input", false);
  KILN_CHECK_TENSOR(starts, "slice starts", true);
  KILN_CHECK_TENSOR(ends, "slice ends", true);
  SliceParams q = p;
  if (q.steps.empty()) q.steps.assign(q.axes.size(), 1);
  if (starts.valid() && q.starts.empty()) q.starts.assign(q.axes.size(), 0);
  if (ends.valid() && q.ends.empty()) q.ends.assign(q.axes.size(), 0);
  return KILN_ADD_LAYER(kSlice, q, x.id(), starts.id(), ends.id());
}

Expected<Tensor> Network::add_gather(Tensor data, Tensor indices, int64_t axis) {
  KILN_CHECK_TENSOR(data, "gather data", false);
  KILN_CHECK_TENSOR(indices, "gather indices", false);
  return KILN_ADD_LAYER(kGather, GatherParams{axis}, data.id(), indices.id());
}

Expected<Tensor> Network::add_gather_elements(Tensor data, Tensor indices, int64_t axis) {
  KILN_CHECK_TENSOR(data, "gather_elements data", false);
  KILN_CHECK_TENSOR(indices, "gather_elements indices", false);
  return KILN_ADD_LAYER(kGatherElements, GatherElementsParams{axis}, data.id(), indices.id());
}

Expected<Tensor> Network::add_scatter(Tensor data, Tensor indices, Tensor updates,
                                      const ScatterParams& p) {
  KILN_CHECK_TENSOR(data, "scatter data", false);
  KILN_CHECK_TENSOR(indices, "scatter indices", false);
  KILN_CHECK_TENSOR(updates, "scatter updates", false);
  return KILN_ADD_LAYER(kScatter, p, data.id(), indices.id(), updates.id());
}

Expected<Tensor> Network::add_pad(Tensor x, const PadParams& p) {
  KILN_CHECK_TENSOR(x, "pad input", false);
  return KILN_ADD_LAYER(kPad, p, x.id());
}

Expected<Tensor> Network::add_expand(Tensor x, const std::vector<int64_t>& shape) {
  KILN_CHECK_TENSOR(x, "expand input", false);
  return KILN_ADD_LAYER(kExpand, ExpandParams{shape}, x.id());
}

Expected<Tensor> Network::add_expand_dynamic(Tensor x, Tensor shape) {
  KILN_CHECK_TENSOR(x, "expand input", false);
  KILN_CHECK_TENSOR(shape, "expand shape", false);
  return KILN_ADD_LAYER(kExpand, ExpandParams{}, x.id(), shape.id());
}

Expected<Tensor> Network::add_squeeze(Tensor x, const std::vector<int64_t>& axes) {
  KILN_CHECK_TENSOR(x, "squeeze input", false);
  return KILN_ADD_LAYER(kSqueeze, SqueezeParams{axes}, x.id());
}

Expected<Tensor> Network::add_unsqueeze(Tensor x, const std::vector<int64_t>& axes) {
  KILN_CHECK_TENSOR(x, "unsqueeze input", false);
  return KILN_ADD_LAYER(kUnsqueeze, UnsqueezeParams{axes}, x.id());
}

Expected<Tensor> Network::add_flatten(Tensor x, int64_t start_axis, int64_t end_axis) {
  KILN_CHECK_TENSOR(x, "flatten input", false);
  return KILN_ADD_LAYER(kFlatten, (FlattenParams{start_axis, end_axis}), x.id());
}

Expected<Tensor> Network::add_where(Tensor condition, Tensor a, Tensor b) {
  KILN_CHECK_TENSOR(condition, "where condition", false);
  KILN_CHECK_TENSOR(a, "where a", false);
  KILN_CHECK_TENSOR(b, "where b", false);
  return KILN_ADD_LAYER(kWhere, WhereParams{}, condition.id(), a.id(), b.id());
}

Expected<Tensor> Network::add_cast(Tensor x, DataType to) {
  KILN_CHECK_TENSOR(x, "cast input", false);
  return KILN_ADD_LAYER(kCast, CastParams{to}, x.id());
}

Expected<Tensor> Network::add_fill(const std::vector<int64_t>& shape, double value,
                                   DataType dtype) {
  KILN_ASSIGN_OR_RETURN(
      auto r, ir::add_layer(*graph_, ir::OpKind::kFill, FillParams{shape, value, dtype}, {}));
  return handle(r[0]);
}

Expected<Tensor> Network::add_fill_dynamic(Tensor shape, double value, DataType dtype) {
  KILN_CHECK_TENSOR(shape, "fill shape", false);
  return KILN_ADD_LAYER(kFill, (FillParams{{}, value, dtype}), shape.id());
}

Expected<Tensor> Network::add_random_fill(FillMode mode, int64_t seed, DataType dtype,
                                          const std::vector<int64_t>& shape, Tensor shape_tensor,
                                          double low, double high) {
  KILN_CHECK_TENSOR(shape_tensor, "random fill shape", true);
  FillParams p{shape, low, dtype, mode, seed, high};
  if (shape_tensor.valid()) return KILN_ADD_LAYER(kFill, p, shape_tensor.id());
  KILN_ASSIGN_OR_RETURN(auto r, ir::add_layer(*graph_, ir::OpKind::kFill, p, {}));
  return handle(r[0]);
}

Expected<Tensor> Network::add_nonzero(Tensor x) {
  KILN_CHECK_TENSOR(x, "nonzero input", false);
  return KILN_ADD_LAYER(kNonZero, NonZeroParams{}, x.id());
}

Expected<Tensor> Network::add_arange(const ArangeParams& p, Tensor start, Tensor end, Tensor step) {
  KILN_CHECK_TENSOR(start, "arange start", true);
  KILN_CHECK_TENSOR(end, "arange end", true);
  KILN_CHECK_TENSOR(step, "arange step", true);
  return KILN_ADD_LAYER(kArange, p, start.id(), end.id(), step.id());
}

Expected<Tensor> Network::add_cumsum(Tensor x, const CumSumParams& p) {
  KILN_CHECK_TENSOR(x, "cumsum input", false);
  return KILN_ADD_LAYER(kCumSum, p, x.id());
}

Expected<std::vector<Tensor>> Network::add_topk(Tensor x, const TopKParams& p) {
  KILN_CHECK_TENSOR(x, "topk input", false);
  KILN_ASSIGN_OR_RETURN(auto r, ir::add_layer(*graph_, ir::OpKind::kTopK, p, {x.id()}));
  return std::vector<Tensor>{handle(r[0]), handle(r[1])};
}

Expected<Tensor> Network::add_resize(Tensor x, const ResizeParams& p, Tensor sizes) {
  KILN_CHECK_TENSOR(x, "resize input", false);
  KILN_CHECK_TENSOR(sizes, "resize sizes", true);
  return KILN_ADD_LAYER(kResize, p, x.id(), sizes.id());
}

Expected<Tensor> Network::add_shape(Tensor x) {
  KILN_CHECK_TENSOR(x, "shape input", false);
  return KILN_ADD_LAYER(kShape, ShapeParams{}, x.id());
}

Expected<Tensor> Network::add_attention(Tensor q, Tensor k, Tensor v, Tensor mask,
                                        const AttentionParams& p) {
  KILN_CHECK_TENSOR(q, "attention query", false);
  KILN_CHECK_TENSOR(k, "attention key", false);
  KILN_CHECK_TENSOR(v, "attention value", false);
  KILN_CHECK_TENSOR(mask, "attention mask", true);
  return KILN_ADD_LAYER(kAttention, p, q.id(), k.id(), v.id(), mask.id());
}

Expected<Tensor> Network::add_identity(Tensor x) {
  KILN_CHECK_TENSOR(x, "identity input", false);
  return KILN_ADD_LAYER(kIdentity, IdentityParams{}, x.id());
}

Expected<Tensor> Network::add_quantize(Tensor x, Tensor scale, Tensor zero_point,
                                       const QuantizeParams& p) {
  KILN_CHECK_TENSOR(x, "quantize input", false);
  KILN_CHECK_TENSOR(scale, "quantize scale", false);
  KILN_CHECK_TENSOR(zero_point, "quantize zero point", true);
  return KILN_ADD_LAYER(kQuantize, p, x.id(), scale.id(), zero_point.id());
}

Expected<Tensor> Network::add_dequantize(Tensor q, Tensor scale, Tensor zero_point,
                                         const DequantizeParams& p) {
  KILN_CHECK_TENSOR(q, "dequantize input", false);
  KILN_CHECK_TENSOR(scale, "dequantize scale", false);
  KILN_CHECK_TENSOR(zero_point, "dequantize zero point", true);
  return KILN_ADD_LAYER(kDequantize, p, q.id(), scale.id(), zero_point.id());
}

Expected<Tensor> Network::add_grid_sample(Tensor x, Tensor grid, const GridSampleParams& p) {
  KILN_CHECK_TENSOR(x, "grid sample input", false);
  KILN_CHECK_TENSOR(grid, "grid sample grid", false);
  return KILN_ADD_LAYER(kGridSample, p, x.id(), grid.id());
}

Expected<Tensor> Network::add_kv_cache_write(Tensor cache, Tensor positions, Tensor update,
                                             const KvCacheWriteParams& p) {
  KILN_CHECK_TENSOR(cache, "kv cache write cache", false);
  KILN_CHECK_TENSOR(positions, "kv cache write positions", false);
  KILN_CHECK_TENSOR(update, "kv cache write update", false);
  return KILN_ADD_LAYER(kKvCacheWrite, p, cache.id(), positions.id(), update.id());
}

#undef KILN_ADD_LAYER
#undef KILN_CHECK_TENSOR

// ---- inspection ----

Expected<TensorType> Network::tensor_type(Tensor t) const {
  KILN_RETURN_IF_ERROR(check_tensor(t, "tensor", false));
  return graph_->tensors[static_cast<size_t>(t.id())].type;
}

Status Network::set_layer_name(Tensor t, std::string_view name) {
  KILN_RETURN_IF_ERROR(check_tensor(t, "tensor", false));
  int32_t p = graph_->tensors[static_cast<size_t>(t.id())].producer;
  if (p < 0)
    return net_error(StatusCode::kInvalidArgument, "network inputs have no producing layer");
  graph_->layers[static_cast<size_t>(p)].name = std::string(name);
  return {};
}

Status Network::set_layer_precision(Tensor t, DataType dtype) {
  KILN_RETURN_IF_ERROR(check_tensor(t, "tensor", false));
  if (!is_floating(dtype))
    return net_error(StatusCode::kInvalidArgument, "layer precision must be a float type");
  int32_t p = graph_->tensors[static_cast<size_t>(t.id())].producer;
  if (p < 0)
    return net_error(StatusCode::kInvalidArgument, "network inputs have no producing layer");
  graph_->layers[static_cast<size_t>(p)].precision = dtype;
  graph_->layers[static_cast<size_t>(p)].user_precision = true;
  return {};
}

int Network::num_layers() const { return static_cast<int>(graph_->layers.size()); }
int Network::num_inputs() const { return static_cast<int>(graph_->inputs.size()); }
int Network::num_outputs() const { return static_cast<int>(graph_->outputs.size()); }
std::string Network::to_text() const { return ir::print_graph(*graph_); }

}  // namespace kiln
