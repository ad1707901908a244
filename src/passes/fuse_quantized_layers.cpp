// Explicit quantization, in the spirit of TensorRT's Q/DQ handling:
//
// 1. Q/DQ commute through layers that move data or take maxima, so quantized tensors reach the
//    next GEMM: op(DQ(x)) -> DQ(op(x)) for reshape / flatten / squeeze / unsqueeze / transpose /
//    max pooling (integer x) and concat (every input a DQ with the same scale and zero point);
//    Q(DQ(x)) with the same scale, zero point and type (and a quant range that clamps nothing)
//    is x.
// 2. DQ(x) and DQ(w) (w constant, weight zero point 0, per-tensor or per-output-channel scale)
//    -> convolution / linear / matmul with a constant weight -> (bias add, residual add,
//    activation) -> Q become one quantized_convolution / quantized_linear layer (int8 or float8
//    operands, exact accumulation, requantization in the epilogue; a float output when no Q
//    follows). Each intermediate must have the chain as its only reader.
//
// Both steps apply only where the backend runs the new layer (it is asked for every candidate);
// the rest stays in float (softmax, norms and everything not between a DQ and a Q always does).
// PassOutcome::precision_report says, per convolution / GEMM, what ran in 8 bits and why not.
// Runs before constant folding, which would turn DQ(w) into a float weight.
#include <cmath>
#include <cstring>
#include <optional>

#include "backends/backend.h"
#include "backends/cpu/cpu_backend.h"
#include "common/element_access.h"
#include "ir/analysis.h"
#include "passes/graph_rewriter.h"
#include "passes/pass.h"

namespace kiln::passes {
namespace {

using ir::OpKind;

// The values of tensor t when constants alone compute it (through a few casts, quantizes, views),
// evaluated with the CPU reference; nullopt otherwise.
std::optional<HostTensor> constant_value(const ir::Graph& g, int32_t t, int depth = 0) {
  const ir::Layer* l = producer_of(g, t);
  if (l == nullptr || depth > 4) return std::nullopt;
  if (l->op == OpKind::kConstant) {
    const ir::Weight& w = g.constant_weight(*l);
    if (!w.bytes) return std::nullopt;
    HostTensor h;
    h.type = w.type;
    h.bytes = *w.bytes;
    return h;
  }
  switch (l->op) {
    case OpKind::kCast:
    case OpKind::kQuantize:
    case OpKind::kReshape:
    case OpKind::kTranspose:
    case OpKind::kIdentity:
      break;
    default:
      return std::nullopt;
  }
  std::vector<std::optional<HostTensor>> vals(l->inputs.size());
  std::vector<const HostTensor*> ptrs(l->inputs.size(), nullptr);
  for (size_t i = 0; i < l->inputs.size(); ++i) {
    if (l->inputs[i] < 0) continue;
    vals[i] = constant_value(g, l->inputs[i], depth + 1);
    if (!vals[i]) return std::nullopt;
    ptrs[i] = &*vals[i];
  }
  std::vector<TensorType> out_types;
  for (int32_t o : l->outputs) out_types.push_back(g.tensors[static_cast<size_t>(o)].type);
  if (!out_types[0].dims.is_static()) return std::nullopt;
  auto r = cpu::evaluate_layer(*l, ptrs, out_types);
  if (!r || r->empty()) return std::nullopt;
  return std::move((*r)[0]);
}

std::vector<double> values_of(const HostTensor& h) {
  std::vector<double> v(static_cast<size_t>(h.numel()));
  for (int64_t i = 0; i < h.numel(); ++i)
    v[static_cast<size_t>(i)] = load_as_double(h.data(), h.type.dtype, i);
  return v;
}

// A dequantize producing tensor t, with its constant scale and zero point.
struct Dq {
  const ir::Layer* layer = nullptr;
  int32_t q = -1;  ///< the quantized tensor it reads
  DataType storage = DataType::kInt8;
  std::vector<double> scale, zero_point;  ///< zero_point: as many as scale (zeros when absent)
  int64_t axis = 0;
  bool per_tensor() const { return scale.size() == 1; }
  bool same_params(const Dq& o) const {
    return storage == o.storage && scale == o.scale && zero_point == o.zero_point &&
           (per_tensor() || axis == o.axis);
  }
};

// `why` (when given) gets the reason a dequantize does not qualify.
std::optional<Dq> dq_of(const ir::Graph& g, int32_t t, std::string* why = nullptr) {
  auto no = [&](const char* reason) -> std::optional<Dq> {
    if (why != nullptr) *why = reason;
    return std::nullopt;
  };
  const ir::Layer* l = producer_of(g, t);
  if (l == nullptr || l->op != OpKind::kDequantize)
    return no("not dequantized (no Q/DQ before it)");
  auto s = constant_value(g, l->inputs[1]);
  if (!s || s->type.dtype != DataType::kFloat32)
    return no("dequantized with a scale that is not a constant");
  Dq d;
  d.layer = l;
  d.q = l->inputs[0];
  d.storage = g.tensors[static_cast<size_t>(d.q)].type.dtype;
  d.scale = values_of(*s);
  d.axis = std::get<DequantizeParams>(l->params).axis;
  d.zero_point.assign(d.scale.size(), 0.0);
  if (l->inputs.size() > 2 && l->inputs[2] >= 0) {
    auto z = constant_value(g, l->inputs[2]);
    if (!z || z->numel() != static_cast<int64_t>(d.scale.size()))
      return no("dequantized with a zero point that is not a constant");
    d.zero_point = values_of(*z);
  }
  for (double v : d.scale)
    if (!(v > 0) || !std::isfinite(v)) return no("dequantized with a zero, negative or NaN scale");
  return d;
}

bool full_range(DataType dt, int64_t qmin, int64_t qmax) {
  switch (dt) {
    case DataType::kInt8:
      return qmin <= -128 && qmax >= 127;
    case DataType::kUInt8:
      return qmin <= 0 && qmax >= 255;
    case DataType::kFloat8E4M3:
      return qmin <= -448 && qmax >= 448;
    default:
      return false;
  }
}

// A per-tensor quantize layer's constant scale and zero point.
struct Q {
  const ir::Layer* layer = nullptr;
  double scale = 0;
  int64_t zero_point = 0;
};

std::optional<Q> per_tensor_q(const ir::Graph& g, const ir::Layer& l) {
  if (l.op != OpKind::kQuantize) return std::nullopt;
  auto s = constant_value(g, l.inputs[1]);
  if (!s || s->numel() != 1 || s->type.dtype != DataType::kFloat32) return std::nullopt;
  Q q;
  q.layer = &l;
  q.scale = load_as_double(s->data(), s->type.dtype, 0);
  if (!(q.scale > 0) || !std::isfinite(q.scale)) return std::nullopt;
  if (l.inputs.size() > 2 && l.inputs[2] >= 0) {
    auto z = constant_value(g, l.inputs[2]);
    if (!z || z->numel() != 1) return std::nullopt;
    q.zero_point = load_as_int64(z->data(), z->type.dtype, 0);
  }
  return q;
}

// Whether the backend runs dst's last layer; `why` gets its refusal.
bool backend_runs_last(const ir::Graph& dst, const PassContext& ctx, std::string* why) {
  backend::Backend* be = backend::find_backend(ctx.backend);
  if (be == nullptr) return false;
  Status s = be->supports(dst, static_cast<int32_t>(dst.layers.size() - 1));
  if (!s.ok() && why != nullptr) *why = s.message();
  return s.ok();
}

// Whether the backend runs quantized layers at all (asked with a one-layer probe graph), so Q/DQ
// move only where a fusion can follow.
bool backend_runs_quantized_layers(const PassContext& ctx) {
  ir::Graph probe;
  auto x = ir::add_input(probe, "x", TensorType{DataType::kInt8, Dims{1, 1}});
  if (!x) return false;
  auto constant = [&](DataType dt, const Dims& d) -> int32_t {
    auto c = ir::add_constant(probe, TensorType{dt, d}, std::vector<uint8_t>(dtype_size(dt), 0));
    return c ? *c : -1;
  };
  int32_t w = constant(DataType::kInt8, Dims{1, 1});
  int32_t s = constant(DataType::kFloat32, Dims{});
  QuantizedLinearParams qp;
  auto y = ir::add_layer(probe, OpKind::kQuantizedLinear, qp, {*x, w, s, s}, "probe");
  return y.ok() && backend_runs_last(probe, ctx, nullptr);
}

// Undoes additions to dst back to the recorded sizes.
struct Mark {
  size_t layers, tensors, weights;
};
Mark mark(const ir::Graph& g) { return {g.layers.size(), g.tensors.size(), g.weights.size()}; }
void rollback(ir::Graph& g, const Mark& m) {
  g.layers.resize(m.layers);
  g.tensors.resize(m.tensors);
  g.weights.resize(m.weights);
}

bool commutes(const ir::Layer& l, DataType storage) {
  switch (l.op) {
    case OpKind::kReshape:
    case OpKind::kFlatten:
    case OpKind::kSqueeze:
    case OpKind::kUnsqueeze:
    case OpKind::kTranspose:
    case OpKind::kConcat:
      return true;
    case OpKind::kPooling:  // max commutes with a rising map; float8 bytes do not order as values
      return std::get<PoolingParams>(l.params).type == PoolingType::kMax &&
             storage != DataType::kFloat8E4M3;
    default:
      return false;
  }
}

// Step 1, in one sweep that looks back into the rewritten graph (so chains move in one go).
Expected<int> commute_and_cancel(ir::Graph& g, const PassContext& ctx) {
  GraphRewriter rw(g);
  ir::Graph& dst = rw.dst();
  int changed = 0;
  for (size_t li = 0; li < g.layers.size(); ++li) {
    const ir::Layer& l = g.layers[li];
    std::vector<int32_t> ins;
    for (int32_t i : l.inputs) ins.push_back(rw.map(i));
    if (l.op == OpKind::kQuantize) {  // Q(DQ(x)) -> x
      auto d = dq_of(dst, ins[0]);
      auto q = per_tensor_q(g, l);
      const auto& qp = std::get<QuantizeParams>(l.params);
      if (d && q && d->per_tensor() && d->storage == qp.to && d->scale[0] == q->scale &&
          static_cast<int64_t>(d->zero_point[0]) == q->zero_point &&
          static_cast<float>(d->scale[0]) == static_cast<float>(q->scale) &&
          full_range(qp.to, qp.quant_min, qp.quant_max)) {
        rw.set_map(l.outputs[0], d->q);
        ++changed;
        continue;
      }
    } else if (!ins.empty() && l.outputs.size() == 1) {
      auto d = dq_of(dst, ins[0]);
      bool ok = d && d->per_tensor() && commutes(l, d->storage);
      std::vector<int32_t> qins = ins;
      if (ok) qins[0] = d->q;
      for (size_t i = 1; ok && i < ins.size(); ++i) {
        if (l.op != OpKind::kConcat) break;  // other ops' further inputs are shape operands
        auto di = dq_of(dst, ins[i]);
        ok = di && di->same_params(*d);
        if (ok) qins[i] = di->q;
      }
      if (ok) {
        // Copies: adding layers to dst moves d->layer.
        std::vector<int32_t> dq_ins = d->layer->inputs;
        const ir::LayerParams dq_params = d->layer->params;
        Mark m = mark(dst);
        auto moved = rw.add(l.op, l.params, qins, l.name);
        if (moved && backend_runs_last(dst, ctx, nullptr)) {
          dq_ins[0] = (*moved)[0];
          auto back = rw.add(OpKind::kDequantize, dq_params, dq_ins, l.name + "/dq");
          if (back) {
            rw.set_map(l.outputs[0], (*back)[0]);
            ++changed;
            continue;
          }
        }
        rollback(dst, m);
      }
    }
    KILN_RETURN_IF_ERROR(rw.copy_layer(li, ins));
  }
  if (changed == 0) return 0;
  KILN_ASSIGN_OR_RETURN(auto out, rw.finish());
  g = std::move(out);
  return changed;
}

// ---- step 2 ----

// A planned fusion: the anchor (conv / linear / matmul), what its epilogue absorbs, and the
// constant operands in the layout the quantized layer wants.
struct Fusion {
  size_t anchor = 0, last = 0;
  std::vector<size_t> absorbed;  ///< anchor and epilogue layers, in order
  Dq x;
  HostTensor w;                          ///< [Cout, ...] int8 or float8
  std::vector<double> w_scale;           ///< 1 or Cout
  int32_t bias = -1;                     ///< src tensor (the anchor's own bias or a [C] constant)
  std::optional<HostTensor> bias_value;  ///< set when the bias came from a broadcast add
  int32_t residual = -1;                 ///< src tensor
  std::vector<double> bn_scale,
      bn_shift;  ///< an inference batch norm folded in (y * scale + shift)
  UnaryParams act;
  std::optional<Q> out_q;
  std::string chain;  ///< for the report
};

// Dims c broadcast against out vary only along out's channel_dim (a per-channel constant).
bool per_channel_shape(const Dims& c, const Dims& out, int channel_dim) {
  const int off = out.rank() - c.rank();
  if (off < 0 || off > channel_dim) return false;
  for (int i = 0; i < c.rank(); ++i)
    if (c[i] != (i + off == channel_dim ? out[channel_dim] : 1)) return false;
  return true;
}

bool activation_fusable(const UnaryParams& u) {
  switch (u.op) {
    case UnaryOp::kRelu:
    case UnaryOp::kGelu:
    case UnaryOp::kGeluTanh:
    case UnaryOp::kSilu:
    case UnaryOp::kSigmoid:
    case UnaryOp::kClamp:
    case UnaryOp::kHardSwish:
    case UnaryOp::kLeakyRelu:
      return true;
    default:
      return false;
  }
}

HostTensor transpose_2d(const HostTensor& h) {
  const int64_t r = h.type.dims[0], c = h.type.dims[1];
  HostTensor t(TensorType{h.type.dtype, Dims{c, r}});
  const size_t es = dtype_size(h.type.dtype);
  for (int64_t i = 0; i < r; ++i)
    for (int64_t j = 0; j < c; ++j)
      std::memcpy(t.bytes.data() + static_cast<size_t>(j * r + i) * es,
                  h.bytes.data() + static_cast<size_t>(i * c + j) * es, es);
  return t;
}

// The weight operand: DQ(w) (or transpose(DQ(w)) for a matmul) of a constant w with zero
// points 0; rows = output channels after `transposed`.
Status weight_of(const ir::Graph& g, int32_t t, bool want_rows_first, Fusion& f) {
  bool transposed = false;
  const ir::Layer* p = producer_of(g, t);
  if (p != nullptr && p->op == OpKind::kTranspose && !want_rows_first) {
    const auto& perm = std::get<TransposeParams>(p->params).perm;
    if (perm.size() == 2 && perm[0] == 1 && perm[1] == 0) {
      transposed = true;
      t = p->inputs[0];
    }
  }
  std::string why;
  auto d = dq_of(g, t, &why);
  if (!d) return Status(StatusCode::kUnsupported, "the weight is " + why);
  auto w = constant_value(g, d->q);
  if (!w) return Status(StatusCode::kUnsupported, "the quantized weight is not a constant");
  for (double z : d->zero_point)
    if (z != 0) return Status(StatusCode::kUnsupported, "the weight has a nonzero zero point");
  const int rank = w->type.dims.rank();
  // Output channels are dim 0 of conv / linear weights; a matmul's [K, N] weight has them last.
  int out_axis = 0;
  if (!want_rows_first) out_axis = transposed ? 0 : 1;
  if (!want_rows_first && rank != 2)
    return Status(StatusCode::kUnsupported, "the matmul weight is not 2-D");
  if (!d->per_tensor() && (d->axis < 0 ? d->axis + rank : d->axis) != out_axis)
    return Status(StatusCode::kUnsupported,
                  "the weight is quantized along another axis than "
                  "the output channels");
  f.w = (!want_rows_first && out_axis == 1) ? transpose_2d(*w) : std::move(*w);
  f.w_scale = d->scale;
  return {};
}

// An inference batch norm over the anchor's channels with constant statistics and affine
// parameters, as per-channel scale and shift (what the CPU reference computes:
// (y - mean) * gamma / sqrt(var + eps) + beta); the anchor's bias must then be a constant.
bool batch_norm_of(const ir::Graph& g, const ir::Layer& bn, int64_t cout, Fusion& f) {
  std::vector<double> v[4];  // mean, var, gamma, beta
  for (size_t i = 0; i < 4; ++i) {
    const size_t in = i + 1;
    if (in >= bn.inputs.size() || bn.inputs[in] < 0) {
      if (i < 2) return false;
      v[i].assign(static_cast<size_t>(cout), i == 2 ? 1.0 : 0.0);
      continue;
    }
    auto c = constant_value(g, bn.inputs[in]);
    if (!c || c->numel() != cout) return false;
    v[i] = values_of(*c);
  }
  if (f.bias >= 0 && !constant_value(g, f.bias)) return false;
  const double eps = std::get<BatchNormParams>(bn.params).epsilon;
  f.bn_scale.resize(static_cast<size_t>(cout));
  f.bn_shift.resize(static_cast<size_t>(cout));
  for (size_t c = 0; c < f.bn_scale.size(); ++c) {
    f.bn_scale[c] = v[2][c] / std::sqrt(v[1][c] + eps);
    f.bn_shift[c] = v[3][c] - v[0][c] * f.bn_scale[c];
  }
  return true;
}

std::string precision_name(DataType storage) {
  return storage == DataType::kFloat8E4M3 ? "fp8" : "int8";
}

// Plans the fusion anchored at layer `li`; an error says why not.
Expected<Fusion> plan_fusion(const ir::Graph& g, size_t li,
                             const std::vector<std::vector<int32_t>>& consumers,
                             const std::vector<int>& readers) {
  const ir::Layer& l = g.layers[li];
  Fusion f;
  f.anchor = f.last = li;
  f.absorbed = {li};
  std::string why;
  auto x = dq_of(g, l.inputs[0], &why);
  if (!x) return Status(StatusCode::kUnsupported, "its input is " + why);
  if (!x->per_tensor())
    return Status(StatusCode::kUnsupported, "its input is quantized per channel");
  f.x = *x;
  const bool conv = l.op == OpKind::kConvolution;
  if (conv) {
    const auto& p = std::get<ConvolutionParams>(l.params);
    if (p.transposed || p.channels_last)
      return Status(StatusCode::kUnsupported, "transposed or channels-last convolution");
  }
  if (l.op == OpKind::kMatMul) {
    const auto& p = std::get<MatMulParams>(l.params);
    if (p.transpose_a || g.tensors[static_cast<size_t>(l.inputs[0])].type.dims.rank() < 2)
      return Status(StatusCode::kUnsupported, "a matmul of this form");
  }
  const bool rows_first = l.op != OpKind::kMatMul || std::get<MatMulParams>(l.params).transpose_b;
  KILN_RETURN_IF_ERROR(weight_of(g, l.inputs[1], rows_first, f));
  if (l.op == OpKind::kMatMul && f.w.type.dims.rank() != 2)
    return Status(StatusCode::kUnsupported, "the matmul weight is not 2-D");
  const bool fp8 = x->storage == DataType::kFloat8E4M3;
  if (f.w.type.dtype != (fp8 ? DataType::kFloat8E4M3 : DataType::kInt8))
    return Status(StatusCode::kUnsupported,
                  std::string("input ") + std::string(dtype_name(x->storage)) + " with weight " +
                      std::string(dtype_name(f.w.type.dtype)));
  const int64_t cout = f.w.type.dims[0];
  if (l.op != OpKind::kMatMul && l.inputs.size() > 2 && l.inputs[2] >= 0) f.bias = l.inputs[2];
  f.chain = "DQ(" + std::string(dtype_name(x->storage)) + ") -> " + std::string(ir::op_name(l.op));
  // The epilogue: [bias add] [residual add] [activation] [Q], each the only reader of the last.
  int32_t cur = l.outputs[0];
  int stage = 0;  // 0: bias next, 1: residual, 2: activation, 3: Q
  while (stage < 4 && readers[static_cast<size_t>(cur)] == 1) {
    const auto& cs = consumers[static_cast<size_t>(cur)];
    if (cs.size() != 1) break;
    const ir::Layer& n = g.layers[static_cast<size_t>(cs[0])];
    const TensorType& ct = g.tensors[static_cast<size_t>(cur)].type;
    bool took = false;
    if (n.op == OpKind::kBatchNorm && stage == 0 && f.bn_scale.empty() && n.inputs[0] == cur &&
        ct.dims.rank() >= 2 && (conv || ct.dims.rank() == 2) && batch_norm_of(g, n, cout, f)) {
      f.chain += " -> batch norm";
      stage = 1;  // a bias add after it would need the shift split per channel: stop there
      took = true;
    } else if (n.op == OpKind::kBinary && std::get<BinaryParams>(n.params).op == BinaryOp::kAdd &&
               stage <= 1) {
      const int32_t other = n.inputs[0] == cur ? n.inputs[1] : n.inputs[0];
      const TensorType& ot = g.tensors[static_cast<size_t>(other)].type;
      const TensorType& nt = g.tensors[static_cast<size_t>(n.outputs[0])].type;
      if (other != cur && nt == ct && is_floating(ot.dtype)) {
        if (ot.dims == ct.dims && stage <= 1) {  // residual
          f.residual = other;
          stage = 2;
          took = true;
        } else if (f.bias < 0 && stage == 0 && is_constant(g, other) &&
                   per_channel_shape(ot.dims, ct.dims, conv ? 1 : ct.dims.rank() - 1)) {
          f.bias = other;
          f.bias_value = constant_value(g, other);
          if (!f.bias_value) break;
          f.bias_value->type.dims = Dims{cout};
          stage = 1;
          took = true;
        }
      }
      if (took) f.chain += other == f.residual ? " -> residual add" : " -> bias add";
    } else if (n.op == OpKind::kUnary && stage <= 2 &&
               activation_fusable(std::get<UnaryParams>(n.params))) {
      f.act = std::get<UnaryParams>(n.params);
      f.chain += " -> " + std::string(enum_names(f.act.op)[static_cast<size_t>(f.act.op)]);
      stage = 3;
      took = true;
    } else if (n.op == OpKind::kQuantize) {
      auto q = per_tensor_q(g, n);
      const DataType to = std::get<QuantizeParams>(n.params).to;
      if (q && (to == DataType::kInt8 || to == DataType::kUInt8 ||
                (to == DataType::kFloat8E4M3 && fp8))) {
        f.out_q = q;
        f.chain += " -> Q(" + std::string(dtype_name(to)) + ")";
        stage = 4;
        took = true;
      }
    }
    if (!took) break;
    f.absorbed.push_back(static_cast<size_t>(cs[0]));
    f.last = static_cast<size_t>(cs[0]);
    cur = n.outputs[0];
  }
  return f;
}

Expected<int32_t> f32_constant(GraphRewriter& rw, const std::vector<double>& v,
                               const std::string& name) {
  auto bytes = std::make_shared<std::vector<uint8_t>>(v.size() * sizeof(float));
  for (size_t i = 0; i < v.size(); ++i)
    store_from_double(bytes->data(), DataType::kFloat32, static_cast<int64_t>(i), v[i]);
  Dims d = v.size() == 1 ? Dims{} : Dims{static_cast<int64_t>(v.size())};
  return rw.add_constant(TensorType{DataType::kFloat32, d}, bytes, name);
}

// Emits the fused layer for f into rw (all its inputs are mapped); rolls back and returns the
// reason when inference or the backend refuses it.
Status emit(const ir::Graph& g, GraphRewriter& rw, const Fusion& f, const PassContext& ctx) {
  ir::Graph& dst = rw.dst();
  const ir::Layer& l = g.layers[f.anchor];
  const ir::Layer& last = g.layers[f.last];
  Mark m = mark(dst);
  auto fail = [&](Status s) {
    rollback(dst, m);
    return s;
  };
  QuantizedEpilogue ep;
  ep.x_zero_point = static_cast<int64_t>(f.x.zero_point[0]);
  ep.activation = f.act.op;
  ep.activation_alpha = f.act.alpha;
  ep.activation_beta = f.act.beta;
  ep.to = g.tensors[static_cast<size_t>(last.outputs[0])].type.dtype;
  if (f.out_q) {
    const auto& qp = std::get<QuantizeParams>(f.out_q->layer->params);
    ep.out_zero_point = f.out_q->zero_point;
    ep.quant_min = qp.quant_min;
    ep.quant_max = qp.quant_max;
  }
  auto wbytes = std::make_shared<const std::vector<uint8_t>>(f.w.bytes);
  auto w = rw.add_constant(f.w.type, wbytes, l.name + "/qweight");
  if (!w) return fail(w.status());
  auto xs = f32_constant(rw, {f.x.scale[0]}, l.name + "/x_scale");
  if (!xs) return fail(xs.status());
  std::vector<double> w_scale = f.w_scale;
  std::optional<HostTensor> bias_value = f.bias_value;
  if (!f.bn_scale.empty()) {  // scale the weights' scales, and bias * scale + shift
    const size_t n = f.bn_scale.size();
    if (w_scale.size() == 1) w_scale.assign(n, w_scale[0]);
    std::vector<double> b(n, 0.0);
    if (f.bias >= 0) {
      auto bv = constant_value(g, f.bias);
      if (!bv) return fail(Status(StatusCode::kUnsupported, "the bias is not a constant"));
      b = values_of(*bv);
    }
    for (size_t c = 0; c < n; ++c) {
      w_scale[c] *= f.bn_scale[c];
      b[c] = b[c] * f.bn_scale[c] + f.bn_shift[c];
    }
    HostTensor bt(TensorType{DataType::kFloat32, Dims{static_cast<int64_t>(n)}});
    for (size_t c = 0; c < n; ++c)
      store_from_double(bt.data(), DataType::kFloat32, static_cast<int64_t>(c), b[c]);
    bias_value = std::move(bt);
  }
  auto ws = f32_constant(rw, w_scale, l.name + "/w_scale");
  if (!ws) return fail(ws.status());
  int32_t bias = rw.map(f.bias);
  if (bias_value) {
    auto b = rw.add_constant(bias_value->type,
                             std::make_shared<const std::vector<uint8_t>>(bias_value->bytes),
                             l.name + "/bias");
    if (!b) return fail(b.status());
    bias = *b;
  }
  int32_t out_scale = -1;
  if (f.out_q) {
    auto os = f32_constant(rw, {f.out_q->scale}, last.name + "/out_scale");
    if (!os) return fail(os.status());
    out_scale = *os;
  }
  std::vector<int32_t> ins{rw.map(f.x.q), *w, *xs, *ws, bias, rw.map(f.residual), out_scale};
  Expected<std::vector<int32_t>> out = Status(StatusCode::kInternal, "");
  if (l.op == OpKind::kConvolution) {
    QuantizedConvolutionParams qp;
    static_cast<ConvolutionParams&>(qp) = std::get<ConvolutionParams>(l.params);
    static_cast<QuantizedEpilogue&>(qp) = ep;
    out = rw.add(OpKind::kQuantizedConvolution, qp, ins, last.name);
  } else {
    QuantizedLinearParams qp;
    static_cast<QuantizedEpilogue&>(qp) = ep;
    out = rw.add(OpKind::kQuantizedLinear, qp, ins, last.name);
  }
  if (!out) return fail(out.status());
  std::string why;
  if (!backend_runs_last(dst, ctx, &why))
    return fail(Status(StatusCode::kUnsupported,
                       "the " + ctx.backend + " backend has no kernel (" + why + ")"));
  rw.set_map(last.outputs[0], (*out)[0]);
  dst.tensors[static_cast<size_t>((*out)[0])].name =
      g.tensors[static_cast<size_t>(last.outputs[0])].name;
  return {};
}

bool is_anchor(const ir::Layer& l) {
  return l.op == OpKind::kConvolution || l.op == OpKind::kLinear || l.op == OpKind::kMatMul;
}

Status fuse(ir::Graph& g, const PassContext& ctx, std::vector<LayerPrecision>& report) {
  const auto consumers = ir::consumers(g);
  const std::vector<int> readers = reader_counts(g);
  std::vector<std::optional<Fusion>> plan_at(g.layers.size());  // keyed by the last layer
  std::vector<bool> absorbed(g.layers.size(), false);
  std::vector<std::string> why_not(g.layers.size());
  for (size_t li = 0; li < g.layers.size(); ++li) {
    if (!is_anchor(g.layers[li]) || absorbed[li]) continue;
    auto f = plan_fusion(g, li, consumers, readers);
    if (!f) {
      why_not[li] = f.status().message();
      continue;
    }
    const bool is_fp8 = f->x.storage == DataType::kFloat8E4M3;
    if (!ctx.config.precision_enabled(is_fp8 ? Precision::kFP8 : Precision::kINT8)) {
      why_not[li] = std::string(is_fp8 ? "fp8" : "int8") +
                    " precision is not enabled (add it to the enabled precisions)";
      continue;
    }
    bool clash = false;
    for (size_t a : f->absorbed) clash |= absorbed[a] || plan_at[a].has_value();
    if (clash) continue;
    for (size_t a : f->absorbed) absorbed[a] = true;
    plan_at[f->last] = std::move(*f);
  }
  GraphRewriter rw(g);
  int fused = 0;
  for (size_t li = 0; li < g.layers.size(); ++li) {
    const ir::Layer& l = g.layers[li];
    if (plan_at[li]) {
      const Fusion& f = *plan_at[li];
      Status s = emit(g, rw, f, ctx);
      const std::string prec = precision_name(f.x.storage);
      if (s.ok()) {
        ++fused;
        report.push_back({g.layers[f.anchor].name, prec, "fused: " + f.chain});
        continue;
      }
      report.push_back(
          {g.layers[f.anchor].name, "float", prec + " fusion refused: " + s.message()});
      for (size_t a : f.absorbed) KILN_RETURN_IF_ERROR(rw.copy_layer(a));
      continue;
    }
    if (absorbed[li]) continue;  // emitted with its chain's last layer
    if (is_anchor(l)) report.push_back({l.name, "float", "not quantized: " + why_not[li]});
    KILN_RETURN_IF_ERROR(rw.copy_layer(li));
  }
  if (fused == 0) return {};
  ctx.logger.log(Severity::kInfo, "[passes.fuse_quantized_layers] " + std::to_string(fused) +
                                      " convolution(s) / GEMM(s) fused into 8-bit layers");
  KILN_ASSIGN_OR_RETURN(auto out, rw.finish());
  g = std::move(out);
  return {};
}

}  // namespace

Status fuse_quantized_layers(ir::Graph& g, const PassContext& ctx) {
  bool any_qdq = false;
  for (const auto& l : g.layers) any_qdq |= ir::has_flag(l.op, ir::kFlagQuantization);
  if (!any_qdq) return {};
  int moved = 0;
  const bool eight_bit = ctx.config.precision_enabled(Precision::kINT8) ||
                         ctx.config.precision_enabled(Precision::kFP8);
  if (eight_bit && backend_runs_quantized_layers(ctx)) {
    KILN_ASSIGN_OR_RETURN(moved, commute_and_cancel(g, ctx));
  }
  if (moved > 0)
    ctx.logger.log(Severity::kVerbose, "[passes.fuse_quantized_layers] " + std::to_string(moved) +
                                           " Q/DQ moved or cancelled");
  std::vector<LayerPrecision> report;
  KILN_RETURN_IF_ERROR(fuse(g, ctx, report));
  if (ctx.outcome != nullptr) ctx.outcome->precision_report = std::move(report);
  return {};
}

}  // namespace kiln::passes
