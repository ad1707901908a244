// _embedding_bag / _embedding_bag_forward_only(weight, indices, offsets, scale_grad_by_freq, mode,
// sparse, per_sample_weights?, include_last_offset, padding_idx) -> (output, offset2bag, bag_size,
// max_indices), composed from existing layers: the rows are gathered, each position's bag is the
// number of offsets at or before it minus one, and one scatter (add, or max) reduces rows into
// bags. Only `output` is produced: the node is refused when the other outputs are read.
#include <algorithm>
#include <limits>

#include "converters/families.h"

namespace kiln::bridge {
namespace {

using T = kiln::Tensor;

constexpr int64_t kModeSum = 0, kModeMean = 1, kModeMax = 2;

// First element(s) of a 1-D shape tensor as a 1-D tensor: shape(t)[begin:end].
Expected<T> shape_part(ConversionCtx& ctx, T t, int64_t begin, int64_t end) {
  auto s = ctx.net.add_shape(t);
  if (!s) return s.status();
  return ctx.net.add_slice(*s, SliceParams{{0}, {begin}, {end}, {1}});
}

Status embedding_bag(ConversionCtx& ctx, const Node& n) {
  auto w = ctx.tensor(n, 0);
  auto idx = ctx.tensor(n, 1);
  auto off = ctx.tensor(n, 2);
  if (!w || !idx || !off) return !w ? w.status() : (!idx ? idx.status() : off.status());
  auto mode = ctx.const_int(n, 4);
  auto last = ctx.const_bool(n, 7);
  if (!mode || !last) return ctx.error(n, "mode and include_last_offset must be constants");
  int64_t pad = -1;
  if (n.inputs.size() > 8 && !ctx.is_none(n, 8)) {
    auto p = ctx.const_int(n, 8);
    if (!p) return p.status();
    pad = *p;
  }
  auto psw = ctx.optional_tensor(n, 6);
  if (!psw) return psw.status();
  DataType dt = ctx.dtype(*w);
  auto ii = ctx.cast(*idx, DataType::kInt64);
  auto oi = ctx.cast(*off, DataType::kInt64);
  if (!ii || !oi) return !ii ? ii.status() : oi.status();
  T offsets = *oi;
  if (*last) {  // offsets hold B + 1 entries; the last one closes the last bag
    auto s = ctx.net.add_slice(offsets, SliceParams{{0}, {0}, {-1}, {1}});
    if (!s) return s.status();
    offsets = *s;
  }
  // bag of position p: #(offsets <= p) - 1
  auto npos = dim_extent(ctx, *ii, 0);
  if (!npos) return npos.status();
  auto pos = iota_of(ctx, *npos);
  auto pc = pos ? ctx.net.add_unsqueeze(*pos, {1}) : pos;
  auto oc = ctx.net.add_unsqueeze(offsets, {0});
  if (!pc || !oc) return !pc ? pc.status() : oc.status();
  auto ge = ctx.net.add_elementwise(*pc, *oc, BinaryOp::kGreaterEqual);
  if (!ge) return ge.status();
  auto gi = ctx.cast(*ge, DataType::kInt64);
  if (!gi) return gi.status();
  auto cnt = ctx.net.add_reduce(*gi, ReduceParams{ReduceOp::kSum, {1}, false, 1});
  auto one = ctx.scalar(1, DataType::kInt64);
  if (!cnt || !one) return !cnt ? cnt.status() : one.status();
  auto bag = ctx.net.add_elementwise(*cnt, *one, BinaryOp::kSub);  // [N]
  if (!bag) return bag.status();
  // offset2bag is the bag per position; bag_size and max_indices are never read (supports()
  // checks), so they hold the same placeholder.
  for (size_t i = 1; i < n.outputs.size(); ++i) ctx.set_output(n, i, *bag);
  auto rows = ctx.net.add_gather(*w, *ii, 0);  // [N, D]
  if (!rows) return rows.status();
  // valid[p]: not the padding index (as a [N, 1] float mask)
  T valid;
  if (pad >= 0) {
    auto pv = ctx.scalar(static_cast<double>(pad), DataType::kInt64);
    if (!pv) return pv.status();
    auto ne = ctx.net.add_elementwise(*ii, *pv, BinaryOp::kNotEqual);
    if (!ne) return ne.status();
    auto u = ctx.net.add_unsqueeze(*ne, {1});
    if (!u) return u.status();
    valid = *u;
  }
  T contrib = *rows;
  if (psw->valid()) {
    auto pu = ctx.net.add_unsqueeze(*psw, {1});
    if (!pu) return pu.status();
    auto pc2 = ctx.cast(*pu, dt);
    if (!pc2) return pc2.status();
    auto m = ctx.net.add_elementwise(contrib, *pc2, BinaryOp::kMul);
    if (!m) return m.status();
    contrib = *m;
  }
  const double fill = *mode == kModeMax ? -std::numeric_limits<double>::infinity() : 0.0;
  if (valid.valid()) {
    auto f = ctx.scalar(fill, dt);
    if (!f) return f.status();
    auto wv = ctx.net.add_where(valid, contrib, *f);
    if (!wv) return wv.status();
    contrib = *wv;
  }
  // output [B, D] initialized to `fill`, bags scattered in along dim 0
  auto b_dim = shape_part(ctx, offsets, 0, 1);
  auto d_dim = shape_part(ctx, *w, 1, 2);
  if (!b_dim || !d_dim) return !b_dim ? b_dim.status() : d_dim.status();
  auto out_shape = ctx.net.add_concat({*b_dim, *d_dim}, 0);
  if (!out_shape) return out_shape.status();
  auto init = ctx.net.add_fill_dynamic(*out_shape, fill, dt);
  if (!init) return init.status();
  auto bu = ctx.net.add_unsqueeze(*bag, {1});
  if (!bu) return bu.status();
  auto rs = ctx.net.add_shape(contrib);
  if (!rs) return rs.status();
  auto be = ctx.net.add_expand_dynamic(*bu, *rs);
  if (!be) return be.status();
  ScatterParams sp;
  sp.axis = 0;
  sp.reduce = *mode == kModeMax ? ScatterReduce::kMax : ScatterReduce::kAdd;
  auto acc = ctx.net.add_scatter(*init, *be, contrib, sp);
  if (!acc) return acc.status();
  if (*mode == kModeSum) return set_output_tensor(ctx, n, ctx.net.add_identity(*acc));
  // counts of valid entries per bag [B, 1]: mean divides by max(count, 1); max zeroes empty bags
  auto one_v = ctx.net.add_int_vector({1});
  if (!one_v) return one_v.status();
  auto ones_shape = ctx.net.add_concat({*b_dim, *one_v}, 0);
  if (!ones_shape) return ones_shape.status();
  auto zeros = ctx.net.add_fill_dynamic(*ones_shape, 0.0, dt);
  if (!zeros) return zeros.status();
  auto npos_shape = ctx.net.add_shape(*bu);
  if (!npos_shape) return npos_shape.status();
  T ones_v;
  if (valid.valid()) {
    auto c = ctx.cast(valid, dt);
    if (!c) return c.status();
    ones_v = *c;
  } else {
    auto o = ctx.net.add_fill_dynamic(*npos_shape, 1.0, dt);
    if (!o) return o.status();
    ones_v = *o;
  }
  ScatterParams cp;
  cp.axis = 0;
  cp.reduce = ScatterReduce::kAdd;
  auto counts = ctx.net.add_scatter(*zeros, *bu, ones_v, cp);
  if (!counts) return counts.status();
  auto zero = ctx.scalar(0.0, dt);
  if (!zero) return zero.status();
  if (*mode == kModeMean) {
    auto onef = ctx.scalar(1.0, dt);
    if (!onef) return onef.status();
    auto den = ctx.net.add_elementwise(*counts, *onef, BinaryOp::kMax);
    if (!den) return den.status();
    return set_output_tensor(ctx, n, ctx.net.add_elementwise(*acc, *den, BinaryOp::kDiv));
  }
  auto has = ctx.net.add_elementwise(*counts, *zero, BinaryOp::kGreater);
  if (!has) return has.status();
  return set_output_tensor(ctx, n, ctx.net.add_where(*has, *acc, *zero));
}

bool embedding_bag_supported(const OpGraph& g, const Node& n, std::string* why) {
  for (size_t i : {size_t{4}, size_t{7}}) {
    if (!g.is_constant(n.inputs[i])) {
      *why = "mode and include_last_offset must be constants";
      return false;
    }
  }
  const Value& idx = g.values[static_cast<size_t>(n.inputs[1])];
  if (idx.meta && idx.meta->min.size() != 1) {
    *why = "embedding_bag with indices of rank != 1";
    return false;
  }
  for (size_t i = 1; i < n.outputs.size(); ++i) {
    int v = n.outputs[i];
    bool used = std::find(g.outputs.begin(), g.outputs.end(), v) != g.outputs.end();
    for (const Node& m : g.nodes)
      used |= std::find(m.inputs.begin(), m.inputs.end(), v) != m.inputs.end();
    if (used) {
      *why = "embedding_bag's offset2bag / bag_size / max_indices outputs are read";
      return false;
    }
  }
  return true;
}

}  // namespace

void register_embedding_bag_converters(ConverterRegistry& r) {
  add_converter(r, {"aten::_embedding_bag", "aten::_embedding_bag_forward_only"}, embedding_bag,
                embedding_bag_supported);
}

}  // namespace kiln::bridge
