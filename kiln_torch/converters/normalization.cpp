// Normalizations: batch_norm (inference), layer_norm, group_norm, instance_norm, rms_norm.
#include <algorithm>
#include <limits>

#include "converters/families.h"

namespace kiln::bridge {
namespace {

Status finish(ConversionCtx& ctx, const Node& n, Expected<kiln::Tensor> r) {
  KILN_ASSIGN_OR_RETURN(auto y, ctx.check(n, std::move(r)));
  ctx.set_output(n, 0, y);
  for (size_t i = 1; i < n.outputs.size(); ++i)
    ctx.set_output(n, i, Arg::constant(c10::IValue()));  // unused stats
  return {};
}

/// Optional tensor input i in dtype dt (an invalid handle when it is None).
Expected<kiln::Tensor> param(ConversionCtx& ctx, const Node& n, size_t i, DataType dt) {
  KILN_ASSIGN_OR_RETURN(auto t, ctx.optional_tensor(n, i));
  if (!t.valid()) return t;
  return ctx.cast(t, dt);
}

// batch_norm(x, weight?, bias?, mean, var, training, momentum, eps, cudnn_enabled)
// _native_batch_norm_legit_no_training(x, weight?, bias?, mean, var, momentum, eps)
Status batch_norm(ConversionCtx& ctx, const Node& n) {
  bool native = n.op.find("native") != std::string::npos;
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  DataType dt = ctx.dtype(x);
  KILN_ASSIGN_OR_RETURN(auto w, param(ctx, n, 1, dt));
  KILN_ASSIGN_OR_RETURN(auto b, param(ctx, n, 2, dt));
  KILN_ASSIGN_OR_RETURN(auto m, param(ctx, n, 3, dt));
  KILN_ASSIGN_OR_RETURN(auto v, param(ctx, n, 4, dt));
  BatchNormParams p;
  KILN_ASSIGN_OR_RETURN(p.epsilon, ctx.const_double(n, native ? 6 : 7));
  return finish(ctx, n, ctx.net.add_batch_norm(x, m, v, w, b, p));
}

// Mean and 1/sqrt(var + eps) of x over `axes` (kept as size-1 dims): the statistics outputs of
// native_layer_norm / native_group_norm.
Status set_stats(ConversionCtx& ctx, const Node& n, kiln::Tensor x,
                 const std::vector<int64_t>& axes, double eps) {
  KILN_ASSIGN_OR_RETURN(auto mean,
                        ctx.net.add_reduce(x, ReduceParams{ReduceOp::kMean, axes, true, 1}));
  KILN_ASSIGN_OR_RETURN(auto var,
                        ctx.net.add_reduce(x, ReduceParams{ReduceOp::kVar, axes, true, 0}));
  KILN_ASSIGN_OR_RETURN(auto e, ctx.scalar(eps, ctx.dtype(x)));
  KILN_ASSIGN_OR_RETURN(auto ve, ctx.net.add_elementwise(var, e, BinaryOp::kAdd));
  KILN_ASSIGN_OR_RETURN(auto rstd, ctx.check(n, ctx.net.add_unary(ve, UnaryOp::kRsqrt)));
  ctx.set_output(n, 1, mean);
  ctx.set_output(n, 2, rstd);
  return {};
}

// layer_norm(x, normalized_shape, weight?, bias?, eps, cudnn) / native_layer_norm(x, shape, w, b,
// eps)
// -> (y, mean, rstd), the statistics with the normalized dims kept as size 1.
Status layer_norm(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  KILN_ASSIGN_OR_RETURN(auto shape, ctx.const_int_list(n, 1));
  DataType dt = ctx.dtype(x);
  KILN_ASSIGN_OR_RETURN(auto w, param(ctx, n, 2, dt));
  KILN_ASSIGN_OR_RETURN(auto b, param(ctx, n, 3, dt));
  KILN_ASSIGN_OR_RETURN(auto eps, ctx.const_double(n, 4));
  LayerNormParams p;
  p.axis = -static_cast<int64_t>(shape.size());
  p.epsilon = eps;
  KILN_ASSIGN_OR_RETURN(auto y, ctx.check(n, ctx.net.add_layer_norm(x, w, b, p)));
  ctx.set_output(n, 0, y);
  if (n.outputs.size() < 3) return {};
  std::vector<int64_t> axes;
  for (int64_t a = p.axis; a < 0; ++a) axes.push_back(a);
  return set_stats(ctx, n, x, axes, eps);
}

// group_norm(x, num_groups, weight?, bias?, eps, cudnn) / native_group_norm(x, w, b, N, C, HxW,
// group, eps)
// -> (y, mean [N, group], rstd [N, group]).
Status group_norm(ConversionCtx& ctx, const Node& n) {
  bool native = n.op.find("native") != std::string::npos;
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  DataType dt = ctx.dtype(x);
  KILN_ASSIGN_OR_RETURN(auto g, ctx.const_int(n, native ? 6 : 1));
  KILN_ASSIGN_OR_RETURN(auto w, param(ctx, n, native ? 1 : 2, dt));
  KILN_ASSIGN_OR_RETURN(auto b, param(ctx, n, native ? 2 : 3, dt));
  KILN_ASSIGN_OR_RETURN(auto eps, ctx.const_double(n, native ? 7 : 4));
  GroupNormParams p;
  p.num_groups = g;
  p.epsilon = eps;
  KILN_ASSIGN_OR_RETURN(auto y, ctx.check(n, ctx.net.add_group_norm(x, w, b, p)));
  ctx.set_output(n, 0, y);
  if (n.outputs.size() < 3) return {};
  // Statistics per (sample, group): x as [N, group, -1].
  Dims d = ctx.dims(x);
  kiln::Tensor grouped;
  if (d[0] >= 0) {
    KILN_ASSIGN_OR_RETURN(grouped, ctx.net.add_reshape(x, {d[0], g, -1}));
  } else {
    KILN_ASSIGN_OR_RETURN(auto shp, ctx.net.add_shape(x));
    KILN_ASSIGN_OR_RETURN(auto n0, ctx.net.add_slice(shp, SliceParams{{0}, {0}, {1}, {1}}));
    KILN_ASSIGN_OR_RETURN(auto rest, ctx.net.add_int_vector({g, -1}));
    KILN_ASSIGN_OR_RETURN(auto target, ctx.net.add_concat({n0, rest}, 0));
    KILN_ASSIGN_OR_RETURN(grouped, ctx.net.add_reshape_dynamic(x, target));
  }
  KILN_RETURN_IF_ERROR(set_stats(ctx, n, grouped, {2}, eps));
  for (size_t i = 1; i < 3; ++i) {
    KILN_ASSIGN_OR_RETURN(auto sq, ctx.net.add_squeeze(ctx.value(n.outputs[i]).tensor(), {2}));
    ctx.set_output(n, i, sq);
  }
  return {};
}

// instance_norm(x, weight?, bias?, running_mean?, running_var?, use_input_stats, momentum, eps,
// cudnn)
Status instance_norm(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  DataType dt = ctx.dtype(x);
  KILN_ASSIGN_OR_RETURN(auto w, param(ctx, n, 1, dt));
  KILN_ASSIGN_OR_RETURN(auto b, param(ctx, n, 2, dt));
  GroupNormParams p;
  KILN_ASSIGN_OR_RETURN(p.epsilon, ctx.const_double(n, 7));
  Dims d = ctx.dims(x);
  if (d[1] < 0) return ctx.error(n, "instance_norm needs a static channel count");
  p.num_groups = d[1];
  return finish(ctx, n, ctx.net.add_group_norm(x, w, b, p));
}

// rms_norm(x, normalized_shape, weight?, eps?)
Status rms_norm(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  KILN_ASSIGN_OR_RETURN(auto shape, ctx.const_int_list(n, 1));
  DataType dt = ctx.dtype(x);
  KILN_ASSIGN_OR_RETURN(auto w, param(ctx, n, 2, dt));
  RmsNormParams p;
  p.axis = -static_cast<int64_t>(shape.size());
  if (n.inputs.size() > 3 && !ctx.is_none(n, 3)) {
    KILN_ASSIGN_OR_RETURN(p.epsilon, ctx.const_double(n, 3));
  } else {
    p.epsilon = dt == DataType::kFloat16    ? 0.0009765625
                : dt == DataType::kBFloat16 ? 0.0078125
                                            : std::numeric_limits<float>::epsilon();
  }
  return finish(ctx, n, ctx.net.add_rms_norm(x, w, p));
}

// Inference-mode batch norm with running statistics (constants or engine tensors). The statistics
// outputs of _native_batch_norm_legit_no_training are empty tensors: only supported when unused.
bool inference_only(const OpGraph& g, const Node& n, std::string* why) {
  auto is_none = [&](size_t i) {
    const Value& v = g.values[static_cast<size_t>(n.inputs[i])];
    return v.kind == ValueKind::kNone || (v.constant && v.constant->isNone());
  };
  if (is_none(3) || is_none(4)) {
    *why = "batch_norm without running statistics";
    return false;
  }
  if (n.op == "aten::batch_norm") {
    const Value& t = g.values[static_cast<size_t>(n.inputs[5])];
    if (!(t.constant && t.constant->isBool() && !t.constant->toBool())) {
      *why = "batch_norm in training mode";
      return false;
    }
    return true;
  }
  for (size_t i = 1; i < n.outputs.size(); ++i) {
    int v = n.outputs[i];
    bool used = std::find(g.outputs.begin(), g.outputs.end(), v) != g.outputs.end();
    for (const Node& m : g.nodes) {
      used |= std::find(m.inputs.begin(), m.inputs.end(), v) != m.inputs.end();
      used |= std::find(m.captured.begin(), m.captured.end(), v) != m.captured.end();
    }
    if (used) {
      *why = "the saved statistics outputs are used";
      return false;
    }
  }
  return true;
}

bool instance_norm_ok(const OpGraph& g, const Node& n, std::string* why) {
  const Value& u = g.values[static_cast<size_t>(n.inputs[5])];
  if (!(u.constant && u.constant->isBool() && u.constant->toBool())) {
    *why = "instance_norm with running statistics";
    return false;
  }
  // One group per channel: the group count is a build-time constant.
  const Value& x = input_value(g, n, 0);
  if (x.meta && x.meta->min.size() >= 2 && x.meta->min[1] != x.meta->max[1]) {
    *why = "instance_norm needs a static channel count";
    return false;
  }
  return true;
}

}  // namespace

void register_normalization_converters(ConverterRegistry& r) {
  add_converter(r, {"aten::batch_norm", "aten::_native_batch_norm_legit_no_training"}, batch_norm,
                inference_only);
  add_converter(r, {"aten::layer_norm", "aten::native_layer_norm"}, layer_norm);
  add_converter(r, {"aten::group_norm", "aten::native_group_norm"}, group_norm);
  add_converter(r, {"aten::instance_norm"}, instance_norm, instance_norm_ok);
  add_converter(r, {"aten::rms_norm"}, rms_norm);
}

}  // namespace kiln::bridge
