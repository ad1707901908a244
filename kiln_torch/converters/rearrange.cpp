// Rearranging converters: slice_scatter, select_scatter, flip, roll, tril/triu, diff (all as
// strided copies, gathers and masks over the input).
#include <cstdint>

#include "converters/families.h"

namespace kiln::bridge {
namespace {

// ---- slice_scatter / select_scatter ----

/// `src` written into x along `axis` at positions start + k * step (k over src's extent on axis).
Expected<kiln::Tensor> scatter_strided(ConversionCtx& ctx, kiln::Tensor x, kiln::Tensor src,
                                       int64_t axis, int64_t start, int64_t step,
                                       kiln::Tensor runtime_start = {}) {
  KILN_ASSIGN_OR_RETURN(auto cnt, dim_extent(ctx, src, axis));
  KILN_ASSIGN_OR_RETURN(auto ar, iota_of(ctx, cnt));
  kiln::Tensor idx = ar;
  if (step != 1) {
    KILN_ASSIGN_OR_RETURN(auto st, ctx.scalar(static_cast<double>(step), DataType::kInt64));
    KILN_ASSIGN_OR_RETURN(auto m, ctx.net.add_elementwise(idx, st, BinaryOp::kMul));
    idx = m;
  }
  if (runtime_start.valid()) {
    KILN_ASSIGN_OR_RETURN(auto a, ctx.net.add_elementwise(idx, runtime_start, BinaryOp::kAdd));
    idx = a;
  } else if (start != 0) {
    KILN_ASSIGN_OR_RETURN(auto s0, ctx.scalar(static_cast<double>(start), DataType::kInt64));
    KILN_ASSIGN_OR_RETURN(auto a, ctx.net.add_elementwise(idx, s0, BinaryOp::kAdd));
    idx = a;
  }
  int r = ctx.rank(src);
  std::vector<int64_t> shape(static_cast<size_t>(r), 1);
  shape[static_cast<size_t>(axis)] = -1;
  KILN_ASSIGN_OR_RETURN(auto rs, ctx.net.add_reshape(idx, shape));
  Dims sd = ctx.dims(src);
  kiln::Tensor ex;
  if (sd.is_static()) {
    KILN_ASSIGN_OR_RETURN(ex, ctx.net.add_expand(rs, sd.to_vector()));
  } else {
    KILN_ASSIGN_OR_RETURN(auto s, ctx.net.add_shape(src));
    KILN_ASSIGN_OR_RETURN(ex, ctx.net.add_expand_dynamic(rs, s));
  }
  ScatterParams p;
  p.axis = axis;
  return ctx.net.add_scatter(x, ex, src, p);
}

/// max(0, start + extent of x on axis) as a run-time int64 scalar: a negative constant start on a
/// dynamic dim (torch wraps it).
Expected<kiln::Tensor> wrapped_start(ConversionCtx& ctx, kiln::Tensor x, int64_t axis,
                                     int64_t start) {
  KILN_ASSIGN_OR_RETURN(auto ext, dim_extent(ctx, x, axis));
  KILN_ASSIGN_OR_RETURN(auto et, ext.is_static
                                     ? ctx.scalar(static_cast<double>(ext.value), DataType::kInt64)
                                     : Expected<kiln::Tensor>(ext.tensor));
  KILN_ASSIGN_OR_RETURN(auto s, ctx.scalar(static_cast<double>(start), DataType::kInt64));
  KILN_ASSIGN_OR_RETURN(auto sum, ctx.net.add_elementwise(et, s, BinaryOp::kAdd));
  KILN_ASSIGN_OR_RETURN(auto zero, ctx.scalar(0.0, DataType::kInt64));
  return ctx.net.add_elementwise(sum, zero, BinaryOp::kMax);
}

// slice_scatter(self, src, dim, start?, end?, step)
Status slice_scatter(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  KILN_ASSIGN_OR_RETURN(auto src, ctx.tensor(n, 1));
  KILN_ASSIGN_OR_RETURN(auto d, ctx.const_int(n, 2));
  KILN_ASSIGN_OR_RETURN(auto step, ctx.const_int(n, 5));
  int64_t axis = norm_dim(d, ctx.rank(x));
  int64_t start = 0;
  kiln::Tensor runtime_start;
  if (!ctx.is_none(n, 3)) {
    KILN_ASSIGN_OR_RETURN(auto st, ctx.int_value(n, 3));
    start = st.value;
    if (!st.is_static) {
      // start + extent where it is negative (torch wraps it), then at least 0.
      KILN_ASSIGN_OR_RETURN(auto ext, dim_extent(ctx, x, axis));
      KILN_ASSIGN_OR_RETURN(
          auto et, ext.is_static ? ctx.scalar(static_cast<double>(ext.value), DataType::kInt64)
                                 : Expected<kiln::Tensor>(ext.tensor));
      KILN_ASSIGN_OR_RETURN(auto s64, ctx.cast(st.tensor, DataType::kInt64));
      KILN_ASSIGN_OR_RETURN(auto zero, ctx.scalar(0.0, DataType::kInt64));
      KILN_ASSIGN_OR_RETURN(auto neg, ctx.net.add_elementwise(s64, zero, BinaryOp::kLess));
      KILN_ASSIGN_OR_RETURN(auto wrapped, ctx.net.add_elementwise(s64, et, BinaryOp::kAdd));
      KILN_ASSIGN_OR_RETURN(auto pick, ctx.net.add_where(neg, wrapped, s64));
      KILN_ASSIGN_OR_RETURN(runtime_start, ctx.net.add_elementwise(pick, zero, BinaryOp::kMax));
    }
  }
  if (!runtime_start.valid() && start < 0) {
    int64_t ext = ctx.dims(x)[static_cast<int>(axis)];
    if (ext < 0) {  // a dynamic dim: start + extent at run time, then at least 0
      KILN_ASSIGN_OR_RETURN(auto w, wrapped_start(ctx, x, axis, start));
      runtime_start = w;
    } else {
      start = std::max<int64_t>(0, start + ext);
    }
  }
  KILN_ASSIGN_OR_RETURN(auto sc, ctx.cast(src, ctx.dtype(x)));
  if (runtime_start.valid())
    return set_output_tensor(ctx, n, scatter_strided(ctx, x, sc, axis, 0, step, runtime_start));
  if (step == 1 && start == 0 && ctx.dims(x).is_static() &&
      ctx.dims(x).to_vector() == ctx.dims(sc).to_vector())
    return set_output_tensor(ctx, n, ctx.net.add_identity(sc));
  return set_output_tensor(ctx, n, scatter_strided(ctx, x, sc, axis, start, step));
}

bool slice_scatter_supported(const OpGraph& g, const Node& n, std::string* why) {
  for (size_t i : {size_t{2}, size_t{5}}) {  // start may be a runtime int
    if (i < n.inputs.size() && !g.is_constant(n.inputs[i])) {
      *why = "slice_scatter dim/step are not constants";
      return false;
    }
  }
  return true;
}

// select_scatter(self, src, dim, index)
Status select_scatter(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  KILN_ASSIGN_OR_RETURN(auto src, ctx.tensor(n, 1));
  KILN_ASSIGN_OR_RETURN(auto d, ctx.const_int(n, 2));
  KILN_ASSIGN_OR_RETURN(auto i, ctx.const_int(n, 3));
  int64_t axis = norm_dim(d, ctx.rank(x));
  int64_t index = i;
  kiln::Tensor runtime_index;
  if (index < 0) {
    int64_t ext = ctx.dims(x)[static_cast<int>(axis)];
    if (ext < 0) {  // a dynamic dim: index + extent at run time
      KILN_ASSIGN_OR_RETURN(auto w, wrapped_start(ctx, x, axis, index));
      runtime_index = w;
      index = 0;
    } else {
      index += ext;
    }
  }
  KILN_ASSIGN_OR_RETURN(auto sc, ctx.cast(src, ctx.dtype(x)));
  KILN_ASSIGN_OR_RETURN(auto u, ctx.net.add_unsqueeze(sc, {axis}));
  return set_output_tensor(ctx, n, scatter_strided(ctx, x, u, axis, index, 1, runtime_index));
}

// ---- flip / roll / tril / triu ----

// flip(self, dims)
Status flip(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  KILN_ASSIGN_OR_RETURN(auto dims, ctx.const_int_list(n, 1));
  if (dims.empty() || ctx.rank(x) == 0) return set_output_tensor(ctx, n, ctx.net.add_identity(x));
  SliceParams p;
  for (int64_t d : dims) {
    p.axes.push_back(norm_dim(d, ctx.rank(x)));
    p.starts.push_back(INT64_MAX);
    p.ends.push_back(INT64_MIN);
    p.steps.push_back(-1);
  }
  return set_output_tensor(ctx, n, ctx.net.add_slice(x, p));
}

/// x rolled by `shift` along dim d.
Expected<kiln::Tensor> roll_dim(ConversionCtx& ctx, const Node& n, kiln::Tensor x, int64_t shift,
                                int64_t d) {
  KILN_ASSIGN_OR_RETURN(auto len, dim_extent(ctx, x, d));
  if (len.is_static) {
    int64_t m = len.value;
    if (m == 0) return x;
    int64_t s = ((shift % m) + m) % m;
    if (s == 0) return x;
    KILN_ASSIGN_OR_RETURN(auto tail, ctx.net.add_slice(x, SliceParams{{d}, {m - s}, {m}, {1}}));
    KILN_ASSIGN_OR_RETURN(auto head, ctx.net.add_slice(x, SliceParams{{d}, {0}, {m - s}, {1}}));
    return ctx.net.add_concat({tail, head}, d);
  }
  // out[i] = x[(i - shift) mod len]
  KILN_ASSIGN_OR_RETURN(auto ar, iota_of(ctx, len));
  KILN_ASSIGN_OR_RETURN(auto sh, ctx.scalar(static_cast<double>(shift), DataType::kInt64));
  KILN_ASSIGN_OR_RETURN(auto diff, ctx.net.add_elementwise(ar, sh, BinaryOp::kSub));
  KILN_ASSIGN_OR_RETURN(auto src, ctx.net.add_elementwise(diff, len.tensor, BinaryOp::kMod));
  (void)n;
  return ctx.net.add_gather(x, src, d);
}

// roll(self, shifts, dims)
Status roll(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  KILN_ASSIGN_OR_RETURN(auto shifts, ctx.const_int_list(n, 1));
  KILN_ASSIGN_OR_RETURN(auto dims, ctx.const_int_list(n, 2));
  if (dims.empty()) {
    // Roll the flattened tensor, then restore the shape.
    if (shifts.size() != 1) return ctx.error(n, "roll without dims takes one shift");
    KILN_ASSIGN_OR_RETURN(auto flat, ctx.net.add_reshape(x, {-1}));
    KILN_ASSIGN_OR_RETURN(auto r, roll_dim(ctx, n, flat, shifts[0], 0));
    Dims d = ctx.dims(x);
    if (d.is_static()) return set_output_tensor(ctx, n, ctx.net.add_reshape(r, d.to_vector()));
    KILN_ASSIGN_OR_RETURN(auto s, ctx.net.add_shape(x));
    return set_output_tensor(ctx, n, ctx.net.add_reshape_dynamic(r, s));
  }
  if (shifts.size() != dims.size()) return ctx.error(n, "shifts and dims differ in length");
  kiln::Tensor t = x;
  for (size_t i = 0; i < dims.size(); ++i) {
    KILN_ASSIGN_OR_RETURN(auto r, roll_dim(ctx, n, t, shifts[i], norm_dim(dims[i], ctx.rank(x))));
    t = r;
  }
  if (t == x) return set_output_tensor(ctx, n, ctx.net.add_identity(t));
  return set_output_tensor(ctx, n, t);
}

// tril / triu(self, diagonal): keep elements with col - row <= diagonal (tril) / >= diagonal
// (triu).
Status tri(ConversionCtx& ctx, const Node& n, bool lower) {
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  int64_t diag = 0;
  if (!ctx.is_none(n, 1)) {
    KILN_ASSIGN_OR_RETURN(diag, ctx.const_int(n, 1));
  }
  int r = ctx.rank(x);
  if (r < 2) return ctx.error(n, "input must have rank >= 2");
  KILN_ASSIGN_OR_RETURN(auto rows, dim_extent(ctx, x, r - 2));
  KILN_ASSIGN_OR_RETURN(auto cols, dim_extent(ctx, x, r - 1));
  KILN_ASSIGN_OR_RETURN(auto ri, iota_of(ctx, rows));
  KILN_ASSIGN_OR_RETURN(auto ci, iota_of(ctx, cols));
  KILN_ASSIGN_OR_RETURN(auto rc, ctx.net.add_unsqueeze(ri, {1}));
  // [rows, cols]
  KILN_ASSIGN_OR_RETURN(auto diff, ctx.net.add_elementwise(ci, rc, BinaryOp::kSub));
  KILN_ASSIGN_OR_RETURN(auto dg, ctx.scalar(static_cast<double>(diag), DataType::kInt64));
  KILN_ASSIGN_OR_RETURN(
      auto mask,
      ctx.net.add_elementwise(diff, dg, lower ? BinaryOp::kLessEqual : BinaryOp::kGreaterEqual));
  KILN_ASSIGN_OR_RETURN(auto zero, ctx.scalar(0.0, ctx.dtype(x)));
  return set_output_tensor(ctx, n, ctx.net.add_where(mask, x, zero));
}

// diff(self, n=1, dim=-1, prepend=None, append=None): x[1:] - x[:-1] along dim, n times, after
// prepend and append are concatenated (not-equal for bool, which is torch's logical xor).
Status diff(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  KILN_ASSIGN_OR_RETURN(auto order, ctx.const_int(n, 1));
  KILN_ASSIGN_OR_RETURN(auto dim, ctx.const_int(n, 2));
  const int r = ctx.rank(x);
  if (r == 0) return ctx.error(n, "diff needs a tensor of rank >= 1");
  if (order < 0) return ctx.error(n, "order must be non-negative, got " + std::to_string(order));
  const int64_t d = norm_dim(dim, r);
  std::vector<kiln::Tensor> parts;
  for (int i : {3, 0, 4}) {
    if (i != 0 && ctx.is_none(n, i)) continue;
    KILN_ASSIGN_OR_RETURN(auto t, ctx.tensor(n, i));
    if (ctx.rank(t) != r) return ctx.error(n, "prepend/append must have the input's rank");
    kiln::Tensor v = t;
    if (ctx.dtype(v) != ctx.dtype(x)) {
      KILN_ASSIGN_OR_RETURN(auto c, ctx.cast(v, ctx.dtype(x)));
      v = c;
    }
    parts.push_back(v);
  }
  kiln::Tensor t = parts[0];
  if (parts.size() > 1) {
    auto c = ctx.net.add_concat(parts, d);
    if (!c) return ctx.error(n, c.status().message());
    t = *c;
  }
  const BinaryOp op = ctx.dtype(x) == DataType::kBool ? BinaryOp::kNotEqual : BinaryOp::kSub;
  for (int64_t i = 0; i < order; ++i) {
    auto hi = ctx.net.add_slice(t, SliceParams{{d}, {1}, {INT64_MAX}, {1}});
    auto lo = ctx.net.add_slice(t, SliceParams{{d}, {0}, {-1}, {1}});
    if (!hi || !lo) return ctx.error(n, (!hi ? hi : lo).status().message());
    auto s = ctx.net.add_elementwise(*hi, *lo, op);
    if (!s) return ctx.error(n, s.status().message());
    t = *s;
  }
  if (t == x) return set_output_tensor(ctx, n, ctx.net.add_identity(t));
  return set_output_tensor(ctx, n, t);
}

}  // namespace

void register_rearrange_converters(ConverterRegistry& r) {
  add_converter(r, {"aten::diff"}, diff, [](const OpGraph& g, const Node& n, std::string* why) {
    if (g.is_constant(n.inputs[1]) && g.is_constant(n.inputs[2])) return true;
    *why = "diff n/dim are not constants";
    return false;
  });
  add_converter(r, {"aten::slice_scatter"}, slice_scatter, slice_scatter_supported);
  add_converter(r, {"aten::select_scatter"}, select_scatter,
                [](const OpGraph& g, const Node& n, std::string* why) {
                  if (g.is_constant(n.inputs[2]) && g.is_constant(n.inputs[3])) return true;
                  *why = "select_scatter dim/index are not constants";
                  return false;
                });
  add_converter(r, {"aten::flip"}, flip);
  add_converter(r, {"aten::roll"}, roll);
  add_converter(r, {"aten::tril"}, [](ConversionCtx& c, const Node& n) { return tri(c, n, true); });
  add_converter(r, {"aten::triu"},
                [](ConversionCtx& c, const Node& n) { return tri(c, n, false); });
}

}  // namespace kiln::bridge
