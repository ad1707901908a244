// Padding and resizing: constant_pad_nd, pad (constant/reflect/replicate/circular), reflection_pad,
// replication_pad, _pad_circular; upsample_{nearest,linear,bilinear,trilinear,bicubic} and
// _upsample_nearest_exact (explicit-size and .vec overloads), with torch's sizes-vs-scales rules:
// explicit output sizes map coordinates by in/out unless scales are also given; .vec scale factors
// give floor(in * scale) outputs and map coordinates by 1/scale. grid_sampler_2d (every mode,
// padding and align_corners) is one grid_sample layer.
#include <climits>

#include "converters/families.h"

namespace kiln::bridge {
namespace {

/// Whether value v is known at compile time (a constant, or a list built from constants).
bool static_value(const OpGraph& g, int v) {
  if (v < 0) return true;
  if (g.is_constant(v)) return true;
  int p = g.values[static_cast<size_t>(v)].producer;
  if (p < 0) return false;
  const Node& n = g.nodes[static_cast<size_t>(p)];
  if (n.op != "prim::ListConstruct") return false;
  for (int u : n.inputs)
    if (!g.is_constant(u)) return false;
  return true;
}

// ---- pad ----

/// torch's pad list (last dim first: [begin_last, end_last, begin_prev, end_prev, ...]) as
/// PadParams.
Expected<PadParams> pad_params(ConversionCtx& ctx, const Node& n, const std::vector<int64_t>& pad,
                               int rank, PadMode mode) {
  if (pad.size() % 2 != 0 || static_cast<int>(pad.size() / 2) > rank)
    return ctx.error(n, "pad list of length " + std::to_string(pad.size()) + " for a rank-" +
                            std::to_string(rank) + " input");
  PadParams p;
  p.mode = mode;
  p.pads_begin.assign(static_cast<size_t>(rank), 0);
  p.pads_end.assign(static_cast<size_t>(rank), 0);
  for (size_t k = 0; k < pad.size() / 2; ++k) {
    size_t d = static_cast<size_t>(rank) - 1 - k;
    p.pads_begin[d] = pad[2 * k];
    p.pads_end[d] = pad[2 * k + 1];
  }
  return p;
}

/// Extent of dim d of x: a constant, or an int64 rank-0 tensor.
Expected<kiln::Tensor> extent(ConversionCtx& ctx, kiln::Tensor x, int64_t d) {
  Dims dims = ctx.dims(x);
  if (dims[static_cast<int>(d)] >= 0)
    return ctx.scalar(static_cast<double>(dims[static_cast<int>(d)]), DataType::kInt64);
  KILN_ASSIGN_OR_RETURN(auto s, ctx.net.add_shape(x));
  KILN_ASSIGN_OR_RETURN(auto i, ctx.scalar(static_cast<double>(d), DataType::kInt64));
  return ctx.net.add_gather(s, i, 0);
}

/// Constant padding by runtime amounts (ints known only when the engine runs, e.g. computed from a
/// dynamic size, or sizes TorchScript did not fold): per padded dim, concat fills of max(pad, 0) on
/// each side, then slice away max(-pad, 0) (torch crops for negative pads).
Status pad_runtime(ConversionCtx& ctx, const Node& n, kiln::Tensor x, double value) {
  const Arg& list = ctx.arg(n, 1);
  if (!list.is_list()) return ctx.error(n, "pad amounts must be a list");
  const auto& items = list.items();
  int rank = ctx.rank(x);
  if (items.size() % 2 != 0 || static_cast<int>(items.size() / 2) > rank)
    return ctx.error(n, "pad list has " + std::to_string(items.size()) +
                            " entries; expected an even number, at most 2 per dim of the rank-" +
                            std::to_string(rank) + " input");
  DataType dt = ctx.dtype(x);
  KILN_ASSIGN_OR_RETURN(auto zero, ctx.scalar(0.0, DataType::kInt64));
  auto amount = [&](const Arg& a) -> Expected<kiln::Tensor> {
    if (a.is_constant() && a.ivalue().isInt())
      return ctx.scalar(static_cast<double>(a.ivalue().toInt()), DataType::kInt64);
    if (!a.is_tensor()) return ctx.error(n, "pad amount is neither an int nor a runtime int");
    kiln::Tensor t = a.tensor();
    if (ctx.rank(t) != 0) {
      KILN_ASSIGN_OR_RETURN(auto r, ctx.net.add_reshape(t, {}));
      t = r;
    }
    return ctx.cast(t, DataType::kInt64);
  };
  kiln::Tensor y = x;
  for (size_t k = 0; k < items.size() / 2; ++k) {
    auto d = static_cast<int64_t>(rank - 1 - static_cast<int>(k));
    KILN_ASSIGN_OR_RETURN(auto b, amount(items[2 * k]));
    KILN_ASSIGN_OR_RETURN(auto e, amount(items[2 * k + 1]));
    std::vector<kiln::Tensor> parts;
    for (int side = 0; side < 2; ++side) {
      KILN_ASSIGN_OR_RETURN(auto grow,
                            ctx.net.add_elementwise(side == 0 ? b : e, zero, BinaryOp::kMax));
      // shape(y) with dim d replaced by the growth
      KILN_ASSIGN_OR_RETURN(auto shp, ctx.net.add_shape(y));
      std::vector<kiln::Tensor> dims;
      if (d > 0) {
        KILN_ASSIGN_OR_RETURN(auto s0, ctx.net.add_slice(shp, SliceParams{{0}, {0}, {d}, {1}}));
        dims.push_back(s0);
      }
      KILN_ASSIGN_OR_RETURN(auto g1, ctx.net.add_unsqueeze(grow, {0}));
      dims.push_back(g1);
      if (d + 1 < rank) {
        KILN_ASSIGN_OR_RETURN(auto s1,
                              ctx.net.add_slice(shp, SliceParams{{0}, {d + 1}, {INT64_MAX}, {1}}));
        dims.push_back(s1);
      }
      KILN_ASSIGN_OR_RETURN(auto full, dims.size() == 1 ? Expected<kiln::Tensor>(dims[0])
                                                        : ctx.net.add_concat(dims, 0));
      KILN_ASSIGN_OR_RETURN(auto f, ctx.net.add_fill_dynamic(full, value, dt));
      parts.push_back(f);
    }
    KILN_ASSIGN_OR_RETURN(auto cat, ctx.net.add_concat({parts[0], y, parts[1]}, d));
    // crop: start = max(-b, 0), end = extent - max(-e, 0)
    KILN_ASSIGN_OR_RETURN(auto nb, ctx.net.add_unary(b, UnaryOp::kNeg));
    KILN_ASSIGN_OR_RETURN(auto ne, ctx.net.add_unary(e, UnaryOp::kNeg));
    KILN_ASSIGN_OR_RETURN(auto cb, ctx.net.add_elementwise(nb, zero, BinaryOp::kMax));
    KILN_ASSIGN_OR_RETURN(auto ce, ctx.net.add_elementwise(ne, zero, BinaryOp::kMax));
    KILN_ASSIGN_OR_RETURN(auto ext, extent(ctx, cat, d));
    KILN_ASSIGN_OR_RETURN(auto end, ctx.net.add_elementwise(ext, ce, BinaryOp::kSub));
    KILN_ASSIGN_OR_RETURN(auto st, ctx.net.add_unsqueeze(cb, {0}));
    KILN_ASSIGN_OR_RETURN(auto en, ctx.net.add_unsqueeze(end, {0}));
    KILN_ASSIGN_OR_RETURN(auto sl, ctx.net.add_slice(cat, SliceParams{{d}, {0}, {0}, {1}}, st, en));
    y = sl;
  }
  return set_output_tensor(ctx, n, ctx.net.add_identity(y));
}

Status pad_with(ConversionCtx& ctx, const Node& n, PadMode mode, double value) {
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  if (!ctx.is_static_int(n, 1)) {
    if (mode != PadMode::kConstant) return ctx.error(n, "runtime pad amounts need constant mode");
    return pad_runtime(ctx, n, x, value);
  }
  KILN_ASSIGN_OR_RETURN(auto pad, ctx.const_int_list(n, 1));
  KILN_ASSIGN_OR_RETURN(auto p, pad_params(ctx, n, pad, ctx.rank(x), mode));
  p.value = value;
  bool nothing = true;
  for (size_t i = 0; i < p.pads_begin.size(); ++i)
    nothing &= p.pads_begin[i] == 0 && p.pads_end[i] == 0;
  if (nothing) return set_output_tensor(ctx, n, ctx.net.add_identity(x));
  return set_output_tensor(ctx, n, ctx.net.add_pad(x, p));
}

// constant_pad_nd(self, pad, value=0)
Status constant_pad(ConversionCtx& ctx, const Node& n) {
  double v = 0.0;
  if (!ctx.is_none(n, 2)) {
    KILN_ASSIGN_OR_RETURN(v, ctx.const_double(n, 2));
  }
  return pad_with(ctx, n, PadMode::kConstant, v);
}

Expected<PadMode> pad_mode(const std::string& m) {
  if (m == "constant") return PadMode::kConstant;
  if (m == "reflect") return PadMode::kReflect;
  if (m == "replicate") return PadMode::kReplicate;
  if (m == "circular") return PadMode::kCircular;
  return make_error(StatusCode::kUnsupported, "converters", "pad mode '" + m + "'");
}

// pad(self, pad, mode="constant", value=None)
Status pad(ConversionCtx& ctx, const Node& n) {
  const Arg& m = ctx.arg(n, 2);
  std::string mode =
      m.is_constant() && m.ivalue().isString() ? m.ivalue().toStringRef() : "constant";
  auto pm = pad_mode(mode);
  if (!pm) return ctx.error(n, pm.status().message());
  double v = 0.0;
  if (!ctx.is_none(n, 3)) {
    KILN_ASSIGN_OR_RETURN(v, ctx.const_double(n, 3));
  }
  return pad_with(ctx, n, *pm, v);
}

bool pad_supported(const OpGraph& g, const Node& n, std::string* why) {
  PadMode mode = PadMode::kConstant;
  if (n.op == "aten::pad" && n.inputs.size() > 2) {
    const Value& m = g.values[static_cast<size_t>(n.inputs[2])];
    if (!m.constant || !m.constant->isString()) {
      *why = "pad mode is not a constant";
      return false;
    }
    auto pm = pad_mode(m.constant->toStringRef());
    if (!pm) {
      *why = pm.status().message();
      return false;
    }
    mode = *pm;
  } else if (n.op.find("reflection") != std::string::npos) {
    mode = PadMode::kReflect;
  } else if (n.op.find("replication") != std::string::npos) {
    mode = PadMode::kReplicate;
  } else if (n.op.find("circular") != std::string::npos) {
    mode = PadMode::kCircular;
  }
  if (mode != PadMode::kConstant && !static_value(g, n.inputs[1])) {
    // Runtime amounts are handled in constant mode only (unless evaluators fold them to constants,
    // which is only known at conversion time).
    *why = "runtime pad amounts in a non-constant pad mode";
    return false;
  }
  if (mode != PadMode::kConstant && g.is_constant(n.inputs[1])) {
    for (int64_t v : g.values[static_cast<size_t>(n.inputs[1])].constant->toIntVector()) {
      if (v < 0) {
        *why = "negative pads in a non-constant pad mode";
        return false;
      }
    }
  }
  bool has_value = n.op == "aten::pad" || n.op == "aten::constant_pad_nd";
  size_t vi = n.op == "aten::pad" ? 3 : 2;
  if (has_value && vi < n.inputs.size() && !g.is_constant(n.inputs[vi])) {
    *why = "pad value is not a constant";
    return false;
  }
  return true;
}

// ---- resize ----

struct UpsampleKind {
  ResizeMode mode;
  size_t spatial;
  bool has_align;
};

UpsampleKind upsample_kind(const std::string& op) {
  UpsampleKind k{ResizeMode::kNearest, 2, false};
  k.spatial = op.find("1d") != std::string::npos ? 1 : op.find("3d") != std::string::npos ? 3 : 2;
  if (op.find("nearest_exact") != std::string::npos) {
    k.mode = ResizeMode::kNearestExact;
  } else if (op.find("nearest") != std::string::npos) {
    k.mode = ResizeMode::kNearest;
  } else if (op.find("bicubic") != std::string::npos) {
    k.mode = ResizeMode::kCubic;
    k.has_align = true;
  } else {
    k.mode = ResizeMode::kLinear;
    k.has_align = true;
  }
  return k;
}

bool is_vec(const std::string& op) {
  return op.size() > 4 && op.compare(op.size() - 4, 4, ".vec") == 0;
}

/// Optional doubles of inputs [first, first + count): all present, all None (empty), or mixed
/// (error).
Expected<std::vector<double>> optional_scales(ConversionCtx& ctx, const Node& n, size_t first,
                                              size_t count) {
  std::vector<double> out;
  size_t present = 0;
  for (size_t i = first; i < first + count; ++i) {
    if (ctx.is_none(n, i)) continue;
    KILN_ASSIGN_OR_RETURN(auto v, ctx.const_double(n, i));
    out.push_back(v);
    ++present;
  }
  if (present != 0 && present != count) return ctx.error(n, "scales given for some dims only");
  return out;
}

Status upsample(ConversionCtx& ctx, const Node& n) {
  UpsampleKind k = upsample_kind(n.op);
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  if (ctx.rank(x) != static_cast<int>(k.spatial) + 2)
    return ctx.error(n, "input must have rank " + std::to_string(k.spatial + 2));
  ResizeParams p;
  p.mode = k.mode;
  size_t next = 2;
  if (k.has_align) {
    KILN_ASSIGN_OR_RETURN(p.align_corners, ctx.const_bool(n, 2));
    next = 3;
  }
  kiln::Tensor sizes;
  bool have_sizes = !ctx.is_none(n, 1);
  if (have_sizes) {
    KILN_ASSIGN_OR_RETURN(auto s, ctx.int_list(n, 1));
    if (s.is_static) {
      p.sizes = s.values;
      if (p.sizes.size() != k.spatial)
        return ctx.error(n, "output_size must have " + std::to_string(k.spatial) + " entries");
    } else {
      sizes = s.tensor;
    }
  }
  if (is_vec(n.op)) {
    if (!ctx.is_none(n, next)) {
      if (have_sizes) return ctx.error(n, "both output_size and scale_factors given");
      const Arg& sf = ctx.arg(n, next);
      if (!(sf.is_constant() && sf.ivalue().isDoubleList()))
        return ctx.error(n, "scale_factors must be constants");
      p.scales = sf.ivalue().toDoubleVector();
      if (p.scales.size() != k.spatial)
        return ctx.error(n, "scale_factors must have " + std::to_string(k.spatial) + " entries");
    } else if (!have_sizes) {
      return ctx.error(n, "either output_size or scale_factors must be given");
    }
  } else {
    if (!have_sizes) return ctx.error(n, "output_size must be given");
    KILN_ASSIGN_OR_RETURN(auto sc, optional_scales(ctx, n, next, k.spatial));
    p.scales = sc;
  }
  return set_output_tensor(ctx, n, ctx.net.add_resize(x, p, sizes));
}

bool upsample_supported(const OpGraph& g, const Node& n, std::string* why) {
  if (!no_float64_inputs(g, n, why)) return false;
  UpsampleKind k = upsample_kind(n.op);
  const Value& x = g.values[static_cast<size_t>(n.inputs[0])];
  if (k.mode != ResizeMode::kNearest && k.mode != ResizeMode::kNearestExact && x.meta &&
      !at::isFloatingType(x.meta->dtype)) {
    *why = "interpolation of a non-float tensor";
    return false;
  }
  size_t next = k.has_align ? 3 : 2;
  if (k.has_align && !g.is_constant(n.inputs[2])) {
    *why = "align_corners is not a constant";
    return false;
  }
  size_t count = is_vec(n.op) ? 1 : k.spatial;
  size_t present = 0;
  for (size_t i = next; i < next + count && i < n.inputs.size(); ++i) {
    int v = n.inputs[i];
    if (!g.is_constant(v)) {
      *why = "scale factors are not constants";
      return false;
    }
    present += !g.values[static_cast<size_t>(v)].constant->isNone();
  }
  if (!is_vec(n.op) && present != 0 && present != count) {
    *why = "scales given for some dims only";
    return false;
  }
  return true;
}

// ---- grid sample ----

// grid_sampler_2d(input, grid, interpolation_mode, padding_mode, align_corners)
Status grid_sampler(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  KILN_ASSIGN_OR_RETURN(auto grid, ctx.tensor(n, 1));
  KILN_ASSIGN_OR_RETURN(auto mode, ctx.const_int(n, 2));
  KILN_ASSIGN_OR_RETURN(auto padding, ctx.const_int(n, 3));
  GridSampleParams p;
  if (mode < 0 || mode >= kNumGridSampleModes || padding < 0 || padding >= kNumGridSamplePaddings)
    return ctx.error(n, "interpolation mode " + std::to_string(mode) + " or padding mode " +
                            std::to_string(padding) + " out of range");
  p.mode = static_cast<GridSampleMode>(mode);  // torch's GridSamplerInterpolation order
  p.padding = static_cast<GridSamplePadding>(padding);
  KILN_ASSIGN_OR_RETURN(p.align_corners, ctx.const_bool(n, 4));
  if (ctx.dtype(grid) != ctx.dtype(x)) {
    KILN_ASSIGN_OR_RETURN(grid, ctx.cast(grid, ctx.dtype(x)));
  }
  return set_output_tensor(ctx, n, ctx.net.add_grid_sample(x, grid, p));
}

bool grid_sampler_supported(const OpGraph& g, const Node& n, std::string* why) {
  const Value& x = input_value(g, n, 0);
  if (x.meta && (!at::isFloatingType(x.meta->dtype) || x.meta->dtype == at::kDouble)) {
    *why = "grid sampling of a non-float32/16 tensor";
    return false;
  }
  if (x.meta && x.meta->opt.size() != 4) {
    *why = "input is not 4-D";
    return false;
  }
  for (size_t i = 2; i < 5; ++i) {
    if (!g.is_constant(n.inputs[i])) {
      *why = "interpolation mode, padding mode or align_corners is not a constant";
      return false;
    }
  }
  int64_t mode = input_value(g, n, 2).constant->toInt();
  int64_t padding = input_value(g, n, 3).constant->toInt();
  if (mode < 0 || mode >= kNumGridSampleModes || padding < 0 || padding >= kNumGridSamplePaddings) {
    *why = "unknown interpolation or padding mode";
    return false;
  }
  return true;
}

}  // namespace

void register_resize_pad_converters(ConverterRegistry& r) {
  add_converter(r, {"aten::grid_sampler_2d"}, grid_sampler, grid_sampler_supported);
  add_converter(r, {"aten::constant_pad_nd"}, constant_pad, pad_supported);
  add_converter(r, {"aten::pad"}, pad, pad_supported);
  add_converter(
      r, {"aten::reflection_pad1d", "aten::reflection_pad2d", "aten::reflection_pad3d"},
      [](ConversionCtx& c, const Node& n) { return pad_with(c, n, PadMode::kReflect, 0.0); },
      pad_supported);
  add_converter(
      r, {"aten::replication_pad1d", "aten::replication_pad2d", "aten::replication_pad3d"},
      [](ConversionCtx& c, const Node& n) { return pad_with(c, n, PadMode::kReplicate, 0.0); },
      pad_supported);
  add_converter(
      r, {"aten::_pad_circular"},
      [](ConversionCtx& c, const Node& n) { return pad_with(c, n, PadMode::kCircular, 0.0); },
      pad_supported);
  add_converter(r, {"aten::upsample_nearest1d",        "aten::upsample_nearest1d.vec",
                    "aten::upsample_nearest2d",        "aten::upsample_nearest2d.vec",
                    "aten::upsample_nearest3d",        "aten::upsample_nearest3d.vec",
                    "aten::_upsample_nearest_exact1d", "aten::_upsample_nearest_exact1d.vec",
                    "aten::_upsample_nearest_exact2d", "aten::_upsample_nearest_exact2d.vec",
                    "aten::_upsample_nearest_exact3d", "aten::_upsample_nearest_exact3d.vec",
                    "aten::upsample_linear1d",         "aten::upsample_linear1d.vec",
                    "aten::upsample_bilinear2d",       "aten::upsample_bilinear2d.vec",
                    "aten::upsample_trilinear3d",      "aten::upsample_trilinear3d.vec",
                    "aten::upsample_bicubic2d",        "aten::upsample_bicubic2d.vec"},
                upsample, upsample_supported);
}

}  // namespace kiln::bridge
