// Core ATen ops composed from existing layers: sort (a full top-k), diagonal (a gather on the
// flattened pair of dims), _cdist_forward / _pdist_forward (broadcast differences reduced over the
// feature dim), _native_batch_norm_legit.no_stats (batch statistics) and masked_scatter (a gather
// at the mask's running count). Each refuses at partition
// time what it cannot build (a dynamic extent where the composition needs a static one).
#include <algorithm>
#include <cmath>
#include <limits>

#include "converters/families.h"

namespace kiln::bridge {
namespace {

using T = kiln::Tensor;

const TensorMeta* meta_of(const OpGraph& g, const Node& n, size_t i) {
  const Value& v = g.values[static_cast<size_t>(n.inputs[i])];
  return v.meta ? &*v.meta : nullptr;
}

std::optional<int64_t> const_int_of(const OpGraph& g, const Node& n, size_t i) {
  const Value& v = g.values[static_cast<size_t>(n.inputs[i])];
  if (v.constant && v.constant->isInt()) return v.constant->toInt();
  return std::nullopt;
}

// Whether dim d (possibly negative) of input i has one extent over the whole profile.
bool static_dim(const OpGraph& g, const Node& n, size_t i, int64_t d, std::string* why,
                const char* what) {
  const TensorMeta* m = meta_of(g, n, i);
  if (!m) {
    *why = "input shape unknown";
    return false;
  }
  auto r = static_cast<int64_t>(m->min.size());
  if (r == 0) return true;
  int64_t k = d < 0 ? d + r : d;
  if (k < 0 || k >= r) {
    *why = "dim out of range";
    return false;
  }
  if (m->min[static_cast<size_t>(k)] != m->max[static_cast<size_t>(k)]) {
    *why = std::string(what) + " along a dynamic dim (its extent must be static)";
    return false;
  }
  return true;
}

// ---- sort(x, dim, descending) / sort.stable(x, *, stable, dim, descending) -> (values, indices)
size_t sort_dim_index(const Node& n) { return n.op == "aten::sort.stable" ? 2 : 1; }

Status sort(ConversionCtx& ctx, const Node& n) {
  auto x = ctx.tensor(n, 0);
  if (!x) return x.status();
  size_t di = sort_dim_index(n);
  auto d = ctx.const_int(n, di);
  auto desc = ctx.const_bool(n, di + 1);
  if (!d || !desc) return ctx.error(n, "sort's dim and descending must be constants");
  int r = ctx.rank(*x);
  if (r == 0) {
    auto zero = ctx.net.add_fill({}, 0, DataType::kInt64);
    auto s = set_output_tensor(ctx, n, ctx.net.add_identity(*x));
    if (!s.ok()) return s;
    return set_output_tensor(ctx, n, std::move(zero), 1);
  }
  int64_t axis = norm_dim(*d, r);
  int64_t k = ctx.dims(*x)[static_cast<int>(axis)];  // -1 (dynamic): topk of the whole axis
  auto t = ctx.net.add_topk(*x, TopKParams{k < 0 ? -1 : k, axis, *desc, true});
  if (!t) return ctx.error(n, t.status().message());
  ctx.set_output(n, 0, (*t)[0]);
  ctx.set_output(n, 1, (*t)[1]);
  return {};
}

bool sort_supported(const OpGraph& g, const Node& n, std::string* why) {
  size_t di = sort_dim_index(n);
  auto d = const_int_of(g, n, di);
  if (!d) {
    *why = "sort dim must be a constant";
    return false;
  }
  const TensorMeta* m = meta_of(g, n, 0);
  if (m && m->dtype == at::kBool) {
    *why = "sort of a bool tensor";
    return false;
  }
  return true;
}

// diagonal over dynamic dims: the same gather, with the length, stride and start computed from the
// run-time shape (len = max(0, min(rows + min(o, 0), cols - max(o, 0)))).
Status diagonal_dynamic(ConversionCtx& ctx, const Node& n, T x, const std::vector<int64_t>& perm,
                        int64_t a, int64_t b, int64_t o) {
  int r = ctx.rank(x);
  auto rows = dim_extent(ctx, x, a);
  auto cols = dim_extent(ctx, x, b);
  if (!rows || !cols) return !rows ? rows.status() : cols.status();
  auto as_t = [&](const ConversionCtx::Int& v) {
    return v.is_static ? ctx.scalar(static_cast<double>(v.value), DataType::kInt64)
                       : Expected<T>(v.tensor);
  };
  auto rt = as_t(*rows);
  auto ct = as_t(*cols);
  auto k = [&](int64_t v) { return ctx.scalar(static_cast<double>(v), DataType::kInt64); };
  auto lo = k(std::min<int64_t>(o, 0));
  auto hi = k(std::max<int64_t>(o, 0));
  auto zero = k(0);
  auto one = k(1);
  if (!rt || !ct || !lo || !hi || !zero || !one) return ctx.error(n, "diagonal: shape arithmetic");
  auto ra = ctx.net.add_elementwise(*rt, *lo, BinaryOp::kAdd);
  auto cb = ctx.net.add_elementwise(*ct, *hi, BinaryOp::kSub);
  if (!ra || !cb) return ctx.error(n, "diagonal: shape arithmetic");
  auto len = ctx.net.add_elementwise(*ra, *cb, BinaryOp::kMin);
  if (!len) return len.status();
  auto lc = ctx.net.add_elementwise(*len, *zero, BinaryOp::kMax);
  if (!lc) return lc.status();
  ConversionCtx::Int lv;
  lv.is_static = false;
  lv.tensor = *lc;
  auto i = iota_of(ctx, lv);
  if (!i) return i.status();
  auto step = ctx.net.add_elementwise(*ct, *one, BinaryOp::kAdd);
  if (!step) return step.status();
  auto scaled = ctx.net.add_elementwise(*i, *step, BinaryOp::kMul);
  if (!scaled) return scaled.status();
  Expected<T> start = o >= 0 ? k(o) : ctx.net.add_elementwise(*ct, *k(-o), BinaryOp::kMul);
  if (!start) return start.status();
  auto idx = ctx.net.add_elementwise(*scaled, *start, BinaryOp::kAdd);
  if (!idx) return idx.status();
  auto t = ctx.net.add_transpose(x, perm);
  if (!t) return t.status();
  auto f = ctx.net.add_flatten(*t, r - 2, -1);
  if (!f) return f.status();
  return set_output_tensor(ctx, n, ctx.net.add_gather(*f, *idx, r - 2));
}

// ---- diagonal(x, offset, dim1, dim2): dims dim1, dim2 moved last and flattened, then gathered at
// i * (m + 1) + start.
Status diagonal(ConversionCtx& ctx, const Node& n) {
  auto x = ctx.tensor(n, 0);
  if (!x) return x.status();
  auto off = ctx.const_int(n, 1);
  auto d1 = ctx.const_int(n, 2);
  auto d2 = ctx.const_int(n, 3);
  if (!off || !d1 || !d2) return ctx.error(n, "diagonal's offset and dims must be constants");
  int r = ctx.rank(*x);
  int64_t a = norm_dim(*d1, r), b = norm_dim(*d2, r);
  if (a == b) return ctx.error(n, "diagonal dims must differ");
  std::vector<int64_t> perm;
  for (int64_t i = 0; i < r; ++i)
    if (i != a && i != b) perm.push_back(i);
  perm.push_back(a);
  perm.push_back(b);
  Dims dims = ctx.dims(*x);
  int64_t rows = dims[static_cast<int>(a)], cols = dims[static_cast<int>(b)];
  int64_t o = *off;
  if (rows < 0 || cols < 0) return diagonal_dynamic(ctx, n, *x, perm, a, b, o);
  int64_t len = std::max<int64_t>(
      0, std::min(rows + std::min<int64_t>(o, 0), cols - std::max<int64_t>(o, 0)));
  int64_t start = o >= 0 ? o : -o * cols;
  std::vector<int64_t> idx;
  for (int64_t i = 0; i < len; ++i) idx.push_back(start + i * (cols + 1));
  auto t = ctx.net.add_transpose(*x, perm);
  if (!t) return t.status();
  auto f = ctx.net.add_flatten(*t, r - 2, -1);
  if (!f) return f.status();
  auto iv = ctx.net.add_int_vector(idx);
  if (!iv) return iv.status();
  return set_output_tensor(ctx, n, ctx.net.add_gather(*f, *iv, r - 2));
}

bool diagonal_supported(const OpGraph& g, const Node& n, std::string* why) {
  for (size_t i = 1; i < 4; ++i)
    if (!const_int_of(g, n, i)) {
      *why = "diagonal's offset and dims must be constants";
      return false;
    }
  const TensorMeta* m = meta_of(g, n, 0);
  if (m && m->min.size() < 2) {
    *why = "diagonal of a tensor of rank < 2";
    return false;
  }
  return true;  // dynamic dims: diagonal_dynamic
}

// ---- p-norm distance over the last dim of d (|d| reduced): p = 0, 1, 2, inf or any p > 0.
Expected<T> pnorm_last(ConversionCtx& ctx, T d, double p) {
  int r = ctx.rank(d);
  if (p == 2.0) {
    auto sq = ctx.net.add_elementwise(d, d, BinaryOp::kMul);
    if (!sq) return sq.status();
    auto s = ctx.net.add_reduce(*sq, ReduceParams{ReduceOp::kSum, {r - 1}, false, 1});
    if (!s) return s.status();
    return ctx.net.add_unary(*s, UnaryOp::kSqrt);
  }
  auto a = ctx.net.add_unary(d, UnaryOp::kAbs);
  if (!a) return a.status();
  if (std::isinf(p)) return ctx.net.add_reduce(*a, ReduceParams{ReduceOp::kMax, {r - 1}, false, 1});
  if (p == 0.0) {
    auto zero = ctx.scalar(0.0, ctx.dtype(d));
    if (!zero) return zero.status();
    auto nz = ctx.net.add_elementwise(*a, *zero, BinaryOp::kNotEqual);
    if (!nz) return nz.status();
    auto f = ctx.cast(*nz, ctx.dtype(d));
    if (!f) return f.status();
    return ctx.net.add_reduce(*f, ReduceParams{ReduceOp::kSum, {r - 1}, false, 1});
  }
  if (p == 1.0) return ctx.net.add_reduce(*a, ReduceParams{ReduceOp::kSum, {r - 1}, false, 1});
  auto pv = ctx.scalar(p, ctx.dtype(d));
  if (!pv) return pv.status();
  auto pw = ctx.net.add_elementwise(*a, *pv, BinaryOp::kPow);
  if (!pw) return pw.status();
  auto s = ctx.net.add_reduce(*pw, ReduceParams{ReduceOp::kSum, {r - 1}, false, 1});
  if (!s) return s.status();
  auto inv = ctx.scalar(1.0 / p, ctx.dtype(d));
  if (!inv) return inv.status();
  return ctx.net.add_elementwise(*s, *inv, BinaryOp::kPow);
}

// x1 [..., P, M], x2 [..., R, M] -> [..., P, R]
Expected<T> cdist_of(ConversionCtx& ctx, T x1, T x2, double p) {
  int r1 = ctx.rank(x1), r2 = ctx.rank(x2);
  auto a = ctx.net.add_unsqueeze(x1, {r1 - 1});  // [..., P, 1, M]
  if (!a) return a.status();
  auto b = ctx.net.add_unsqueeze(x2, {r2 - 2});  // [..., 1, R, M]
  if (!b) return b.status();
  auto d = ctx.net.add_elementwise(*a, *b, BinaryOp::kSub);
  if (!d) return d.status();
  return pnorm_last(ctx, *d, p);
}

Status cdist(ConversionCtx& ctx, const Node& n) {
  auto x1 = ctx.tensor(n, 0);
  auto x2 = ctx.tensor(n, 1);
  if (!x1 || !x2) return !x1 ? x1.status() : x2.status();
  auto p = ctx.const_double(n, 2);
  if (!p) return p.status();
  return set_output_tensor(ctx, n, cdist_of(ctx, *x1, *x2, *p));
}

// _pdist_forward(x [N, M], p) -> [N (N - 1) / 2]: the upper triangle of cdist(x, x), row-major.
Status pdist(ConversionCtx& ctx, const Node& n) {
  auto x = ctx.tensor(n, 0);
  if (!x) return x.status();
  auto p = ctx.const_double(n, 1);
  if (!p) return p.status();
  int64_t rows = ctx.dims(*x)[0];
  auto full = cdist_of(ctx, *x, *x, *p);
  if (!full) return full.status();
  auto flat = ctx.net.add_reshape(*full, {rows * rows});
  if (!flat) return flat.status();
  std::vector<int64_t> idx;
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = i + 1; j < rows; ++j) idx.push_back(i * rows + j);
  if (idx.empty()) return set_output_tensor(ctx, n, ctx.net.add_fill({0}, 0, ctx.dtype(*x)));
  auto iv = ctx.net.add_int_vector(idx);
  if (!iv) return iv.status();
  return set_output_tensor(ctx, n, ctx.net.add_gather(*flat, *iv, 0));
}

bool distance_supported(const OpGraph& g, const Node& n, std::string* why, size_t p_index) {
  const Value& p = g.values[static_cast<size_t>(n.inputs[p_index])];
  if (!p.constant || !(p.constant->isDouble() || p.constant->isInt())) {
    *why = "the norm order p must be a constant";
    return false;
  }
  if (p.constant->toScalar().toDouble() < 0) {
    *why = "negative norm order";
    return false;
  }
  const TensorMeta* m = meta_of(g, n, 0);
  if (m && !at::isFloatingType(m->dtype)) {
    *why = "distances of non-float tensors";
    return false;
  }
  return true;
}

// ---- _native_batch_norm_legit.no_stats(x, weight?, bias?, training, momentum, eps)
//      -> (out, mean [C], rstd [C]) with the batch's own statistics (biased variance).
Status batch_norm_no_stats(ConversionCtx& ctx, const Node& n) {
  auto x = ctx.tensor(n, 0);
  if (!x) return x.status();
  auto w = ctx.optional_tensor(n, 1);
  auto b = ctx.optional_tensor(n, 2);
  auto eps = ctx.const_double(n, 5);
  if (!w || !b || !eps) return !w ? w.status() : (!b ? b.status() : eps.status());
  int r = ctx.rank(*x);
  std::vector<int64_t> axes{0}, bshape;
  for (int64_t i = 2; i < r; ++i) axes.push_back(i);
  auto mean = ctx.net.add_reduce(*x, ReduceParams{ReduceOp::kMean, axes, true, 0});
  if (!mean) return mean.status();
  auto var = ctx.net.add_reduce(*x, ReduceParams{ReduceOp::kVar, axes, true, 0});
  if (!var) return var.status();
  auto e = ctx.scalar(*eps, ctx.dtype(*x));
  if (!e) return e.status();
  auto ve = ctx.net.add_elementwise(*var, *e, BinaryOp::kAdd);
  if (!ve) return ve.status();
  auto rstd = ctx.net.add_unary(*ve, UnaryOp::kRsqrt);
  if (!rstd) return rstd.status();
  auto c = ctx.net.add_elementwise(*x, *mean, BinaryOp::kSub);
  if (!c) return c.status();
  auto y = ctx.net.add_elementwise(*c, *rstd, BinaryOp::kMul);
  if (!y) return y.status();
  // weight / bias [C] broadcast as [C, 1, ...]
  auto per_channel = [&](T v) -> Expected<T> {
    std::vector<int64_t> ax;
    for (int64_t i = 1; i < r - 1; ++i) ax.push_back(i);
    return ax.empty() ? Expected<T>(v) : ctx.net.add_unsqueeze(v, ax);
  };
  T out = *y;
  if (w->valid()) {
    auto wc = per_channel(*w);
    if (!wc) return wc.status();
    auto m = ctx.net.add_elementwise(out, *wc, BinaryOp::kMul);
    if (!m) return m.status();
    out = *m;
  }
  if (b->valid()) {
    auto bc = per_channel(*b);
    if (!bc) return bc.status();
    auto a = ctx.net.add_elementwise(out, *bc, BinaryOp::kAdd);
    if (!a) return a.status();
    out = *a;
  }
  auto s = set_output_tensor(ctx, n, ctx.net.add_identity(out));
  if (!s.ok()) return s;
  if (n.outputs.size() > 1) {
    auto mf = ctx.net.add_flatten(*mean, 0, -1);
    if (!mf) return mf.status();
    s = set_output_tensor(ctx, n, ctx.net.add_identity(*mf), 1);
    if (!s.ok()) return s;
  }
  if (n.outputs.size() > 2) {
    auto rf = ctx.net.add_flatten(*rstd, 0, -1);
    if (!rf) return rf.status();
    s = set_output_tensor(ctx, n, ctx.net.add_identity(*rf), 2);
  }
  return s;
}

// ---- prims (what some decompositions leave): broadcast_in_dim, sum, div
// broadcast_in_dim(a, shape, broadcast_dimensions): a's dim i becomes output dim bd[i]; the others
// are new size-1 dims, then everything is expanded to `shape` (which may hold runtime ints).
Status broadcast_in_dim(ConversionCtx& ctx, const Node& n) {
  auto a = ctx.tensor(n, 0);
  if (!a) return a.status();
  auto shape = ctx.int_list(n, 1);
  auto bd = ctx.const_int_list(n, 2);
  if (!shape || !bd) return ctx.error(n, "broadcast_dimensions must be constants");
  auto out_rank =
      static_cast<int64_t>(shape->is_static ? shape->values.size() : ctx.dims(shape->tensor)[0]);
  std::vector<int64_t> fresh;
  for (int64_t i = 0; i < out_rank; ++i)
    if (std::find(bd->begin(), bd->end(), i) == bd->end()) fresh.push_back(i);
  kiln::Tensor t = *a;
  if (!fresh.empty()) {
    auto u = ctx.net.add_unsqueeze(t, fresh);
    if (!u) return u.status();
    t = *u;
  }
  if (shape->is_static) return set_output_tensor(ctx, n, ctx.net.add_expand(t, shape->values));
  return set_output_tensor(ctx, n, ctx.net.add_expand_dynamic(t, shape->tensor));
}

Status prims_sum(ConversionCtx& ctx, const Node& n) {
  auto x = ctx.tensor(n, 0);
  if (!x) return x.status();
  std::vector<int64_t> axes;
  if (!ctx.is_none(n, 1)) {
    auto d = ctx.const_int_list(n, 1);
    if (!d) return d.status();
    axes = *d;
  } else {
    for (int i = 0; i < ctx.rank(*x); ++i) axes.push_back(i);
  }
  if (axes.empty()) return set_output_tensor(ctx, n, ctx.net.add_identity(*x));
  auto s = ctx.net.add_reduce(*x, ReduceParams{ReduceOp::kSum, axes, false, 1});
  if (!s) return s.status();
  if (n.inputs.size() > 2) {
    auto dt = ctx.const_dtype(n, 2);
    if (dt && *dt) {
      auto k = to_kiln_dtype(**dt);
      if (!k) return ctx.error(n, "unsupported output dtype");
      return set_output_tensor(ctx, n, ctx.cast(*s, *k));
    }
  }
  return set_output_tensor(ctx, n, ctx.net.add_identity(*s));
}

// prims.div: true division for floats, truncation for integers (C semantics).
Status prims_div(ConversionCtx& ctx, const Node& n) {
  auto ab = ctx.promoted(n, 0, 1);
  if (!ab) return ab.status();
  BinaryOp op = is_floating(ctx.dtype(ab->first)) ? BinaryOp::kDiv : BinaryOp::kTruncDiv;
  return set_output_tensor(ctx, n, ctx.net.add_elementwise(ab->first, ab->second, op));
}

// masked_scatter(self, mask, source): the k-th true position of mask (row-major) takes source's
// k-th element. Index = inclusive cumsum of the mask - 1, gathered from the flattened source.
Status masked_scatter(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  KILN_ASSIGN_OR_RETURN(auto m, ctx.tensor(n, 1));
  KILN_ASSIGN_OR_RETURN(auto src, ctx.tensor(n, 2));
  KILN_ASSIGN_OR_RETURN(auto mb, ctx.cast(m, DataType::kBool));
  KILN_ASSIGN_OR_RETURN(auto shape, ctx.net.add_shape(x));
  if (ctx.dims(mb) != ctx.dims(x) || !ctx.dims(x).is_static()) {
    KILN_ASSIGN_OR_RETURN(auto e, ctx.net.add_expand_dynamic(mb, shape));
    mb = e;
  }
  KILN_ASSIGN_OR_RETURN(auto mflat, ctx.net.add_reshape(mb, {-1}));
  KILN_ASSIGN_OR_RETURN(auto mi, ctx.cast(mflat, DataType::kInt64));
  KILN_ASSIGN_OR_RETURN(auto cs, ctx.net.add_cumsum(mi, CumSumParams{0, false, false}));
  KILN_ASSIGN_OR_RETURN(auto one, ctx.scalar(1.0, DataType::kInt64));
  KILN_ASSIGN_OR_RETURN(auto zero, ctx.scalar(0.0, DataType::kInt64));
  KILN_ASSIGN_OR_RETURN(auto idx0, ctx.net.add_elementwise(cs, one, BinaryOp::kSub));
  KILN_ASSIGN_OR_RETURN(auto idx, ctx.net.add_elementwise(idx0, zero, BinaryOp::kMax));
  KILN_ASSIGN_OR_RETURN(auto sc, ctx.cast(src, ctx.dtype(x)));
  KILN_ASSIGN_OR_RETURN(auto sflat, ctx.net.add_reshape(sc, {-1}));
  KILN_ASSIGN_OR_RETURN(auto vals, ctx.net.add_gather(sflat, idx, 0));
  KILN_ASSIGN_OR_RETURN(auto shaped, ctx.net.add_reshape_dynamic(vals, shape));
  return set_output_tensor(ctx, n, ctx.net.add_where(mb, shaped, x));
}

bool masked_scatter_supported(const OpGraph& g, const Node& n, std::string* why) {
  const TensorMeta* x = meta_of(g, n, 0);
  const TensorMeta* m = meta_of(g, n, 1);
  const TensorMeta* s = meta_of(g, n, 2);
  if (!x || !m || !s) return true;  // the converter reports it
  // Only a mask that broadcasts to self (self is not broadcast to the mask).
  if (m->opt.size() > x->opt.size()) {
    *why = "masked_scatter whose mask has a higher rank than self";
    return false;
  }
  size_t off = x->opt.size() - m->opt.size();
  for (size_t i = 0; i < m->opt.size(); ++i) {
    if (m->max[i] != 1 && (m->min[i] != x->min[i + off] || m->max[i] != x->max[i + off])) {
      *why = "masked_scatter whose mask does not broadcast to self";
      return false;
    }
  }
  int64_t numel = 1;
  for (int64_t d : s->min) numel *= d;
  if (numel == 0) {
    *why = "masked_scatter from an empty source";
    return false;
  }
  return true;
}

}  // namespace

void register_composed_op_converters(ConverterRegistry& r) {
  add_converter(r, {"aten::sort", "aten::sort.stable"}, sort, sort_supported);
  add_converter(r, {"aten::diagonal"}, diagonal, diagonal_supported);
  add_converter(r, {"aten::_cdist_forward"}, cdist,
                [](const OpGraph& g, const Node& n, std::string* why) {
                  return distance_supported(g, n, why, 2);
                });
  add_converter(r, {"aten::_pdist_forward"}, pdist,
                [](const OpGraph& g, const Node& n, std::string* why) {
                  return distance_supported(g, n, why, 1) && static_dim(g, n, 0, 0, why, "pdist");
                });
  add_converter(r, {"prims::broadcast_in_dim"}, broadcast_in_dim);
  add_converter(r, {"prims::sum"}, prims_sum);
  add_converter(r, {"prims::div"}, prims_div);
  add_converter(r, {"aten::masked_scatter"}, masked_scatter, masked_scatter_supported);
  add_converter(r, {"aten::_native_batch_norm_legit.no_stats"}, batch_norm_no_stats,
                [](const OpGraph& g, const Node& n, std::string* why) {
                  const TensorMeta* m = meta_of(g, n, 0);
                  if (m && (m->min.size() < 2 || !at::isFloatingType(m->dtype))) {
                    *why = "batch norm needs a float input of rank >= 2";
                    return false;
                  }
                  return true;
                });
}

}  // namespace kiln::bridge
