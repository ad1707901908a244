// Pooling: max_pool (with its indices when they are read) / avg_pool 1-3d, adaptive pooling 1-3d
// (adaptive max pooling without indices).
#include "converters/families.h"

namespace kiln::bridge {
namespace {

std::vector<int64_t> expand_to(std::vector<int64_t> v, size_t n, const std::vector<int64_t>& def) {
  if (v.empty()) return def;
  if (v.size() == 1 && n > 1) return std::vector<int64_t>(n, v[0]);
  return v;
}

// Runs `add` on x, handling unbatched inputs ([C, spatial...]) by adding a batch dim.
Status with_batch(ConversionCtx& ctx, const Node& n, size_t spatial,
                  const std::function<Expected<kiln::Tensor>(kiln::Tensor)>& add) {
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  bool unbatched = ctx.rank(x) == static_cast<int>(spatial) + 1;
  kiln::Tensor in = x;
  if (unbatched) {
    KILN_ASSIGN_OR_RETURN(auto u, ctx.net.add_unsqueeze(in, {0}));
    in = u;
  }
  KILN_ASSIGN_OR_RETURN(auto y, ctx.check(n, add(in)));
  kiln::Tensor out = y;
  if (unbatched) {
    KILN_ASSIGN_OR_RETURN(auto s, ctx.net.add_squeeze(out, {0}));
    out = s;
  }
  ctx.set_output(n, 0, out);
  for (size_t i = 1; i < n.outputs.size(); ++i)
    ctx.set_output(n, i, Arg::constant(c10::IValue()));  // unused indices
  return {};
}

size_t spatial_of(const std::string& op) {
  if (op.find("1d") != std::string::npos) return 1;
  if (op.find("3d") != std::string::npos) return 3;
  return 2;
}

// Why the second output (pooling indices) of `n` is read, or "" when nothing reads it.
std::string indices_use(const OpGraph& g, const Node& n) {
  if (n.outputs.size() < 2) return {};
  int idx = n.outputs[1];
  for (const Node& m : g.nodes)
    for (int v : m.inputs)
      if (v == idx) return "pooling indices are used";
  for (int v : g.outputs)
    if (v == idx) return "pooling indices are returned";
  return {};
}

bool indices_unused(const OpGraph& g, const Node& n, std::string* why) {
  *why = indices_use(g, n);
  return why->empty();
}

// max_poolNd[_with_indices](x, kernel, stride, padding, dilation, ceil_mode): the indices output
// is built only when something reads it.
Status max_pool(ConversionCtx& ctx, const Node& n) {
  size_t sp = spatial_of(n.op);
  KILN_ASSIGN_OR_RETURN(auto k, ctx.const_int_list(n, 1));
  KILN_ASSIGN_OR_RETURN(auto s, ctx.const_int_list(n, 2));
  KILN_ASSIGN_OR_RETURN(auto pad, ctx.const_int_list(n, 3));
  KILN_ASSIGN_OR_RETURN(auto d, ctx.const_int_list(n, 4));
  PoolingParams p;
  KILN_ASSIGN_OR_RETURN(p.ceil_mode, ctx.const_bool(n, 5));
  p.type = PoolingType::kMax;
  p.kernel = expand_to(k, sp, {});
  p.strides = expand_to(s, sp, p.kernel);
  p.pads_begin = expand_to(pad, sp, std::vector<int64_t>(sp, 0));
  p.pads_end = p.pads_begin;
  p.dilations = expand_to(d, sp, std::vector<int64_t>(sp, 1));
  if (indices_use(ctx.graph, n).empty())
    return with_batch(ctx, n, sp, [&](kiln::Tensor x) { return ctx.net.add_pooling(x, p); });
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  bool unbatched = ctx.rank(x) == static_cast<int>(sp) + 1;
  if (unbatched) {
    KILN_ASSIGN_OR_RETURN(auto u, ctx.net.add_unsqueeze(x, {0}));
    x = u;
  }
  auto outs = ctx.net.add_max_pooling_with_indices(x, p);
  if (!outs) return ctx.error(n, outs.status());
  for (size_t i = 0; i < 2; ++i) {
    kiln::Tensor t = (*outs)[i];
    if (unbatched) {
      KILN_ASSIGN_OR_RETURN(auto s, ctx.net.add_squeeze(t, {0}));
      t = s;
    }
    ctx.set_output(n, i, t);
  }
  return {};
}

// avg_pool1d(x, k, s, pad, ceil, count_include_pad); avg_pool2d/3d add divisor_override
Status avg_pool(ConversionCtx& ctx, const Node& n) {
  size_t sp = spatial_of(n.op);
  KILN_ASSIGN_OR_RETURN(auto k, ctx.const_int_list(n, 1));
  KILN_ASSIGN_OR_RETURN(auto s, ctx.const_int_list(n, 2));
  KILN_ASSIGN_OR_RETURN(auto pad, ctx.const_int_list(n, 3));
  PoolingParams p;
  KILN_ASSIGN_OR_RETURN(p.ceil_mode, ctx.const_bool(n, 4));
  KILN_ASSIGN_OR_RETURN(p.count_include_pad, ctx.const_bool(n, 5));
  p.type = PoolingType::kAverage;
  p.kernel = expand_to(k, sp, {});
  p.strides = expand_to(s, sp, p.kernel);
  p.pads_begin = expand_to(pad, sp, std::vector<int64_t>(sp, 0));
  p.pads_end = p.pads_begin;
  p.dilations.assign(sp, 1);
  bool negate = false;  // torch divides by a negative divisor_override too: by |d|, then negated
  if (n.inputs.size() > 6 && !ctx.is_none(n, 6)) {
    KILN_ASSIGN_OR_RETURN(auto dv, ctx.const_int(n, 6));
    negate = dv < 0;
    p.divisor_override = negate ? -dv : dv;
  }
  return with_batch(ctx, n, sp, [&](kiln::Tensor x) -> Expected<kiln::Tensor> {
    KILN_ASSIGN_OR_RETURN(auto y, ctx.net.add_pooling(x, p));
    if (!negate) return y;
    return scale(ctx, n, y, -1.0);
  });
}

Status adaptive(ConversionCtx& ctx, const Node& n, PoolingType type) {
  size_t sp = spatial_of(n.op);
  KILN_ASSIGN_OR_RETURN(auto os, ctx.const_int_list(n, 1));
  AdaptivePoolingParams p;
  p.type = type;
  p.output_size = expand_to(os, sp, {});
  return with_batch(ctx, n, sp, [&](kiln::Tensor x) { return ctx.net.add_adaptive_pooling(x, p); });
}

// Whether the pooling window fits the input at every shape of its range (torch refuses a window
// larger than the padded input; a dynamic range whose smallest shape does that cannot be built).
// max_poolNd: kernel, stride, padding, dilation at inputs 1-4; avg_poolNd: kernel, stride, padding.
bool window_fits(const OpGraph& g, const Node& n, std::string* why, bool dilated) {
  const Value& x = input_value(g, n, 0);
  size_t sp = spatial_of(n.op);
  std::vector<int64_t> k, pad, d;
  for (size_t i : {size_t{1}, size_t{3}, size_t{4}}) {
    if (i == 4 && !dilated) break;
    if (i >= n.inputs.size()) break;
    const Value& v = input_value(g, n, i);
    if (!v.constant || !v.constant->isIntList()) {
      *why = "pooling kernel, padding and dilation must be constant int lists";
      return false;
    }
    (i == 1 ? k : i == 3 ? pad : d) = v.constant->toIntVector();
  }
  k = expand_to(k, sp, {});
  pad = expand_to(pad, sp, std::vector<int64_t>(sp, 0));
  d = expand_to(d, sp, std::vector<int64_t>(sp, 1));
  if (!x.meta || k.size() != sp || pad.size() != sp || d.size() != sp)
    return true;  // converter checks
  const auto& lo = x.meta->min;
  for (size_t i = 0; i < sp && lo.size() >= sp; ++i) {
    int64_t extent = lo[lo.size() - sp + i], window = d[i] * (k[i] - 1) + 1;
    if (extent + 2 * pad[i] < window) {
      *why = "the pooling window (" + std::to_string(window) + ") is larger than spatial dim " +
             std::to_string(i) + " at the smallest input shape (" + std::to_string(extent) +
             " + padding " + std::to_string(2 * pad[i]) + ")";
      return false;
    }
  }
  return true;
}

// Adaptive pooling's output size is a layer constant: one that follows a dynamic input dim
// (output_size = [x.size(2), ...]) is refused here, not at build time.
bool output_size_constant(const OpGraph& g, const Node& n, std::string* why) {
  const Value& v = input_value(g, n, 1);
  if (v.constant && v.constant->isIntList()) return true;
  *why =
      "adaptive pooling to an output size known only at run time (it follows a dynamic dim); the "
      "adaptive pooling layer takes a constant output size";
  return false;
}

}  // namespace

void register_pooling_converters(ConverterRegistry& r) {
  add_converter(
      r,
      {"aten::max_pool1d", "aten::max_pool2d", "aten::max_pool3d", "aten::max_pool2d_with_indices",
       "aten::max_pool1d_with_indices", "aten::max_pool3d_with_indices"},
      max_pool, [](const OpGraph& g, const Node& n, std::string* why) {
        return window_fits(g, n, why, true);
      });
  add_converter(r, {"aten::avg_pool1d", "aten::avg_pool2d", "aten::avg_pool3d"}, avg_pool,
                [](const OpGraph& g, const Node& n, std::string* why) {
                  return window_fits(g, n, why, false);
                });
  add_converter(
      r,
      {"aten::adaptive_avg_pool1d", "aten::adaptive_avg_pool2d", "aten::adaptive_avg_pool3d",
       "aten::_adaptive_avg_pool2d", "aten::_adaptive_avg_pool3d"},
      [](ConversionCtx& c, const Node& n) { return adaptive(c, n, PoolingType::kAverage); },
      output_size_constant);
  add_converter(
      r, {"aten::adaptive_max_pool1d", "aten::adaptive_max_pool2d", "aten::adaptive_max_pool3d"},
      [](ConversionCtx& c, const Node& n) { return adaptive(c, n, PoolingType::kMax); },
      [](const OpGraph& g, const Node& n, std::string* why) {
        return output_size_constant(g, n, why) && indices_unused(g, n, why);
      });
}

}  // namespace kiln::bridge
