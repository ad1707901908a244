// Normalizations: batch_norm (inference), layer_norm, group_norm, instance_norm, rms_norm.
#include <limits>

#include "converters/families.h"

namespace kiln::bridge {
namespace {

Status finish(ConversionCtx& ctx, const Node& n, Expected<kiln::Tensor> r) {
  auto y = ctx.check(n, std::move(r));
  if (!y) return y.status();
  ctx.set_output(n, 0, *y);
  for (size_t i = 1; i < n.outputs.size(); ++i) ctx.set_output(n, i, Arg::constant(c10::IValue()));  // unused stats
  return {};
}

Expected<kiln::Tensor> param(ConversionCtx& ctx, const Node& n, size_t i, DataType dt) {
  auto t = ctx.optional_tensor(n, i);
  if (!t || !t->valid()) return t;
  return ctx.cast(*t, dt);
}

// batch_norm(x, weight?, bias?, mean, var, training, momentum, eps, cudnn_enabled)
// _native_batch_norm_legit_no_training(x, weight?, bias?, mean, var, momentum, eps)
Status batch_norm(ConversionCtx& ctx, const Node& n) {
  bool native = n.op.find("native") != std::string::npos;
  auto x = ctx.tensor(n, 0);
  if (!x) return x.status();
  DataType dt = ctx.dtype(*x);
  auto w = param(ctx, n, 1, dt), b = param(ctx, n, 2, dt), m = param(ctx, n, 3, dt), v = param(ctx, n, 4, dt);
  if (!w || !b || !m || !v) return ctx.error(n, "bad batch_norm parameters");
  auto eps = ctx.const_double(n, native ? 6 : 7);
  if (!eps) return eps.status();
  BatchNormParams p;
  p.epsilon = *eps;
  return finish(ctx, n, ctx.net.add_batch_norm(*x, *m, *v, *w, *b, p));
}

// layer_norm(x, normalized_shape, weight?, bias?, eps, cudnn) / native_layer_norm(x, shape, w, b, eps)
Status layer_norm(ConversionCtx& ctx, const Node& n) {
  auto x = ctx.tensor(n, 0);
  if (!x) return x.status();
  auto shape = ctx.const_int_list(n, 1);
  if (!shape) return shape.status();
  DataType dt = ctx.dtype(*x);
  auto w = param(ctx, n, 2, dt), b = param(ctx, n, 3, dt);
  if (!w || !b) return ctx.error(n, "bad layer_norm parameters");
  auto eps = ctx.const_double(n, 4);
  if (!eps) return eps.status();
  LayerNormParams p;
  p.axis = -static_cast<int64_t>(shape->size());
  p.epsilon = *eps;
  return finish(ctx, n, ctx.net.add_layer_norm(*x, *w, *b, p));
}

// group_norm(x, num_groups, weight?, bias?, eps, cudnn) / native_group_norm(x, w, b, N, C, HxW, group, eps)
Status group_norm(ConversionCtx& ctx, const Node& n) {
  bool native = n.op.find("native") != std::string::npos;
  auto x = ctx.tensor(n, 0);
  if (!x) return x.status();
  DataType dt = ctx.dtype(*x);
  auto g = ctx.const_int(n, native ? 6 : 1);
  auto w = param(ctx, n, native ? 1 : 2, dt), b = param(ctx, n, native ? 2 : 3, dt);
  auto eps = ctx.const_double(n, native ? 7 : 4);
  if (!g || !w || !b || !eps) return ctx.error(n, "bad group_norm parameters");
  GroupNormParams p;
  p.num_groups = *g;
  p.epsilon = *eps;
  return finish(ctx, n, ctx.net.add_group_norm(*x, *w, *b, p));
}

// instance_norm(x, weight?, bias?, running_mean?, running_var?, use_input_stats, momentum, eps, cudnn)
Status instance_norm(ConversionCtx& ctx, const Node& n) {
  auto x = ctx.tensor(n, 0);
  if (!x) return x.status();
  DataType dt = ctx.dtype(*x);
  auto w = param(ctx, n, 1, dt), b = param(ctx, n, 2, dt);
  auto eps = ctx.const_double(n, 7);
  if (!w || !b || !eps) return ctx.error(n, "bad instance_norm parameters");
  Dims d = ctx.dims(*x);
  if (d[1] < 0) return ctx.error(n, "instance_norm needs a static channel count");
  GroupNormParams p;
  p.num_groups = d[1];
  p.epsilon = *eps;
  return finish(ctx, n, ctx.net.add_group_norm(*x, *w, *b, p));
}

// rms_norm(x, normalized_shape, weight?, eps?)
Status rms_norm(ConversionCtx& ctx, const Node& n) {
  auto x = ctx.tensor(n, 0);
  if (!x) return x.status();
  auto shape = ctx.const_int_list(n, 1);
  if (!shape) return shape.status();
  DataType dt = ctx.dtype(*x);
  auto w = param(ctx, n, 2, dt);
  if (!w) return w.status();
  RmsNormParams p;
  p.axis = -static_cast<int64_t>(shape->size());
  if (n.inputs.size() > 3 && !ctx.is_none(n, 3)) {
    auto eps = ctx.const_double(n, 3);
    if (!eps) return eps.status();
    p.epsilon = *eps;
  } else {
    p.epsilon = dt == DataType::kFloat16 ? 0.0009765625 : dt == DataType::kBFloat16 ? 0.0078125
                                                                                    : std::numeric_limits<float>::epsilon();
  }
  return finish(ctx, n, ctx.net.add_rms_norm(*x, *w, p));
}

bool inference_only(const OpGraph& g, const Node& n, std::string* why) {
  if (n.op != "aten::batch_norm") return true;
  const Value& t = g.values[static_cast<size_t>(n.inputs[5])];
  if (t.constant && t.constant->isBool() && !t.constant->toBool()) {
    for (int i : {3, 4})
      if (!g.is_constant(n.inputs[static_cast<size_t>(i)]) || g.values[static_cast<size_t>(n.inputs[static_cast<size_t>(i)])].constant->isNone()) {
        *why = "batch_norm without running statistics";
        return false;
      }
    return true;
  }
  *why = "batch_norm in training mode";
  return false;
}

bool instance_norm_ok(const OpGraph& g, const Node& n, std::string* why) {
  const Value& u = g.values[static_cast<size_t>(n.inputs[5])];
  if (u.constant && u.constant->isBool() && u.constant->toBool()) return true;
  *why = "instance_norm with running statistics";
  return false;
}

}  // namespace

void register_normalization_converters(ConverterRegistry& r) {
  add_converter(r, {"aten::batch_norm", "aten::_native_batch_norm_legit_no_training"}, batch_norm, inference_only);
  add_converter(r, {"aten::layer_norm", "aten::native_layer_norm"}, layer_norm);
  add_converter(r, {"aten::group_norm", "aten::native_group_norm"}, group_norm);
  add_converter(r, {"aten::instance_norm"}, instance_norm, instance_norm_ok);
  add_converter(r, {"aten::rms_norm"}, rms_norm);
}

}  // namespace kiln::bridge
