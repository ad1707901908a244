// Folds chains of data-movement layers into one transpose per source tensor.
//
// Attention blocks split a packed QKV projection into heads with a chain of copies: torch's
// MultiheadAttention writes reshape -> transpose -> slice -> reshape -> transpose per q / k / v (7
// copy kernels per block), HF GPT-2 split -> reshape -> transpose (4 copies). Every tensor such a
// chain ends in is a strided view of the chain's source X: element (i0, i1, ...) sits at offset +
// sum(i_k * stride_k) of X. When X's flat index space factors into the view's dims plus "gap"
// factors held at fixed indices (the other heads, the other projections), the chain is
//     reshape(X, factors) -> transpose(gap factors first, then the view's dims) -> slice on axis 0
//     -> reshape(view dims)
// The transpose is shared by every chain with the same source and factors (q, k and v read one),
// and the slice of the leading axis is an offset view (ir::is_offset_view): no copy. The old chain
// is left dead for remove_dead_layers.
//
// Static shapes only (strides are numbers); a chain is rewritten only when that removes copy
// kernels.
#include <algorithm>
#include <map>
#include <optional>
#include <tuple>

#include "ir/infer_fns.h"
#include "passes/graph_rewriter.h"
#include "passes/pass.h"

namespace kiln::passes {
namespace {

// A strided view of a source tensor. Each dim is a list of atoms (size, stride in source elements),
// outermost first: merging dims whose strides do not chain (torch's view(S, B*H, D) of a transposed
// tensor) keeps both atoms instead of needing a copy.
struct Atom {
  int64_t n, s;
};
using ViewDim = std::vector<Atom>;  ///< empty: a dim of size 1

struct View {
  int32_t source = -1;
  std::vector<ViewDim> dims;
  int64_t offset = 0;
  int copies = 0;           ///< copy kernels of the chain (transposes, slices, splits)
  int64_t moved = 0;        ///< elements those copies write
  bool transposed = false;  ///< the chain moves data across dims (else a transpose cannot help)
};

// The layers a chain is made of: views and the copies that only move data.
bool is_movement(ir::OpKind op) {
  return ir::has_flag(op, ir::kFlagView) || ir::has_flag(op, ir::kFlagStridedCopy);
}

bool static_dims(const Dims& d) {
  for (int i = 0; i < d.rank(); ++i)
    if (d[i] < 0) return false;
  return true;
}

std::vector<int64_t> to_vec(const Dims& d) {
  std::vector<int64_t> v;
  for (int i = 0; i < d.rank(); ++i) v.push_back(d[i]);
  return v;
}

int64_t dim_size(const ViewDim& d) {
  int64_t n = 1;
  for (const Atom& a : d) n *= a.n;
  return n;
}

// Regroups the atoms into dims `out` (same element count), splitting atoms where a dim boundary
// falls inside one; false when sizes do not divide.
bool reshape_view(View& v, const std::vector<int64_t>& out) {
  std::vector<Atom> atoms;
  for (const ViewDim& d : v.dims)
    for (const Atom& a : d) atoms.push_back(a);
  std::vector<ViewDim> dims(out.size());
  for (size_t o = out.size(); o-- > 0;) {
    int64_t need = out[o];
    if (need <= 0) return false;
    while (need > 1) {
      if (atoms.empty()) return false;
      Atom& a = atoms.back();
      if (need % a.n == 0) {
        dims[o].insert(dims[o].begin(), a);
        need /= a.n;
        atoms.pop_back();
      } else if (a.n % need == 0) {
        dims[o].insert(dims[o].begin(), Atom{need, a.s});
        a = Atom{a.n / need, a.s * need};
        need = 1;
      } else {
        return false;
      }
    }
  }
  if (!atoms.empty()) return false;
  v.dims = std::move(dims);
  return true;
}

// Takes elements [start, start + count * step) of dim d; false when the range cannot stay strided.
bool slice_view(View& v, size_t d, int64_t start, int64_t count, int64_t step) {
  ViewDim& dim = v.dims[d];
  const int64_t size = dim_size(dim);
  if (count == size && start == 0 && step == 1) return true;
  if (count == 1) {  // one index: its offset, and the dim becomes size 1
    int64_t idx = start;
    for (size_t k = dim.size(); k-- > 0;) {
      v.offset += (idx % dim[k].n) * dim[k].s;
      idx /= dim[k].n;
    }
    dim.clear();
    return true;
  }
  if (dim.empty()) return false;
  int64_t inner = size / dim[0].n;
  if (inner == 1) {  // one atom
    v.offset += start * dim[0].s;
    dim[0] = Atom{count, dim[0].s * step};
    return true;
  }
  if (step != 1 || start % inner != 0 || count % inner != 0) return false;
  v.offset += (start / inner) * dim[0].s;
  dim[0].n = count / inner;
  return true;
}

class ViewTracer {
 public:
  explicit ViewTracer(const ir::Graph& g) : g_(g) {}

  // The view chain ending in tensor t, traced back to the first tensor not made by a movement
  // layer; a view with source == t when the chain is not one strided view.
  View trace(int32_t t) const {
    View none;
    none.source = t;
    std::vector<std::pair<const ir::Layer*, int32_t>> chain;  // (layer, its output on the path)
    int32_t cur = t;
    while (true) {
      const ir::Layer* l = producer_of(g_, cur);
      if (l == nullptr || !movement(*l) || !static_dims(type(l->inputs[0]).dims)) break;
      chain.emplace_back(l, cur);
      cur = l->inputs[0];
    }
    if (chain.empty() || !static_dims(type(cur).dims)) return none;
    View r;
    r.source = cur;
    const std::vector<int64_t> d = to_vec(type(cur).dims);
    int64_t stride = 1;
    r.dims.resize(d.size());
    for (size_t i = d.size(); i-- > 0;) {
      if (d[i] != 1) r.dims[i].push_back(Atom{d[i], stride});
      stride *= d[i];
    }
    for (size_t i = chain.size(); i-- > 0;)
      if (!apply(*chain[i].first, chain[i].second, r)) return none;
    return r;
  }

 private:
  const TensorType& type(int32_t t) const { return g_.tensors[static_cast<size_t>(t)].type; }

  // Slices with starts / ends from tensors are not traced (their offsets are not numbers here).
  static bool movement(const ir::Layer& l) {
    if (!is_movement(l.op)) return false;
    if (l.op == ir::OpKind::kSlice)
      for (size_t i = 1; i < l.inputs.size(); ++i)
        if (l.inputs[i] >= 0) return false;
    return true;
  }

  bool apply(const ir::Layer& l, int32_t out, View& r) const {
    if (!static_dims(type(out).dims)) return false;
    const std::vector<int64_t> od = to_vec(type(out).dims);
    const int rank = static_cast<int>(r.dims.size());
    switch (l.op) {
      case ir::OpKind::kReshape:
      case ir::OpKind::kSqueeze:
      case ir::OpKind::kUnsqueeze:
      case ir::OpKind::kFlatten:
        return reshape_view(r, od);
      case ir::OpKind::kTranspose: {
        const auto& perm = std::get<TransposeParams>(l.params).perm;
        if (static_cast<int>(perm.size()) != rank) return false;
        std::vector<ViewDim> d;
        for (int64_t p : perm) {
          if (p < 0 || p >= rank) return false;
          d.push_back(r.dims[static_cast<size_t>(p)]);
        }
        r.dims = std::move(d);
        ++r.copies;
        r.moved += volume(r);
        r.transposed = true;
        return true;
      }
      case ir::OpKind::kSlice: {
        const auto& p = std::get<SliceParams>(l.params);
        for (size_t i = 0; i < p.axes.size(); ++i) {
          int64_t ax = p.axes[i] < 0 ? p.axes[i] + rank : p.axes[i];
          if (ax < 0 || ax >= rank || i >= p.starts.size() || i >= p.ends.size()) return false;
          int64_t step = p.steps.empty() ? 1 : p.steps[i];
          if (step <= 0) return false;
          ir::SliceRange sr = ir::slice_range(dim_size(r.dims[static_cast<size_t>(ax)]),
                                              p.starts[i], p.ends[i], step);
          if (sr.count <= 0 || !slice_view(r, static_cast<size_t>(ax), sr.start, sr.count, step))
            return false;
        }
        ++r.copies;
        r.moved += volume(r);
        return check(r, od);
      }
      case ir::OpKind::kSplit: {
        const auto& p = std::get<SplitParams>(l.params);
        int64_t ax = p.axis < 0 ? p.axis + rank : p.axis;
        if (ax < 0 || ax >= rank) return false;
        size_t k = 0;
        while (k < l.outputs.size() && l.outputs[k] != out) ++k;
        if (k == l.outputs.size()) return false;
        int64_t start = 0;
        for (size_t i = 0; i < k; ++i) start += type(l.outputs[i]).dims[static_cast<int>(ax)];
        if (!slice_view(r, static_cast<size_t>(ax), start, od[static_cast<size_t>(ax)], 1))
          return false;
        ++r.copies;
        r.moved += volume(r);
        return check(r, od);
      }
      default:
        return false;
    }
  }

  static int64_t volume(const View& r) {
    int64_t n = 1;
    for (const ViewDim& d : r.dims) n *= dim_size(d);
    return n;
  }

  static bool check(const View& r, const std::vector<int64_t>& od) {
    if (r.dims.size() != od.size()) return false;
    for (size_t i = 0; i < od.size(); ++i)
      if (dim_size(r.dims[i]) != od[i]) return false;
    return true;
  }

  const ir::Graph& g_;
};

// A source factor: an atom of the view (dim, position in the dim) or a gap held at a fixed index.
struct Factor {
  int64_t size;
  int dim;        ///< -1: a gap
  int atom;       ///< position inside the dim
  int64_t index;  ///< gaps: the fixed index
};

// Factors of the source's flat index space (outermost first) that express view v, or nullopt.
std::optional<std::vector<Factor>> factorize(const View& v, int64_t numel) {
  struct Ref {
    int dim, atom;
    Atom a;
  };
  std::vector<Ref> refs;
  for (size_t d = 0; d < v.dims.size(); ++d)
    for (size_t k = 0; k < v.dims[d].size(); ++k)
      refs.push_back({static_cast<int>(d), static_cast<int>(k), v.dims[d][k]});
  std::stable_sort(refs.begin(), refs.end(),
                   [](const Ref& x, const Ref& y) { return x.a.s > y.a.s; });
  std::vector<Factor> f;
  int64_t span = numel;
  for (const Ref& r : refs) {
    const int64_t n = r.a.n, s = r.a.s;
    if (s <= 0 || s >= span || span % s != 0) return std::nullopt;
    const int64_t m = span / s;
    if (m % n != 0) return std::nullopt;
    const int64_t o = (v.offset / s) % m;
    if (o % n != 0) return std::nullopt;
    if (m / n > 1) f.push_back({m / n, -1, 0, o / n});
    f.push_back({n, r.dim, r.atom, 0});
    span = s;
  }
  if (span > 1) f.push_back({span, -1, 0, v.offset % span});
  // The factor indices must add back up to the offset.
  int64_t stride = numel, off = 0;
  for (const Factor& x : f) {
    stride /= x.size;
    off += x.index * stride;
  }
  if (off != v.offset) return std::nullopt;
  return f;
}

}  // namespace

Status fold_view_chains(ir::Graph& g, const PassContext& ctx) {
  ViewTracer tracer(g);
  GraphRewriter rw(g);
  // (source, factor sizes, perm) -> transposed tensor in dst, shared by the chains that read it.
  std::map<std::tuple<int32_t, std::vector<int64_t>, std::vector<int64_t>>, int32_t> shared;
  std::map<int32_t, int32_t> folded;  // src chain end -> dst replacement
  int chains = 0;
  // Rewrites chain end t (a src tensor) when that saves copies; returns the dst tensor to read.
  auto fold = [&](int32_t t) -> Expected<int32_t> {
    if (auto it = folded.find(t); it != folded.end()) return it->second;
    int32_t keep = rw.map(t);
    View v = tracer.trace(t);
    if (v.source == t || !v.transposed || v.copies < 2) return keep;
    const TensorType& st = g.tensors[static_cast<size_t>(v.source)].type;
    int64_t numel = 1;
    for (int i = 0; i < st.dims.rank(); ++i) numel *= st.dims[i];
    auto f = factorize(v, numel);
    if (!f) return keep;
    std::vector<int64_t> sizes, perm, gap_sizes;
    int64_t gap_index = 0;
    for (size_t i = 0; i < f->size(); ++i) sizes.push_back((*f)[i].size);
    for (size_t i = 0; i < f->size(); ++i) {
      if ((*f)[i].dim >= 0) continue;
      perm.push_back(static_cast<int64_t>(i));
      gap_sizes.push_back((*f)[i].size);
      gap_index = gap_index * (*f)[i].size + (*f)[i].index;
    }
    const size_t gaps = perm.size();
    for (size_t d = 0; d < v.dims.size(); ++d)
      for (size_t k = 0; k < v.dims[d].size(); ++k)
        for (size_t i = 0; i < f->size(); ++i)
          if ((*f)[i].dim == static_cast<int>(d) && (*f)[i].atom == static_cast<int>(k))
            perm.push_back(static_cast<int64_t>(i));
    bool identity = true;
    for (size_t i = 0; i < perm.size(); ++i) identity &= perm[i] == static_cast<int64_t>(i);
    // Copies after: the shared transpose (counted once per source: count it here) and a slice that
    // is a view when the gaps lead (and its block is 256-byte aligned). Rewrite only when that is
    // fewer kernels and at most twice the elements this chain moved (the transpose moves all of the
    // source, which pays off when the chains of the other gap indices share it: q, k and v; a small
    // slice of a big tensor stays a small copy).
    int64_t view_numel = 1;
    for (int i = 0; i < g.tensors[static_cast<size_t>(t)].type.dims.rank(); ++i)
      view_numel *= g.tensors[static_cast<size_t>(t)].type.dims[i];
    const bool slice_is_view =
        gaps == 0 || (view_numel * static_cast<int64_t>(dtype_size(st.dtype))) % 256 == 0;
    const bool have = shared.count(std::make_tuple(v.source, sizes, perm)) > 0;
    const int new_copies = (identity || have ? 0 : 1) + (slice_is_view ? 0 : 1);
    const int64_t new_moved = (identity || have ? 0 : numel) + (slice_is_view ? 0 : view_numel);
    if (new_copies >= v.copies || new_moved > 2 * v.moved) return keep;
    const std::string name = g.tensors[static_cast<size_t>(t)].name + "/folded";
    int32_t x = rw.map(v.source);
    auto key = std::make_tuple(v.source, sizes, perm);
    int32_t tr;
    if (auto it = shared.find(key); it != shared.end()) {
      tr = it->second;
    } else {
      KILN_ASSIGN_OR_RETURN(
          auto r, rw.add(ir::OpKind::kReshape, ReshapeParams{sizes}, {x}, name + "/factors"));
      tr = r[0];
      if (!identity) {
        KILN_ASSIGN_OR_RETURN(auto tt, rw.add(ir::OpKind::kTranspose, TransposeParams{perm}, {tr},
                                              name + "/transpose"));
        tr = tt[0];
      }
      shared[key] = tr;
    }
    int32_t cur = tr;
    if (gaps > 0) {
      int64_t gap_total = 1;
      for (int64_t s : gap_sizes) gap_total *= s;
      std::vector<int64_t> merged{gap_total};
      for (size_t i = gaps; i < perm.size(); ++i)
        merged.push_back(sizes[static_cast<size_t>(perm[i])]);
      if (gaps > 1) {  // one leading axis for all gaps
        KILN_ASSIGN_OR_RETURN(
            auto m, rw.add(ir::OpKind::kReshape, ReshapeParams{merged}, {cur}, name + "/gaps"));
        cur = m[0];
      }
      KILN_ASSIGN_OR_RETURN(
          auto s, rw.add(ir::OpKind::kSlice, SliceParams{{0}, {gap_index}, {gap_index + 1}, {1}},
                         {cur, -1, -1}, name + "/select"));
      cur = s[0];
    }
    KILN_ASSIGN_OR_RETURN(
        auto out,
        rw.add(ir::OpKind::kReshape,
               ReshapeParams{to_vec(g.tensors[static_cast<size_t>(t)].type.dims)}, {cur}, name));
    folded[t] = out[0];
    ++chains;
    return out[0];
  };
  for (size_t li = 0; li < g.layers.size(); ++li) {
    const ir::Layer& l = g.layers[li];
    if (is_movement(l.op)) {
      KILN_RETURN_IF_ERROR(rw.copy_layer(li));
      continue;
    }
    std::vector<int32_t> ins;
    bool changed = false;
    for (size_t i = 0; i < l.inputs.size(); ++i) {
      int32_t t = l.inputs[i];
      const ir::Layer* p = t < 0 ? nullptr : producer_of(g, t);
      if (p == nullptr || ir::is_shape_operand(l.op, static_cast<int>(i)) || !is_movement(p->op)) {
        ins.push_back(rw.map(t));
        continue;
      }
      KILN_ASSIGN_OR_RETURN(auto r, fold(t));
      changed |= r != rw.map(t);
      ins.push_back(r);
    }
    KILN_RETURN_IF_ERROR(changed ? rw.copy_layer(li, ins) : rw.copy_layer(li));
  }
  if (chains == 0) return {};
  ctx.logger.log(Severity::kInfo, "[passes.fold_view_chains] " + std::to_string(chains) +
                                      " movement chain(s) -> " + std::to_string(shared.size()) +
                                      " transpose(s) and offset views");
  KILN_ASSIGN_OR_RETURN(auto out, rw.finish());
  g = std::move(out);
  return {};
}

}  // namespace kiln::passes
