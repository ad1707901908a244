// Indexing: index_select, embedding, gather, scatter (src/value/reduce, scatter_add,
// scatter_reduce), kiln::kv_cache_write (kiln.llm's in-place KV cache), index.Tensor (integer
// indices on one dim or on adjacent dims), index_put (one integer index, or a full boolean mask
// with one value). masked_select has a data-dependent shape and stays in PyTorch. (slice_scatter,
// select_scatter, flip, roll, tril/triu: rearrange.cpp.)
#include <climits>
#include <cmath>
#include <limits>

#include "converters/families.h"

namespace kiln::bridge {
namespace {

Expected<kiln::Tensor> int_tensor(ConversionCtx& ctx, const ConversionCtx::Int& v) {
  if (v.is_static) return ctx.net.add_scalar(static_cast<double>(v.value), DataType::kInt64);
  return v.tensor;
}

/// A tensor shaped like `like` filled with `value` (dtype dt).
Expected<kiln::Tensor> fill_like(ConversionCtx& ctx, kiln::Tensor like, double value, DataType dt) {
  Dims d = ctx.dims(like);
  if (d.is_static()) return ctx.net.add_fill(d.to_vector(), value, dt);
  KILN_ASSIGN_OR_RETURN(auto s, ctx.net.add_shape(like));
  return ctx.net.add_fill_dynamic(s, value, dt);
}

bool is_index_dtype(at::ScalarType t) {
  return t == at::kLong || t == at::kInt || t == at::kShort || t == at::kChar || t == at::kByte;
}

// ---- gather-style ----

// index_select(self, dim, index)
Status index_select(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  KILN_ASSIGN_OR_RETURN(auto d, ctx.const_int(n, 1));
  KILN_ASSIGN_OR_RETURN(auto idx, ctx.tensor(n, 2));
  kiln::Tensor i = idx;
  if (ctx.rank(i) == 0) {
    KILN_ASSIGN_OR_RETURN(auto u, ctx.net.add_unsqueeze(i, {0}));
    i = u;
  }
  if (ctx.rank(x) == 0) return set_output_tensor(ctx, n, ctx.net.add_reshape(x, {}));
  return set_output_tensor(ctx, n, ctx.net.add_gather(x, i, norm_dim(d, ctx.rank(x))));
}

// embedding(weight, indices, padding_idx, scale_grad_by_freq, sparse): rows of weight.
Status embedding(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto w, ctx.tensor(n, 0));
  KILN_ASSIGN_OR_RETURN(auto idx, ctx.tensor(n, 1));
  return set_output_tensor(ctx, n, ctx.net.add_gather(w, idx, 0));
}

// gather(self, dim, index, sparse_grad)
Status gather(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  KILN_ASSIGN_OR_RETURN(auto d, ctx.const_int(n, 1));
  KILN_ASSIGN_OR_RETURN(auto idx, ctx.tensor(n, 2));
  return set_output_tensor(ctx, n, ctx.net.add_gather_elements(x, idx, norm_dim(d, ctx.rank(x))));
}

// ---- scatter ----

/// The updates of a scatter: tensor input i cast to dt, or a constant / runtime scalar broadcast to
/// the index's shape.
Expected<kiln::Tensor> scatter_updates(ConversionCtx& ctx, const Node& n, size_t i,
                                       kiln::Tensor index, DataType dt) {
  const Arg& a = ctx.arg(n, i);
  bool scalar = a.is_constant() && !a.ivalue().isTensor();
  if (scalar) {
    KILN_ASSIGN_OR_RETURN(auto v, ctx.const_double(n, i));
    return fill_like(ctx, index, v, dt);
  }
  KILN_ASSIGN_OR_RETURN(auto t, ctx.tensor(n, i));
  KILN_ASSIGN_OR_RETURN(auto c, ctx.cast(t, dt));
  if (ctx.rank(c) != 0 || ctx.rank(index) == 0) return c;
  // A runtime Scalar value: broadcast it to the index's shape.
  Dims d = ctx.dims(index);
  if (d.is_static()) return ctx.net.add_expand(c, d.to_vector());
  KILN_ASSIGN_OR_RETURN(auto s, ctx.net.add_shape(index));
  return ctx.net.add_expand_dynamic(c, s);
}

Expected<ScatterReduce> reduce_of(const std::string& r) {
  if (r == "add" || r == "sum") return ScatterReduce::kAdd;
  if (r == "multiply" || r == "prod") return ScatterReduce::kMul;
  if (r == "amax") return ScatterReduce::kMax;
  if (r == "amin") return ScatterReduce::kMin;
  return make_error(StatusCode::kUnsupported, "converters", "scatter reduce '" + r + "'");
}

// scatter.src / scatter.value (self, dim, index, src|value), scatter.reduce / value_reduce (+
// reduce), scatter_add (self, dim, index, src).
Status scatter(ConversionCtx& ctx, const Node& n, ScatterReduce fixed) {
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  KILN_ASSIGN_OR_RETURN(auto d, ctx.const_int(n, 1));
  KILN_ASSIGN_OR_RETURN(auto idx, ctx.tensor(n, 2));
  ScatterParams p;
  p.axis = norm_dim(d, std::max(ctx.rank(x), 1));
  p.reduce = fixed;
  if (n.op == "aten::scatter.reduce" || n.op == "aten::scatter.value_reduce") {
    const Arg& r = ctx.arg(n, 4);
    if (!(r.is_constant() && r.ivalue().isString()))
      return ctx.error(n, "reduce must be a constant string");
    auto red = reduce_of(r.ivalue().toStringRef());
    if (!red) return ctx.error(n, red.status().message());
    p.reduce = *red;
  }
  KILN_ASSIGN_OR_RETURN(auto upd, scatter_updates(ctx, n, 3, idx, ctx.dtype(x)));
  return set_output_tensor(ctx, n, ctx.net.add_scatter(x, idx, upd, p));
}

bool scatter_supported(const OpGraph& g, const Node& n, std::string* why) {
  if (n.op.find("reduce") == std::string::npos) return true;
  size_t ri = 4;
  if (ri >= n.inputs.size() || !g.is_constant(n.inputs[ri]) ||
      !g.values[static_cast<size_t>(n.inputs[ri])].constant->isString()) {
    *why = "reduce is not a constant string";
    return false;
  }
  std::string r = g.values[static_cast<size_t>(n.inputs[ri])].constant->toStringRef();
  bool two = n.op == "aten::scatter_reduce.two";
  if (two ? (r != "sum" && r != "prod" && r != "amax" && r != "amin" && r != "mean")
          : (r != "add" && r != "multiply")) {
    *why = "scatter reduce '" + r + "'";
    return false;
  }
  if (two && n.inputs.size() > 5 && !g.is_constant(n.inputs[5])) {
    *why = "include_self is not a constant";
    return false;
  }
  const Value& x = g.values[static_cast<size_t>(n.inputs[0])];
  if (x.meta && x.meta->dtype == at::kBool) {
    *why = "scatter reduce on bool";
    return false;
  }
  return true;
}

// scatter_reduce.two(self, dim, index, src, reduce, include_self)
Status scatter_reduce(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  KILN_ASSIGN_OR_RETURN(auto d, ctx.const_int(n, 1));
  KILN_ASSIGN_OR_RETURN(auto idx, ctx.tensor(n, 2));
  const Arg& ra = ctx.arg(n, 4);
  if (!(ra.is_constant() && ra.ivalue().isString()))
    return ctx.error(n, "reduce must be a constant string");
  std::string r = ra.ivalue().toStringRef();
  bool include_self = true;
  if (n.inputs.size() > 5) {
    KILN_ASSIGN_OR_RETURN(auto b, ctx.const_bool(n, 5));
    include_self = b;
  }
  DataType dt = ctx.dtype(x);
  KILN_ASSIGN_OR_RETURN(auto src, scatter_updates(ctx, n, 3, idx, dt));
  ScatterParams p;
  p.axis = norm_dim(d, std::max(ctx.rank(x), 1));
  bool mean = r == "mean";
  auto red = mean ? Expected<ScatterReduce>(ScatterReduce::kAdd) : reduce_of(r);
  if (!red) return ctx.error(n, red.status().message());
  kiln::Tensor base = x;
  if (!include_self) {
    // Positions written by the scatter start from the reduction's identity instead of self.
    double neutral = 0.0;
    if (*red == ScatterReduce::kMul) neutral = 1.0;
    if (*red == ScatterReduce::kMax || *red == ScatterReduce::kMin) {
      bool mx = *red == ScatterReduce::kMax;
      double inf = std::numeric_limits<double>::infinity();
      switch (dt) {
        case DataType::kInt64:
          neutral = mx ? -9223372036854775808.0 : 9223372036854774784.0;
          break;  // exact doubles
        case DataType::kInt32:
          neutral = mx ? INT32_MIN : INT32_MAX;
          break;
        case DataType::kInt8:
          neutral = mx ? INT8_MIN : INT8_MAX;
          break;
        case DataType::kUInt8:
          neutral = mx ? 0 : 255;
          break;
        default:
          neutral = mx ? -inf : inf;
          break;
      }
    }
    KILN_ASSIGN_OR_RETURN(auto fillv, fill_like(ctx, idx, neutral, dt));
    ScatterParams q = p;
    q.reduce = ScatterReduce::kNone;
    KILN_ASSIGN_OR_RETURN(auto b, ctx.net.add_scatter(x, idx, fillv, q));
    base = b;
  }
  p.reduce = *red;
  KILN_ASSIGN_OR_RETURN(auto sum, ctx.net.add_scatter(base, idx, src, p));
  if (!mean) return set_output_tensor(ctx, n, sum);
  // mean: divide by the number of contributions (self counts once when included), 1 where none.
  KILN_ASSIGN_OR_RETURN(auto start, fill_like(ctx, x, include_self ? 1.0 : 0.0, dt));
  KILN_ASSIGN_OR_RETURN(auto ones, fill_like(ctx, idx, 1.0, dt));
  KILN_ASSIGN_OR_RETURN(auto cnt, ctx.net.add_scatter(start, idx, ones, p));
  KILN_ASSIGN_OR_RETURN(auto zero, ctx.scalar(0.0, dt));
  KILN_ASSIGN_OR_RETURN(auto one, ctx.scalar(1.0, dt));
  KILN_ASSIGN_OR_RETURN(auto is0, ctx.net.add_elementwise(cnt, zero, BinaryOp::kEqual));
  KILN_ASSIGN_OR_RETURN(auto safe, ctx.net.add_where(is0, one, cnt));
  return set_output_tensor(
      ctx, n,
      ctx.net.add_elementwise(sum, safe, is_floating(dt) ? BinaryOp::kDiv : BinaryOp::kFloorDiv));
}

// ---- index.Tensor / index_put ----

/// The items of an optional-tensor list input (a list Arg or a constant list).
Expected<std::vector<Arg>> list_items(ConversionCtx& ctx, const Node& n, size_t i) {
  const Arg& a = ctx.arg(n, i);
  if (a.is_list()) return a.items();
  if (a.is_constant() && a.ivalue().isList()) {
    std::vector<Arg> out;
    for (const c10::IValue& e : a.ivalue().toListRef()) out.push_back(Arg::constant(e));
    return out;
  }
  return ctx.error(n, "indices must be a list");
}

/// Type facts of the index list's items at partition time: dtype and rank per item (nullopt: None).
struct IndexItem {
  bool none = true;
  at::ScalarType dtype = at::kLong;
  int64_t rank = -1;
};

bool index_items(const OpGraph& g, int list, std::vector<IndexItem>& out, std::string* why) {
  const Value& lv = g.values[static_cast<size_t>(list)];
  if (lv.constant) {
    if (!lv.constant->isList()) {
      *why = "indices are not a list";
      return false;
    }
    for (const c10::IValue& e : lv.constant->toListRef()) {
      IndexItem it;
      if (e.isTensor()) {
        it.none = false;
        it.dtype = e.toTensor().scalar_type();
        it.rank = e.toTensor().dim();
      }
      out.push_back(it);
    }
    return true;
  }
  if (lv.producer < 0 || g.nodes[static_cast<size_t>(lv.producer)].op != "prim::ListConstruct") {
    *why = "indices list is not built in the graph";
    return false;
  }
  for (int v : g.nodes[static_cast<size_t>(lv.producer)].inputs) {
    const Value& iv = g.values[static_cast<size_t>(v)];
    IndexItem it;
    if (iv.constant && iv.constant->isTensor()) {
      it.none = false;
      it.dtype = iv.constant->toTensor().scalar_type();
      it.rank = iv.constant->toTensor().dim();
    } else if (!(iv.constant && iv.constant->isNone()) && iv.kind != ValueKind::kNone) {
      it.none = false;
      if (!iv.meta) {
        *why = "index of unknown dtype";
        return false;
      }
      it.dtype = iv.meta->dtype;
      it.rank = static_cast<int64_t>(iv.meta->opt.size());
    }
    out.push_back(it);
  }
  return true;
}

/// The indexed dims [first, first + count) of a list of items, or false when not one adjacent run.
bool index_run(const std::vector<IndexItem>& items, size_t& first, size_t& count) {
  first = items.size();
  count = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    if (items[i].none) continue;
    if (count == 0)
      first = i;
    else if (i != first + count)
      return false;
    ++count;
  }
  return count > 0;
}

bool index_supported(const OpGraph& g, const Node& n, std::string* why) {
  std::vector<IndexItem> items;
  if (!index_items(g, n.inputs[1], items, why)) return false;
  size_t first = 0, count = 0;
  if (!index_run(items, first, count)) {
    // Non-adjacent index tensors: converted by moving the indexed dims to the front (torch puts the
    // broadcast index dims first in that case), so only "no index tensor at all" is refused.
    bool any = false;
    for (const IndexItem& it : items) any |= !it.none;
    if (!any) {
      *why = "advanced indexing without an index tensor";
      return false;
    }
  }
  for (const IndexItem& it : items) {
    if (it.none) continue;
    if (!is_index_dtype(it.dtype)) {
      *why = "boolean-mask indexing has a data-dependent shape";
      return false;
    }
  }
  const Value& x = g.values[static_cast<size_t>(n.inputs[0])];
  if (!x.meta) {
    *why = "shape of the indexed tensor is unknown";
    return false;
  }
  if (items.size() > x.meta->min.size()) {
    *why = "more indices than dims";
    return false;
  }
  return true;
}

/// linear_index for dims whose extents may be dynamic: strides and wrap-around extents come from
/// the shape at run time.
Expected<kiln::Tensor> linear_index_dynamic(ConversionCtx& ctx, kiln::Tensor x,
                                            const std::vector<Arg>& items, size_t first,
                                            size_t count) {
  kiln::Tensor acc, stride;  // stride invalid: 1
  for (size_t k = count; k-- > 0;) {
    const Arg& a = items[first + k];
    auto t = a.is_tensor() ? Expected<kiln::Tensor>(a.tensor())
                           : ctx.constant_tensor(a.ivalue().toTensor());
    if (!t) return t.status();
    auto ti = ctx.cast(*t, DataType::kInt64);
    if (!ti) return ti.status();
    auto ext = dim_extent(ctx, x, static_cast<int64_t>(first + k));
    if (!ext) return ext.status();
    auto ev = ext->is_static ? ctx.scalar(static_cast<double>(ext->value), DataType::kInt64)
                             : Expected<kiln::Tensor>(ext->tensor);
    if (!ev) return ev.status();
    auto term = ctx.net.add_elementwise(*ti, *ev, BinaryOp::kMod);
    if (!term) return term.status();
    if (stride.valid()) {
      term = ctx.net.add_elementwise(*term, stride, BinaryOp::kMul);
      if (!term) return term.status();
    }
    if (acc.valid()) {
      term = ctx.net.add_elementwise(acc, *term, BinaryOp::kAdd);
      if (!term) return term.status();
    }
    acc = *term;
    if (!stride.valid()) {
      stride = *ev;
    } else {
      auto s = ctx.net.add_elementwise(stride, *ev, BinaryOp::kMul);
      if (!s) return s.status();
      stride = *s;
    }
  }
  return acc;
}

/// Index tensors for dims [first, first + count) combined into one index into those dims flattened
/// (each wrapped into range first, as torch accepts negative indices).
Expected<kiln::Tensor> linear_index(ConversionCtx& ctx, const Node& n, kiln::Tensor x,
                                    const std::vector<Arg>& items, size_t first, size_t count) {
  Dims d = ctx.dims(x);
  kiln::Tensor acc;
  int64_t stride = 1;
  for (size_t k = count; k-- > 0;) {
    Arg a = items[first + k];
    kiln::Tensor t;
    if (a.is_tensor()) {
      t = a.tensor();
    } else {
      KILN_ASSIGN_OR_RETURN(auto c, ctx.constant_tensor(a.ivalue().toTensor()));
      t = c;
    }
    KILN_ASSIGN_OR_RETURN(auto ti, ctx.cast(t, DataType::kInt64));
    int64_t extent = d[static_cast<int>(first + k)];
    if (extent < 0) return ctx.error(n, "indexing several dynamic dims");
    KILN_ASSIGN_OR_RETURN(auto ext, ctx.scalar(static_cast<double>(extent), DataType::kInt64));
    KILN_ASSIGN_OR_RETURN(auto wrapped, ctx.net.add_elementwise(ti, ext, BinaryOp::kMod));
    kiln::Tensor term = wrapped;
    if (stride != 1) {
      KILN_ASSIGN_OR_RETURN(auto s, ctx.scalar(static_cast<double>(stride), DataType::kInt64));
      KILN_ASSIGN_OR_RETURN(auto m, ctx.net.add_elementwise(term, s, BinaryOp::kMul));
      term = m;
    }
    if (acc.valid()) {
      KILN_ASSIGN_OR_RETURN(auto sum, ctx.net.add_elementwise(acc, term, BinaryOp::kAdd));
      acc = sum;
    } else {
      acc = term;
    }
    stride *= extent;
  }
  return acc;
}

Expected<kiln::Tensor> item_tensor(ConversionCtx& ctx, const Arg& a) {
  if (a.is_tensor()) return a.tensor();
  return ctx.constant_tensor(a.ivalue().toTensor());
}

// index.Tensor(self, indices): x[:, ..., idx] and x[..., i0, i1, ...] on adjacent dims.
Status index(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  KILN_ASSIGN_OR_RETURN(auto items, list_items(ctx, n, 1));
  std::vector<IndexItem> kinds;
  for (const Arg& a : items) {
    IndexItem it;
    it.none = a.is_none() || a.empty();
    kinds.push_back(it);
  }
  size_t first = 0, count = 0;
  kiln::Tensor src = x;
  std::vector<Arg> moved;
  if (!index_run(kinds, first, count)) {
    // Non-adjacent index tensors: torch puts the broadcast index dims first, which is indexing
    // adjacent leading dims once the indexed dims are moved to the front.
    std::vector<int64_t> perm, rest;
    for (size_t i = 0; i < kinds.size(); ++i) {
      if (!kinds[i].none) {
        perm.push_back(static_cast<int64_t>(i));
        moved.push_back(items[i]);
      } else {
        rest.push_back(static_cast<int64_t>(i));
      }
    }
    if (perm.empty()) return ctx.error(n, "no index tensor");
    for (int64_t i = static_cast<int64_t>(kinds.size()); i < ctx.rank(x); ++i) rest.push_back(i);
    first = 0;
    count = perm.size();
    perm.insert(perm.end(), rest.begin(), rest.end());
    auto t = ctx.net.add_transpose(x, perm);
    if (!t) return t.status();
    src = *t;
    items = moved;
  }
  x = src;
  if (count > 1) {
    Dims d = ctx.dims(x);
    bool dynamic = false;
    for (size_t i = first; i < first + count; ++i) dynamic |= d[static_cast<int>(i)] < 0;
    if (dynamic) {
      auto lin = linear_index_dynamic(ctx, x, items, first, count);
      if (!lin) return lin.status();
      auto flat = ctx.net.add_flatten(x, static_cast<int64_t>(first),
                                      static_cast<int64_t>(first + count - 1));
      if (!flat) return flat.status();
      return set_output_tensor(ctx, n,
                               ctx.net.add_gather(*flat, *lin, static_cast<int64_t>(first)));
    }
  }
  if (count == 1) {
    KILN_ASSIGN_OR_RETURN(auto t, item_tensor(ctx, items[first]));
    return set_output_tensor(ctx, n, ctx.net.add_gather(x, t, static_cast<int64_t>(first)));
  }
  KILN_ASSIGN_OR_RETURN(auto lin, linear_index(ctx, n, x, items, first, count));
  KILN_ASSIGN_OR_RETURN(auto flat, ctx.net.add_flatten(x, static_cast<int64_t>(first),
                                                       static_cast<int64_t>(first + count - 1)));
  return set_output_tensor(ctx, n, ctx.net.add_gather(flat, lin, static_cast<int64_t>(first)));
}

// index_put with several integer index tensors: the indexed dims (moved to the front when not
// adjacent) are flattened into one, the index tensors combined into one linear index (broadcast and
// flattened to 1-D), the values broadcast to the selection and flattened the same way; then one
// scatter along that dim (adding for accumulate=True, duplicates summed as torch does), and the
// result reshaped (and permuted) back.
Status index_put_multi(ConversionCtx& ctx, const Node& n, kiln::Tensor x, std::vector<Arg> items,
                       kiln::Tensor values, bool accumulate) {
  int r = ctx.rank(x);
  std::vector<int64_t> perm, rest;
  std::vector<Arg> idx;
  for (size_t i = 0; i < items.size(); ++i) {
    if (items[i].is_none() || items[i].empty()) {
      rest.push_back(static_cast<int64_t>(i));
    } else {
      perm.push_back(static_cast<int64_t>(i));
      idx.push_back(items[i]);
    }
  }
  for (int64_t i = static_cast<int64_t>(items.size()); i < r; ++i) rest.push_back(i);
  bool adjacent = perm.back() - perm.front() + 1 == static_cast<int64_t>(perm.size());
  int64_t first = adjacent ? perm.front() : 0;
  auto count = static_cast<int64_t>(perm.size());
  kiln::Tensor src = x;
  std::vector<int64_t> order;
  if (!adjacent) {
    order = perm;
    order.insert(order.end(), rest.begin(), rest.end());
    auto t = ctx.net.add_transpose(x, order);
    if (!t) return t.status();
    src = *t;
  }
  // Broadcast the index tensors to one shape B, then the linear index into the flattened dims.
  std::vector<kiln::Tensor> its;
  for (const Arg& a : idx) {
    auto t = item_tensor(ctx, a);
    if (!t) return t.status();
    its.push_back(*t);
  }
  kiln::Tensor zero_sum;  // sum of (index * 0): a zero tensor of the broadcast shape B
  for (auto& t : its) {
    auto ti = ctx.cast(t, DataType::kInt64);
    if (!ti) return ti.status();
    t = *ti;
    auto z = ctx.scalar(0, DataType::kInt64);
    auto m = ctx.net.add_elementwise(t, *z, BinaryOp::kMul);
    if (!m) return m.status();
    if (zero_sum.valid()) {
      auto a = ctx.net.add_elementwise(zero_sum, *m, BinaryOp::kAdd);
      if (!a) return a.status();
      zero_sum = *a;
    } else {
      zero_sum = *m;
    }
  }
  std::vector<Arg> bcast(static_cast<size_t>(first), Arg::constant(c10::IValue()));
  for (auto& t : its) {
    auto b = ctx.net.add_elementwise(t, zero_sum, BinaryOp::kAdd);
    if (!b) return b.status();
    auto f = ctx.net.add_reshape(*b, {-1});
    if (!f) return f.status();
    bcast.push_back(Arg::tensor(*f));
  }
  auto lin =
      linear_index_dynamic(ctx, src, bcast, static_cast<size_t>(first), static_cast<size_t>(count));
  if (!lin) return lin.status();
  auto flat = ctx.net.add_flatten(src, first, first + count - 1);
  if (!flat) return flat.status();
  // Values: broadcast to pre + B + post, then flattened to pre + [N] + post.
  auto sx = ctx.net.add_shape(src);
  auto sb = ctx.net.add_shape(zero_sum);
  if (!sx || !sb) return !sx ? sx.status() : sb.status();
  std::vector<kiln::Tensor> sel_parts, flat_parts;
  if (first > 0) {
    auto s = ctx.net.add_slice(*sx, SliceParams{{0}, {0}, {first}, {1}});
    if (!s) return s.status();
    sel_parts.push_back(*s);
    flat_parts.push_back(*s);
  }
  sel_parts.push_back(*sb);
  auto nlin = ctx.net.add_shape(*lin);
  if (!nlin) return nlin.status();
  flat_parts.push_back(*nlin);
  if (first + count < r) {
    auto s = ctx.net.add_slice(*sx, SliceParams{{0}, {first + count}, {INT64_MAX}, {1}});
    if (!s) return s.status();
    sel_parts.push_back(*s);
    flat_parts.push_back(*s);
  }
  auto sel = ctx.net.add_concat(sel_parts, 0);
  auto fsel = ctx.net.add_concat(flat_parts, 0);
  if (!sel || !fsel) return !sel ? sel.status() : fsel.status();
  auto vc = ctx.cast(values, ctx.dtype(x));
  if (!vc) return vc.status();
  auto ve = ctx.net.add_expand_dynamic(*vc, *sel);
  if (!ve) return ve.status();
  auto vf = ctx.net.add_reshape_dynamic(*ve, *fsel);
  if (!vf) return vf.status();
  // Index [1, .., N, .., 1] expanded to the flattened selection.
  const int fr = ctx.rank(*flat);
  std::vector<int64_t> ishape(static_cast<size_t>(fr), 1);
  ishape[static_cast<size_t>(first)] = -1;
  auto ir = ctx.net.add_reshape(*lin, ishape);
  if (!ir) return ir.status();
  auto ie = ctx.net.add_expand_dynamic(*ir, *fsel);
  if (!ie) return ie.status();
  ScatterParams p;
  p.axis = first;
  p.reduce = accumulate ? ScatterReduce::kAdd : ScatterReduce::kNone;
  auto sc = ctx.net.add_scatter(*flat, *ie, *vf, p);
  if (!sc) return sc.status();
  auto back = ctx.net.add_reshape_dynamic(*sc, *sx);
  if (!back) return back.status();
  if (adjacent) return set_output_tensor(ctx, n, ctx.net.add_identity(*back));
  std::vector<int64_t> inverse(order.size());
  for (size_t i = 0; i < order.size(); ++i)
    inverse[static_cast<size_t>(order[i])] = static_cast<int64_t>(i);
  return set_output_tensor(ctx, n, ctx.net.add_transpose(*back, inverse));
}

// index_put(self, indices, values, accumulate): one integer index tensor on one dim (a scatter of
// whole slices), or one boolean mask over the leading dims with a single value (a where).
Status index_put(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  KILN_ASSIGN_OR_RETURN(auto items, list_items(ctx, n, 1));
  auto acc_or = ctx.const_bool(n, 3);
  if (!acc_or) return ctx.error(n, "accumulate must be a constant");
  bool acc = *acc_or;
  size_t k = items.size(), num_index = 0;
  for (size_t i = 0; i < items.size(); ++i)
    if (!(items[i].is_none() || items[i].empty())) {
      k = i;
      ++num_index;
    }
  if (k == items.size()) return ctx.error(n, "no index tensor");
  if (num_index > 1) {
    KILN_ASSIGN_OR_RETURN(auto v, ctx.tensor(n, 2));
    return index_put_multi(ctx, n, x, items, v, acc);
  }
  KILN_ASSIGN_OR_RETURN(auto idx, item_tensor(ctx, items[k]));
  DataType dt = ctx.dtype(x);
  KILN_ASSIGN_OR_RETURN(auto v, ctx.tensor(n, 2));
  KILN_ASSIGN_OR_RETURN(auto vc, ctx.cast(v, dt));
  int r = ctx.rank(x);
  if (ctx.dtype(idx) == DataType::kBool) {
    // x[mask] = value: the mask covers dims [0, rank(mask)); broadcast it over the trailing dims.
    kiln::Tensor m = idx;
    int mr = ctx.rank(m);
    if (mr < r) {
      std::vector<int64_t> axes;
      for (int i = mr; i < r; ++i) axes.push_back(i);
      KILN_ASSIGN_OR_RETURN(auto u, ctx.net.add_unsqueeze(m, axes));
      m = u;
    }
    kiln::Tensor val = vc;
    if (ctx.rank(val) != 0) {
      KILN_ASSIGN_OR_RETURN(auto s, ctx.net.add_reshape(val, {}));
      val = s;
    }
    if (acc) {
      KILN_ASSIGN_OR_RETURN(auto sum, ctx.net.add_elementwise(x, val, BinaryOp::kAdd));
      val = sum;
    }
    return set_output_tensor(ctx, n, ctx.net.add_where(m, val, x));
  }
  // Integer index on dim k: selection shape = x.shape[:k] + [L] + x.shape[k+1:] (1-D index).
  kiln::Tensor i1 = idx;
  if (ctx.rank(i1) == 0) {
    KILN_ASSIGN_OR_RETURN(auto u, ctx.net.add_unsqueeze(i1, {0}));
    i1 = u;
  }
  KILN_ASSIGN_OR_RETURN(auto ii, ctx.cast(i1, DataType::kInt64));
  // The selection's shape as a tensor: shape(x) with dim k replaced by len(index).
  KILN_ASSIGN_OR_RETURN(auto sx, ctx.net.add_shape(x));
  KILN_ASSIGN_OR_RETURN(auto si, ctx.net.add_shape(ii));
  std::vector<kiln::Tensor> parts;
  auto kk = static_cast<int64_t>(k);
  if (kk > 0) {
    KILN_ASSIGN_OR_RETURN(auto s, ctx.net.add_slice(sx, SliceParams{{0}, {0}, {kk}, {1}}));
    parts.push_back(s);
  }
  parts.push_back(si);
  if (kk + 1 < r) {
    KILN_ASSIGN_OR_RETURN(auto s,
                          ctx.net.add_slice(sx, SliceParams{{0}, {kk + 1}, {INT64_MAX}, {1}}));
    parts.push_back(s);
  }
  KILN_ASSIGN_OR_RETURN(auto sel, ctx.net.add_concat(parts, 0));
  // index reshaped to [1, .., L, .., 1] and broadcast; values broadcast to the selection.
  std::vector<int64_t> ishape(static_cast<size_t>(r), 1);
  ishape[k] = -1;
  KILN_ASSIGN_OR_RETURN(auto ir, ctx.net.add_reshape(ii, ishape));
  // wrap negative indices
  KILN_ASSIGN_OR_RETURN(auto len, dim_extent(ctx, x, kk));
  KILN_ASSIGN_OR_RETURN(auto lt, int_tensor(ctx, len));
  KILN_ASSIGN_OR_RETURN(auto wrapped, ctx.net.add_elementwise(ir, lt, BinaryOp::kMod));
  KILN_ASSIGN_OR_RETURN(auto ie, ctx.net.add_expand_dynamic(wrapped, sel));
  KILN_ASSIGN_OR_RETURN(auto ve, ctx.net.add_expand_dynamic(vc, sel));
  ScatterParams p;
  p.axis = kk;
  p.reduce = acc ? ScatterReduce::kAdd : ScatterReduce::kNone;
  return set_output_tensor(ctx, n, ctx.net.add_scatter(x, ie, ve, p));
}

bool index_put_supported(const OpGraph& g, const Node& n, std::string* why) {
  std::vector<IndexItem> items;
  if (!index_items(g, n.inputs[1], items, why)) return false;
  size_t first = 0, count = 0;
  bool run = index_run(items, first, count);
  if (!g.is_constant(n.inputs[3])) {
    *why = "accumulate is not a constant";
    return false;
  }
  if (!run || count != 1) {  // several index tensors: integer ones of any rank (index_put_multi)
    size_t num = 0;
    for (const IndexItem& it : items) {
      if (it.none) continue;
      ++num;
      if (!is_index_dtype(it.dtype)) {
        *why = "index_put with boolean masks beside other indices";
        return false;
      }
    }
    if (num == 0) {
      *why = "index_put without an index tensor";
      return false;
    }
    return true;
  }
  const IndexItem& it = items[first];
  const Value& vals = g.values[static_cast<size_t>(n.inputs[2])];
  if (it.dtype == at::kBool) {
    if (first != 0) {
      *why = "boolean mask after leading slices";
      return false;
    }
    bool scalar_value =
        vals.meta
            ? [&] {
                int64_t numel = 1;
                for (int64_t s : vals.meta->max) numel *= s;
                return numel == 1 && vals.meta->min == vals.meta->max;
              }()
            : vals.constant && vals.constant->isTensor() && vals.constant->toTensor().numel() == 1;
    if (!scalar_value) {
      *why = "boolean-mask index_put with more than one value";
      return false;
    }
    return true;
  }
  if (!is_index_dtype(it.dtype) || it.rank > 1) {
    *why = "index_put with a multi-dimensional index";
    return false;
  }
  return true;
}

// kiln::kv_cache_write(cache, positions, update, axis): the KV cache of kiln.llm's decoder graphs
// (python/kiln/llm). The cache is a graph input the engine writes in place (KvCacheWriteParams);
// the update is cast to the cache's dtype.
Status kv_cache_write(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto cache, ctx.tensor(n, 0));
  KILN_ASSIGN_OR_RETURN(auto pos, ctx.tensor(n, 1));
  KILN_ASSIGN_OR_RETURN(auto upd, ctx.tensor(n, 2));
  KILN_ASSIGN_OR_RETURN(auto axis, ctx.const_int(n, 3));
  KILN_ASSIGN_OR_RETURN(auto ct, ctx.net.tensor_type(cache));
  KILN_ASSIGN_OR_RETURN(auto u, ctx.cast(upd, ct.dtype));
  KvCacheWriteParams p;
  p.axis = norm_dim(axis, ctx.rank(cache));
  return set_output_tensor(ctx, n, ctx.net.add_kv_cache_write(cache, pos, u, p));
}

bool kv_cache_write_supported(const OpGraph& g, const Node& n, std::string* why) {
  const Value& cache = g.values[static_cast<size_t>(n.inputs[0])];
  if (cache.producer >= 0 || cache.constant) {
    *why = "the cache written in place must be an input of the graph";
    return false;
  }
  return true;
}

bool refuse_data_dependent(const OpGraph&, const Node&, std::string* why) {
  *why = "the output shape depends on the data";
  return false;
}

}  // namespace

void register_indexing_converters(ConverterRegistry& r) {
  add_converter(r, {"aten::index_select"}, index_select);
  add_converter(r, {"aten::embedding"}, embedding);
  add_converter(r, {"aten::gather"}, gather);
  add_converter(
      r, {"aten::scatter.src", "aten::scatter.value"},
      [](ConversionCtx& c, const Node& n) { return scatter(c, n, ScatterReduce::kNone); });
  add_converter(
      r, {"aten::scatter.reduce", "aten::scatter.value_reduce"},
      [](ConversionCtx& c, const Node& n) { return scatter(c, n, ScatterReduce::kNone); },
      scatter_supported);
  add_converter(r, {"aten::scatter_add"},
                [](ConversionCtx& c, const Node& n) { return scatter(c, n, ScatterReduce::kAdd); });
  add_converter(r, {"aten::scatter_reduce.two"}, scatter_reduce, scatter_supported);
  add_converter(
      r, {"aten::index.Tensor", "aten::index.Tensor_hacked_twin", "aten::_unsafe_index.Tensor"},
      index, index_supported);
  add_converter(r, {"aten::index_put", "aten::index_put.hacked_twin", "aten::_unsafe_index_put"},
                index_put, index_put_supported);
  add_converter(r, {"kiln::kv_cache_write"}, kv_cache_write, kv_cache_write_supported);
  add_converter(
      r, {"aten::masked_select"},
      [](ConversionCtx& c, const Node& n) { return c.error(n, "data-dependent output shape"); },
      refuse_data_dependent);
}

}  // namespace kiln::bridge
