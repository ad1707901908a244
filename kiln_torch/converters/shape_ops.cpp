// Shape manipulation: view/reshape, flatten/unflatten, squeeze/unsqueeze, permute/transpose,
// expand/repeat, cat/stack, split/chunk/unbind, slice/select/narrow.
#include <algorithm>
#include <climits>
#include <numeric>
#include <optional>

#include "converters/families.h"

namespace kiln::bridge {
namespace {

// view / reshape (x, shape): static target -> params; runtime ints -> a shape tensor.
Status reshape(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  KILN_ASSIGN_OR_RETURN(auto shape, ctx.int_list(n, 1));
  if (shape.is_static) return set_output_tensor(ctx, n, ctx.net.add_reshape(x, shape.values));
  return set_output_tensor(ctx, n, ctx.net.add_reshape_dynamic(x, shape.tensor));
}

// as_strided(x, size, stride, storage_offset) of x's storage (its contiguous elements; for a
// dynamically shaped x, checked in bounds at its smallest shape, which holds for every larger one).
// When the strides lay `size` out contiguously from offset 0 over all of x (dims of extent 1 may
// carry any stride) it is a reshape (decompositions emit it this way, e.g. convnext's keepdim mean
// -> permute); any other in-bounds strides and offset (overlapping or gapped windows) are a gather
// of x's elements at offset + sum(i_d * stride_d), a copy as torch's functional form is.
struct AsStrided {
  std::vector<int64_t> size, stride;
  int64_t offset = 0;
  int64_t in_numel = 1;  ///< static x: its element count; dynamic x: the smallest one
  bool dynamic_input = false;
  bool reshape = true;
};

std::optional<AsStrided> as_strided_args(const OpGraph& g, const Node& n, std::string* why) {
  auto fail = [&](const std::string& w) -> std::optional<AsStrided> {
    if (why) *why = w;
    return std::nullopt;
  };
  if (n.inputs.size() < 3 || !g.is_constant(n.inputs[1]) || !g.is_constant(n.inputs[2]))
    return fail("as_strided size and stride must be constants");
  const c10::IValue& size_iv = *input_value(g, n, 1).constant;
  const c10::IValue& stride_iv = *input_value(g, n, 2).constant;
  if (!size_iv.isIntList() || !stride_iv.isIntList())
    return fail("as_strided size and stride must be int lists");
  AsStrided a;
  a.size = size_iv.toIntVector();
  a.stride = stride_iv.toIntVector();
  if (a.size.size() != a.stride.size()) return fail("as_strided size and stride differ in length");
  if (n.inputs.size() > 3 && n.inputs[3] >= 0) {
    const auto& off = input_value(g, n, 3).constant;
    if (!off) return fail("as_strided storage offset must be a constant");
    if (!off->isNone()) {
      if (!off->isInt()) return fail("as_strided storage offset must be an int");
      a.offset = off->toInt();
    }
  }
  const auto& meta = input_value(g, n, 0).meta;
  if (!meta) return fail("as_strided of a tensor of unknown shape");
  a.dynamic_input = meta->dynamic();
  auto volume = [](const std::vector<int64_t>& dims) {
    int64_t v = 1;
    for (int64_t d : dims) v *= d;
    return v;
  };
  a.in_numel = std::min({volume(meta->min), volume(meta->opt), volume(meta->max)});
  int64_t expect = 1, numel = 1, last = a.offset;
  bool empty = false;
  for (size_t i = a.size.size(); i-- > 0;) {
    if (a.size[i] < 0 || a.stride[i] < 0) return fail("as_strided with a negative size or stride");
    if (a.size[i] != 1 && a.stride[i] != expect) a.reshape = false;
    expect *= a.size[i];
    numel *= a.size[i];
    empty |= a.size[i] == 0;
    if (a.size[i] > 0) last += (a.size[i] - 1) * a.stride[i];
  }
  a.reshape = a.reshape && !a.dynamic_input && a.offset == 0 && numel == a.in_numel;
  if (a.offset < 0 || (!empty && last >= a.in_numel))
    return fail("as_strided reads outside its input's elements");
  if (numel > (int64_t{1} << 24)) return fail("as_strided output too large for an index table");
  return a;
}

bool as_strided_supported(const OpGraph& g, const Node& n, std::string* why) {
  return as_strided_args(g, n, why).has_value();
}

Status as_strided(ConversionCtx& ctx, const Node& n) {
  std::string why;
  auto a = as_strided_args(ctx.graph, n, &why);
  if (!a) return ctx.error(n, why);
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  if (a->reshape) return set_output_tensor(ctx, n, ctx.net.add_reshape(x, a->size));
  // The flat index of every output element, row-major over `size`.
  int64_t numel = 1;
  for (int64_t d : a->size) numel *= d;
  std::vector<int64_t> idx(static_cast<size_t>(numel));
  std::vector<int64_t> pos(a->size.size(), 0);
  for (int64_t e = 0; e < numel; ++e) {
    int64_t off = a->offset;
    for (size_t d = 0; d < pos.size(); ++d) off += pos[d] * a->stride[d];
    idx[static_cast<size_t>(e)] = off;
    for (size_t d = pos.size(); d-- > 0;) {
      if (++pos[d] < a->size[d]) break;
      pos[d] = 0;
    }
  }
  KILN_ASSIGN_OR_RETURN(auto flat, ctx.net.add_reshape(x, {a->dynamic_input ? -1 : a->in_numel}));
  KILN_ASSIGN_OR_RETURN(auto it, ctx.net.add_int_vector(idx));
  KILN_ASSIGN_OR_RETURN(auto ix, ctx.net.add_reshape(it, a->size));
  return set_output_tensor(ctx, n, ctx.net.add_gather(flat, ix, 0));
}

Status view_as(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  KILN_ASSIGN_OR_RETURN(auto y, ctx.tensor(n, 1));
  Dims d = ctx.dims(y);
  if (d.is_static()) return set_output_tensor(ctx, n, ctx.net.add_reshape(x, d.to_vector()));
  KILN_ASSIGN_OR_RETURN(auto s, ctx.net.add_shape(y));
  return set_output_tensor(ctx, n, ctx.net.add_reshape_dynamic(x, s));
}

Status flatten(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  KILN_ASSIGN_OR_RETURN(auto a, ctx.const_int(n, 1));
  KILN_ASSIGN_OR_RETURN(auto b, ctx.const_int(n, 2));
  return set_output_tensor(ctx, n, ctx.net.add_flatten(x, a, b));
}

// unflatten(x, dim, sizes)
Status unflatten(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  KILN_ASSIGN_OR_RETURN(auto d, ctx.const_int(n, 1));
  KILN_ASSIGN_OR_RETURN(auto sizes, ctx.const_int_list(n, 2));
  Dims dims = ctx.dims(x);
  int64_t k = norm_dim(d, dims.rank());
  std::vector<int64_t> target;
  bool dynamic_other = false;
  for (int i = 0; i < dims.rank(); ++i) {
    if (i == k) {
      target.insert(target.end(), sizes.begin(), sizes.end());
    } else {
      dynamic_other |= dims[i] < 0;
      target.push_back(dims[i] < 0 ? -1 : dims[i]);
    }
  }
  int unknown = 0;
  for (int64_t t : target) unknown += t == -1;
  if (!dynamic_other && unknown <= 1)
    return set_output_tensor(ctx, n, ctx.net.add_reshape(x, target));
  // Build the target from shape(x) so runtime dims stay exact.
  KILN_ASSIGN_OR_RETURN(auto shp, ctx.net.add_shape(x));
  std::vector<kiln::Tensor> parts;
  if (k > 0) {
    KILN_ASSIGN_OR_RETURN(auto s, ctx.net.add_slice(shp, SliceParams{{0}, {0}, {k}, {1}}));
    parts.push_back(s);
  }
  KILN_ASSIGN_OR_RETURN(auto mid, ctx.net.add_int_vector(sizes));
  parts.push_back(mid);
  if (k + 1 < dims.rank()) {
    KILN_ASSIGN_OR_RETURN(auto s,
                          ctx.net.add_slice(shp, SliceParams{{0}, {k + 1}, {INT64_MAX}, {1}}));
    parts.push_back(s);
  }
  KILN_ASSIGN_OR_RETURN(auto cat, ctx.net.add_concat(parts, 0));
  return set_output_tensor(ctx, n, ctx.net.add_reshape_dynamic(x, cat));
}

Status squeeze(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  Dims d = ctx.dims(x);
  std::vector<int64_t> axes;
  if (n.inputs.size() > 1) {
    KILN_ASSIGN_OR_RETURN(auto a, ctx.const_int_list(n, 1));
    for (int64_t v : a) {
      int64_t k = norm_dim(v, d.rank());
      if (d.rank() == 0) continue;
      if (d[static_cast<int>(k)] == 1)
        axes.push_back(k);  // torch: squeezing a non-1 dim is a no-op
    }
    if (axes.empty()) return set_output_tensor(ctx, n, ctx.net.add_identity(x));
  } else {
    for (int i = 0; i < d.rank(); ++i)
      if (d[i] == 1) axes.push_back(i);
  }
  return set_output_tensor(ctx, n, ctx.net.add_squeeze(x, axes));
}

Status unsqueeze(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  KILN_ASSIGN_OR_RETURN(auto d, ctx.const_int(n, 1));
  return set_output_tensor(ctx, n, ctx.net.add_unsqueeze(x, {norm_dim(d, ctx.rank(x) + 1)}));
}

Status permute(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  KILN_ASSIGN_OR_RETURN(auto p, ctx.const_int_list(n, 1));
  std::vector<int64_t> perm;
  for (int64_t v : p) perm.push_back(norm_dim(v, ctx.rank(x)));
  return set_output_tensor(ctx, n, ctx.net.add_transpose(x, perm));
}

Status transpose(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  KILN_ASSIGN_OR_RETURN(auto a, ctx.const_int(n, 1));
  KILN_ASSIGN_OR_RETURN(auto b, ctx.const_int(n, 2));
  int r = ctx.rank(x);
  if (r == 0) return set_output_tensor(ctx, n, ctx.net.add_identity(x));
  std::vector<int64_t> perm(static_cast<size_t>(r));
  for (int i = 0; i < r; ++i) perm[static_cast<size_t>(i)] = i;
  std::swap(perm[static_cast<size_t>(norm_dim(a, r))], perm[static_cast<size_t>(norm_dim(b, r))]);
  return set_output_tensor(ctx, n, ctx.net.add_transpose(x, perm));
}

// expand(x, size, implicit)
Status expand(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  KILN_ASSIGN_OR_RETURN(auto shape, ctx.int_list(n, 1));
  if (shape.is_static) return set_output_tensor(ctx, n, ctx.net.add_expand(x, shape.values));
  // -1 entries keep the input's extent: replace them by shape(x) entries.
  KILN_ASSIGN_OR_RETURN(auto shp, ctx.net.add_shape(x));
  auto tgt = shape.tensor;
  int out_rank = ctx.dims(tgt)[0] < 0 ? 0 : static_cast<int>(ctx.dims(tgt)[0]);
  int lead = out_rank - ctx.rank(x);
  if (lead < 0) return ctx.error(n, "expand to a smaller rank");
  kiln::Tensor full = shp;
  if (lead > 0) {
    KILN_ASSIGN_OR_RETURN(
        auto ones, ctx.net.add_int_vector(std::vector<int64_t>(static_cast<size_t>(lead), 1)));
    KILN_ASSIGN_OR_RETURN(auto c, ctx.net.add_concat({ones, shp}, 0));
    full = c;
  }
  KILN_ASSIGN_OR_RETURN(auto minus1, ctx.net.add_scalar(-1, DataType::kInt64));
  KILN_ASSIGN_OR_RETURN(auto keep, ctx.net.add_elementwise(tgt, minus1, BinaryOp::kEqual));
  KILN_ASSIGN_OR_RETURN(auto merged, ctx.net.add_where(keep, full, tgt));
  return set_output_tensor(ctx, n, ctx.net.add_expand_dynamic(x, merged));
}

Status expand_as(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  KILN_ASSIGN_OR_RETURN(auto y, ctx.tensor(n, 1));
  Dims d = ctx.dims(y);
  if (d.is_static()) return set_output_tensor(ctx, n, ctx.net.add_expand(x, d.to_vector()));
  KILN_ASSIGN_OR_RETURN(auto s, ctx.net.add_shape(y));
  return set_output_tensor(ctx, n, ctx.net.add_expand_dynamic(x, s));
}

// repeat(x, repeats): tile by reshape -> expand -> reshape (static shapes).
// x repeated reps[i] times along each axis i (reps left-padded to x's rank: torch's repeat needs
// at least as many repeats as dims). One axis at a time, x [.., s, ..] -> unsqueeze [.., 1, s, ..]
// -> expand [.., rep, s, ..] -> reshape [.., rep * s, ..], so no intermediate exceeds rank + 1 and
// dynamic dims go through shape tensors.
Status repeat_by(ConversionCtx& ctx, const Node& n, kiln::Tensor x,
                 const std::vector<int64_t>& reps) {
  int in_rank = ctx.rank(x);
  if (reps.size() < static_cast<size_t>(in_rank)) return ctx.error(n, "fewer repeats than dims");
  std::vector<int64_t> lead;
  for (size_t i = static_cast<size_t>(in_rank); i < reps.size(); ++i) lead.push_back(0);
  kiln::Tensor t = x;
  if (!lead.empty()) {
    std::iota(lead.begin(), lead.end(), 0);
    auto u = ctx.net.add_unsqueeze(x, lead);
    if (!u) return u.status();
    t = *u;
  }
  const auto r = static_cast<int64_t>(reps.size());
  for (int64_t i = 0; i < r; ++i) {
    int64_t rep = reps[static_cast<size_t>(i)];
    if (rep == 1) continue;
    Dims d = ctx.dims(t);
    auto u = ctx.net.add_unsqueeze(t, {i});
    if (!u) return u.status();
    std::vector<int64_t> grow(static_cast<size_t>(r + 1), 1), merge(static_cast<size_t>(r), 1);
    grow[static_cast<size_t>(i)] = rep;
    merge[static_cast<size_t>(i)] = rep;
    if (d.is_static()) {
      std::vector<int64_t> big = ctx.dims(*u).to_vector(), fin = d.to_vector();
      big[static_cast<size_t>(i)] = rep;
      fin[static_cast<size_t>(i)] *= rep;
      auto e = ctx.net.add_expand(*u, big);
      if (!e) return e.status();
      auto m = ctx.net.add_reshape(*e, fin);
      if (!m) return m.status();
      t = *m;
      continue;
    }
    auto us = ctx.net.add_shape(*u);
    auto ts = ctx.net.add_shape(t);
    auto gv = ctx.net.add_int_vector(grow);
    auto mv = ctx.net.add_int_vector(merge);
    if (!us || !ts || !gv || !mv) return ctx.error(n, "repeat: shape arithmetic failed");
    auto big = ctx.net.add_elementwise(*us, *gv, BinaryOp::kMul);
    auto fin = ctx.net.add_elementwise(*ts, *mv, BinaryOp::kMul);
    if (!big || !fin) return !big ? big.status() : fin.status();
    auto e = ctx.net.add_expand_dynamic(*u, *big);
    if (!e) return e.status();
    auto m = ctx.net.add_reshape_dynamic(*e, *fin);
    if (!m) return m.status();
    t = *m;
  }
  return set_output_tensor(ctx, n, ctx.net.add_identity(t));
}

Status repeat(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  KILN_ASSIGN_OR_RETURN(auto reps, ctx.const_int_list(n, 1));
  return repeat_by(ctx, n, x, reps);
}

// tile(x, dims): repeat with the dims left-padded by 1s to the input's rank.
Status tile(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  KILN_ASSIGN_OR_RETURN(auto reps, ctx.const_int_list(n, 1));
  std::vector<int64_t> r = reps;
  while (r.size() < static_cast<size_t>(ctx.rank(x))) r.insert(r.begin(), 1);
  return repeat_by(ctx, n, x, r);
}

/// Marks a target entry that copies dim k of the reference tensor (static or runtime).
constexpr int64_t dim_of(int64_t k) { return -(k + 2); }

/// Reshapes x to `target`: sizes >= 0, one -1 (inferred), or dim_of(k) entries taken from `ref`.
Expected<kiln::Tensor> reshape_to(ConversionCtx& ctx, kiln::Tensor x, kiln::Tensor ref,
                                  const std::vector<int64_t>& target) {
  Dims rd = ctx.dims(ref);
  std::vector<int64_t> resolved;
  bool dynamic = false;
  for (int64_t t : target) {
    if (t <= -2) {
      int64_t v = rd[static_cast<int>(-t - 2)];
      dynamic |= v < 0;
      resolved.push_back(v < 0 ? t : v);
    } else {
      resolved.push_back(t);
    }
  }
  if (!dynamic) return ctx.net.add_reshape(x, resolved);
  KILN_ASSIGN_OR_RETURN(auto shp, ctx.net.add_shape(ref));
  std::vector<kiln::Tensor> parts;
  std::vector<int64_t> run;
  auto flush = [&]() -> Status {
    if (run.empty()) return {};
    KILN_ASSIGN_OR_RETURN(auto v, ctx.net.add_int_vector(run));
    parts.push_back(v);
    run.clear();
    return {};
  };
  for (int64_t t : resolved) {
    if (t > -2) {
      run.push_back(t);
      continue;
    }
    KILN_RETURN_IF_ERROR(flush());
    int64_t k = -t - 2;
    KILN_ASSIGN_OR_RETURN(auto s, ctx.net.add_slice(shp, SliceParams{{0}, {k}, {k + 1}, {1}}));
    parts.push_back(s);
  }
  KILN_RETURN_IF_ERROR(flush());
  KILN_ASSIGN_OR_RETURN(auto cat, parts.size() == 1 ? Expected<kiln::Tensor>(parts[0])
                                                    : ctx.net.add_concat(parts, 0));
  return ctx.net.add_reshape_dynamic(x, cat);
}

// channel_shuffle(x, groups): [N, C, *] -> [N, g, C/g, *] -> swap 1, 2 -> [N, C, *].
Status channel_shuffle(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  KILN_ASSIGN_OR_RETURN(auto g, ctx.const_int(n, 1));
  Dims d = ctx.dims(x);
  int r = d.rank();
  if (r < 3 || d[1] < 0 || g <= 0 || d[1] % g != 0)
    return ctx.error(n, "channels must be static and divisible by groups");
  std::vector<int64_t> split{dim_of(0), g, d[1] / g}, back{dim_of(0), d[1]};
  for (int i = 2; i < r; ++i) {
    split.push_back(dim_of(i));
    back.push_back(dim_of(i));
  }
  KILN_ASSIGN_OR_RETURN(auto a, reshape_to(ctx, x, x, split));
  std::vector<int64_t> perm;
  for (int i = 0; i <= r; ++i) perm.push_back(i);
  std::swap(perm[1], perm[2]);
  KILN_ASSIGN_OR_RETURN(auto t, ctx.net.add_transpose(a, perm));
  return set_output_tensor(ctx, n, reshape_to(ctx, t, x, back));
}

// pixel_shuffle(x, r): [*, C r^2, H, W] -> [*, C, H r, W r]; pixel_unshuffle is the inverse.
Status pixel_shuffle(ConversionCtx& ctx, const Node& n, bool unshuffle) {
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  KILN_ASSIGN_OR_RETURN(auto f, ctx.const_int(n, 1));
  Dims d = ctx.dims(x);
  int rk = d.rank();
  int64_t r = f;
  if (rk < 3 || d[rk - 3] < 0 || d[rk - 2] < 0 || d[rk - 1] < 0 || r <= 0)
    return ctx.error(n, "channel and spatial dims must be static");
  int64_t c = d[rk - 3], h = d[rk - 2], w = d[rk - 1];
  int b = rk - 3;
  std::vector<int64_t> split, fin;
  for (int i = 0; i < b; ++i) {
    split.push_back(dim_of(i));
    fin.push_back(dim_of(i));
  }
  std::vector<int64_t> perm;
  for (int i = 0; i < b; ++i) perm.push_back(i);
  if (!unshuffle) {
    if (c % (r * r) != 0) return ctx.error(n, "channels not divisible by the factor squared");
    int64_t oc = c / (r * r);
    for (int64_t v : {oc, r, r, h, w}) split.push_back(v);
    for (int64_t p : {0, 3, 1, 4, 2}) perm.push_back(b + p);
    for (int64_t v : {oc, h * r, w * r}) fin.push_back(v);
  } else {
    if (h % r != 0 || w % r != 0) return ctx.error(n, "spatial dims not divisible by the factor");
    for (int64_t v : {c, h / r, r, w / r, r}) split.push_back(v);
    for (int64_t p : {0, 2, 4, 1, 3}) perm.push_back(b + p);
    for (int64_t v : {c * r * r, h / r, w / r}) fin.push_back(v);
  }
  KILN_ASSIGN_OR_RETURN(auto a, reshape_to(ctx, x, x, split));
  KILN_ASSIGN_OR_RETURN(auto t, ctx.net.add_transpose(a, perm));
  return set_output_tensor(ctx, n, reshape_to(ctx, t, x, fin));
}

bool last_dims_static(const OpGraph& g, const Node& n, std::string* why, int count) {
  const Value& v = g.values[static_cast<size_t>(n.inputs[0])];
  if (!v.meta || static_cast<int>(v.meta->min.size()) < count) {
    *why = "input shape unknown";
    return false;
  }
  size_t r = v.meta->min.size();
  for (size_t i = r - static_cast<size_t>(count); i < r; ++i) {
    if (v.meta->min[i] != v.meta->max[i]) {
      *why = "needs static channel/spatial dims";
      return false;
    }
  }
  return true;
}

// movedim(x, source, destination): as torch.movedim.
Status movedim(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  KILN_ASSIGN_OR_RETURN(auto src, ctx.const_int_list(n, 1));
  KILN_ASSIGN_OR_RETURN(auto dst, ctx.const_int_list(n, 2));
  if (src.size() != dst.size())
    return ctx.error(n, "source has " + std::to_string(src.size()) + " dims, destination " +
                            std::to_string(dst.size()));
  int r = ctx.rank(x);
  std::vector<int64_t> perm(static_cast<size_t>(r), -1);
  std::vector<bool> used_src(static_cast<size_t>(r), false);
  for (size_t i = 0; i < src.size(); ++i) {
    int64_t s = norm_dim(src[i], r), t = norm_dim(dst[i], r);
    perm[static_cast<size_t>(t)] = s;
    used_src[static_cast<size_t>(s)] = true;
  }
  size_t next = 0;
  for (size_t i = 0; i < perm.size(); ++i) {
    if (perm[i] >= 0) continue;
    while (used_src[next]) ++next;
    perm[i] = static_cast<int64_t>(next++);
  }
  return set_output_tensor(ctx, n, ctx.net.add_transpose(x, perm));
}

Expected<std::vector<kiln::Tensor>> tensor_list(ConversionCtx& ctx, const Node& n, size_t i) {
  const Arg& a = ctx.arg(n, i);
  std::vector<kiln::Tensor> out;
  if (!a.is_list()) return ctx.error(n, "expected a list of tensors");
  for (const Arg& item : a.items()) {
    if (item.is_tensor()) {
      out.push_back(item.tensor());
    } else if (item.is_constant() && item.ivalue().isTensor()) {
      KILN_ASSIGN_OR_RETURN(auto c, ctx.constant_tensor(item.ivalue().toTensor()));
      out.push_back(c);
    } else {
      return ctx.error(n, "list item is not a tensor");
    }
  }
  return out;
}

// cat(tensors, dim) with torch promotion across inputs
Status cat(ConversionCtx& ctx, const Node& n, bool stack) {
  KILN_ASSIGN_OR_RETURN(auto ts, tensor_list(ctx, n, 0));
  KILN_ASSIGN_OR_RETURN(auto d, ctx.const_int(n, 1));
  if (ts.empty()) return ctx.error(n, "empty tensor list");
  // torch.cat skips legacy empty 1-D tensors; promote dtypes
  at::ScalarType common = to_torch_dtype(ctx.dtype(ts[0]));
  for (auto& t : ts) common = at::promoteTypes(common, to_torch_dtype(ctx.dtype(t)));
  std::vector<kiln::Tensor> parts;
  if (!stack) {  // torch.cat skips 1-D tensors of size 0 beside tensors of higher rank
    std::vector<kiln::Tensor> kept;
    for (auto& t : ts) {
      Dims td = ctx.dims(t);
      if (!(td.rank() == 1 && td[0] == 0)) kept.push_back(t);
    }
    if (!kept.empty() && kept.size() != ts.size()) ts = kept;
  }
  int rank = ctx.rank(ts[0]) + (stack ? 1 : 0);
  int64_t axis = norm_dim(d, rank);
  for (auto& t : ts) {
    KILN_ASSIGN_OR_RETURN(auto c, ctx.cast(t, *to_kiln_dtype(common)));
    kiln::Tensor p = c;
    if (stack) {
      KILN_ASSIGN_OR_RETURN(auto u, ctx.net.add_unsqueeze(p, {axis}));
      p = u;
    }
    parts.push_back(p);
  }
  return set_output_tensor(ctx, n, ctx.net.add_concat(parts, axis));
}

// Sets split's outputs: one Tensor[] output, or one output per part.
void set_split_outputs(ConversionCtx& ctx, const Node& n, std::vector<Arg> items) {
  if (n.outputs.size() == 1 &&
      ctx.graph.values[static_cast<size_t>(n.outputs[0])].kind == ValueKind::kTensorList) {
    ctx.set_output(n, 0, Arg::list(std::move(items)));
  } else {
    for (size_t i = 0; i < n.outputs.size() && i < items.size(); ++i)
      ctx.set_output(n, i, items[i]);
  }
}

// split_with_sizes whose sizes are run-time ints (chunk / split of a dynamic dim, as torch.export
// writes them): part i is a slice between the exclusive and inclusive prefix sums of the sizes.
Status split_dynamic(ConversionCtx& ctx, const Node& n, kiln::Tensor x, int64_t axis) {
  KILN_ASSIGN_OR_RETURN(auto sizes, ctx.int_list(n, 1));
  if (sizes.is_static) return ctx.error(n, "internal: static sizes in split_dynamic");
  int64_t parts = ctx.dims(sizes.tensor)[0];
  if (parts < 0) return ctx.error(n, "the number of split parts is only known at run time");
  // Prefix sums with adds (not a cumsum layer): adds carry tracked values, so the slice bounds
  // resolve on the host from the input shapes.
  KILN_ASSIGN_OR_RETURN(auto start, ctx.net.add_int_vector({0}));
  std::vector<Arg> items;
  for (int64_t i = 0; i < parts; ++i) {
    KILN_ASSIGN_OR_RETURN(auto len,
                          ctx.net.add_slice(sizes.tensor, SliceParams{{0}, {i}, {i + 1}, {1}}));
    KILN_ASSIGN_OR_RETURN(auto end, ctx.net.add_elementwise(start, len, BinaryOp::kAdd));
    KILN_ASSIGN_OR_RETURN(auto part,
                          ctx.net.add_slice(x, SliceParams{{axis}, {0}, {0}, {1}}, start, end));
    items.push_back(Arg::tensor(part));
    start = end;
  }
  set_split_outputs(ctx, n, std::move(items));
  return {};
}

// split.Tensor(x, split_size, dim) / split_with_sizes(x, sizes, dim) / chunk(x, chunks, dim) /
// unbind(x, dim): outputs a list (one Tensor[] output) or several outputs.
Status split(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  KILN_ASSIGN_OR_RETURN(auto d, ctx.const_int(n, n.op == "aten::unbind.int" ? 1 : 2));
  Dims dims = ctx.dims(x);
  int64_t axis = norm_dim(d, dims.rank());
  int64_t extent = dims[static_cast<int>(axis)];
  std::vector<int64_t> sizes;
  if (n.op == "aten::split_with_sizes" || n.op == "aten::split.sizes") {
    if (!ctx.is_static_int(n, 1)) return split_dynamic(ctx, n, x, axis);
    KILN_ASSIGN_OR_RETURN(auto s, ctx.const_int_list(n, 1));
    sizes = s;
  } else {
    if (extent < 0) return ctx.error(n, "splitting a dynamic dim");
    if (n.op == "aten::unbind.int") {
      sizes.assign(static_cast<size_t>(extent), 1);
    } else {
      KILN_ASSIGN_OR_RETURN(auto v, ctx.const_int(n, 1));
      if (v <= 0)
        return ctx.error(n, ctx.input_name(n, 1) + " must be positive, got " + std::to_string(v));
      const int64_t step = n.op == "aten::chunk" ? (extent + v - 1) / v : v;  // torch.chunk
      if (step <= 0) return ctx.error(n, "chunk of an empty dim");
      for (int64_t pos = 0; pos < extent; pos += step)
        sizes.push_back(std::min(step, extent - pos));
      if (sizes.empty()) sizes.push_back(0);
    }
  }
  auto parts = ctx.net.add_split(x, SplitParams{axis, sizes});
  if (!parts) return ctx.error(n, parts.status().message());
  std::vector<Arg> items;
  for (kiln::Tensor t : *parts) {
    if (n.op == "aten::unbind.int") {
      KILN_ASSIGN_OR_RETURN(auto s, ctx.net.add_squeeze(t, {axis}));
      t = s;
    }
    items.push_back(Arg::tensor(t));
  }
  set_split_outputs(ctx, n, std::move(items));
  return {};
}

bool split_supported(const OpGraph& g, const Node& n, std::string* why) {
  // A Tensor[] output read by PyTorch is taken apart inside the engine (partitioner: items of a
  // Kiln list). Sizes from a split size, chunk count or unbind need the split dim's static extent;
  // split_with_sizes takes run-time sizes (split_dynamic).
  if (n.op == "aten::split_with_sizes" || n.op == "aten::split.sizes") return true;
  const Value& x = g.values[static_cast<size_t>(n.inputs[0])];
  const Value& d = g.values[static_cast<size_t>(n.inputs[n.op == "aten::unbind.int" ? 1 : 2])];
  if (!x.meta || !d.constant || !d.constant->isInt()) return true;  // the converter reports it
  auto r = static_cast<int64_t>(x.meta->min.size());
  int64_t axis = d.constant->toInt() < 0 ? d.constant->toInt() + r : d.constant->toInt();
  if (axis >= 0 && axis < r &&
      x.meta->min[static_cast<size_t>(axis)] != x.meta->max[static_cast<size_t>(axis)]) {
    *why = "splitting a dynamic dim into a size-dependent number of parts";
    return false;
  }
  return true;
}

// slice.Tensor(x, dim, start?, end?, step)
Status slice(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  KILN_ASSIGN_OR_RETURN(auto d, ctx.const_int(n, 1));
  KILN_ASSIGN_OR_RETURN(auto step, ctx.const_int(n, 4));
  int64_t axis = norm_dim(d, ctx.rank(x));
  auto bound = [&](size_t i, int64_t def) -> Expected<ConversionCtx::Int> {
    if (ctx.is_none(n, i)) {
      ConversionCtx::Int v;
      v.value = def;
      return v;
    }
    return ctx.int_value(n, i);
  };
  KILN_ASSIGN_OR_RETURN(auto s, bound(2, 0));
  KILN_ASSIGN_OR_RETURN(auto e, bound(3, INT64_MAX));
  if (s.is_static && e.is_static) {
    if (s.value == 0 && e.value >= INT64_MAX / 2 && step == 1)
      return set_output_tensor(ctx, n, ctx.net.add_identity(x));
    return set_output_tensor(
        ctx, n, ctx.net.add_slice(x, SliceParams{{axis}, {s.value}, {e.value}, {step}}));
  }
  auto as_vec = [&](const ConversionCtx::Int& v) -> Expected<kiln::Tensor> {
    if (v.is_static) return ctx.net.add_int_vector({v.value});
    return ctx.net.add_unsqueeze(v.tensor, {0});
  };
  KILN_ASSIGN_OR_RETURN(auto st, as_vec(s));
  KILN_ASSIGN_OR_RETURN(auto et, as_vec(e));
  return set_output_tensor(ctx, n,
                           ctx.net.add_slice(x, SliceParams{{axis}, {0}, {0}, {step}}, st, et));
}

// select.int(x, dim, index) = slice + squeeze
Status select(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  KILN_ASSIGN_OR_RETURN(auto d, ctx.const_int(n, 1));
  int64_t axis = norm_dim(d, ctx.rank(x));
  KILN_ASSIGN_OR_RETURN(auto idx, ctx.int_value(n, 2));
  if (idx.is_static) {
    int64_t i = idx.value;
    int64_t end = i == -1 ? INT64_MAX : i + 1;
    KILN_ASSIGN_OR_RETURN(auto s, ctx.net.add_slice(x, SliceParams{{axis}, {i}, {end}, {1}}));
    return set_output_tensor(ctx, n, ctx.net.add_squeeze(s, {axis}));
  }
  return set_output_tensor(ctx, n, ctx.net.add_gather(x, idx.tensor, axis));
}

// narrow(x, dim, start, length)
Status narrow(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  KILN_ASSIGN_OR_RETURN(auto d, ctx.const_int(n, 1));
  KILN_ASSIGN_OR_RETURN(auto s, ctx.const_int(n, 2));
  KILN_ASSIGN_OR_RETURN(auto l, ctx.const_int(n, 3));
  return set_output_tensor(
      ctx, n, ctx.net.add_slice(x, SliceParams{{norm_dim(d, ctx.rank(x))}, {s}, {s + l}, {1}}));
}

}  // namespace

void register_shape_converters(ConverterRegistry& r) {
  add_converter(r,
                {"aten::view", "aten::reshape", "aten::_unsafe_view", "aten::_reshape_alias",
                 "aten::view.default"},
                reshape);
  add_converter(r, {"aten::view_as", "aten::reshape_as"}, view_as);
  add_converter(r, {"aten::as_strided", "aten::as_strided.default"}, as_strided,
                as_strided_supported);
  add_converter(r, {"aten::flatten.using_ints"}, flatten);
  add_converter(r, {"aten::unflatten.int"}, unflatten);
  add_converter(r, {"aten::squeeze", "aten::squeeze.dim", "aten::squeeze.dims"}, squeeze);
  add_converter(r, {"aten::unsqueeze"}, unsqueeze);
  add_converter(r, {"aten::permute"}, permute);
  add_converter(r, {"aten::transpose.int", "aten::swapaxes"}, transpose);
  add_converter(r, {"aten::expand"}, expand);
  add_converter(r, {"aten::expand_as"}, expand_as);
  // The one-axis-at-a-time expansion needs rank + 1 <= kMaxRank (8): refused here, not at build.
  SupportFn static_input = [](const OpGraph& g, const Node& n, std::string* why) {
    const Value& v = g.values[static_cast<size_t>(n.inputs[0])];
    const Value& reps = g.values[static_cast<size_t>(n.inputs[1])];
    if (!reps.constant || !reps.constant->isIntList()) {
      *why = "repeats only known at run time";
      return false;
    }
    size_t r = std::max(reps.constant->toIntList().size(), v.meta ? v.meta->min.size() : 0);
    if (r + 1 > 8) {
      *why =
          "repeat/tile to rank " + std::to_string(r) + " (Kiln's rank limit is 8; at most 7 here)";
      return false;
    }
    return true;
  };
  add_converter(r, {"aten::repeat"}, repeat, static_input);
  add_converter(r, {"aten::tile"}, tile, static_input);
  add_converter(r, {"aten::channel_shuffle", "aten::native_channel_shuffle"}, channel_shuffle,
                [](const OpGraph& g, const Node& n, std::string* why) {
                  const Value& v = g.values[static_cast<size_t>(n.inputs[0])];
                  if (v.meta && v.meta->min.size() >= 3 && v.meta->min[1] == v.meta->max[1])
                    return true;
                  *why = "channel_shuffle needs a static channel dim";
                  return false;
                });
  add_converter(
      r, {"aten::pixel_shuffle"},
      [](ConversionCtx& c, const Node& n) { return pixel_shuffle(c, n, false); },
      [](const OpGraph& g, const Node& n, std::string* why) {
        return last_dims_static(g, n, why, 3);
      });
  add_converter(
      r, {"aten::pixel_unshuffle"},
      [](ConversionCtx& c, const Node& n) { return pixel_shuffle(c, n, true); },
      [](const OpGraph& g, const Node& n, std::string* why) {
        return last_dims_static(g, n, why, 3);
      });
  add_converter(r,
                {"aten::movedim.int", "aten::movedim.intlist", "aten::moveaxis.int",
                 "aten::moveaxis.intlist"},
                movedim);
  add_converter(r, {"aten::cat", "aten::concat", "aten::concatenate"},
                [](ConversionCtx& c, const Node& n) { return cat(c, n, false); });
  add_converter(r, {"aten::stack"},
                [](ConversionCtx& c, const Node& n) { return cat(c, n, true); });
  add_converter(r,
                {"aten::split.Tensor", "aten::split_with_sizes", "aten::split.sizes", "aten::chunk",
                 "aten::unbind.int", "aten::split"},
                split, split_supported);
  add_converter(r, {"aten::slice.Tensor"}, slice);
  add_converter(r, {"aten::select.int"}, select);
  add_converter(r, {"aten::narrow"}, narrow);
}

}  // namespace kiln::bridge
