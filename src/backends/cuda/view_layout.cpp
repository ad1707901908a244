// Strided layouts through data-movement layers (see view_layout.h).
#include "backends/cuda/view_layout.h"

#include <string>

#include "ir/infer_fns.h"

namespace kiln::cuda {
namespace {

Status no(const std::string& why) {
  return make_error(StatusCode::kUnsupported, "backends.cuda.view_layout", why);
}

const Dims& dims_of(std::span<const backend::TensorView> tensors, int32_t t) {
  return tensors[static_cast<size_t>(t)].dims;
}

bool reshape_like(ir::OpKind op) {
  return op == ir::OpKind::kReshape || op == ir::OpKind::kSqueeze || op == ir::OpKind::kUnsqueeze ||
         op == ir::OpKind::kFlatten;
}

}  // namespace

StridedLayout contiguous_layout(const Dims& dims) {
  StridedLayout l;
  l.dims = dims;
  int64_t s = 1;
  for (int d = dims.rank() - 1; d >= 0; --d) {
    l.strides[static_cast<size_t>(d)] = s;
    s *= dims[d];
  }
  return l;
}

// torch's computeStride: walk both shapes from the innermost dim, matching chunks of equal volume;
// inside a chunk of the old shape the elements must be evenly strided.
Expected<StridedLayout> reshape_layout(const StridedLayout& from, const Dims& to) {
  if (from.dims.volume() != to.volume())
    return no("reshape " + from.dims.to_string() + " -> " + to.to_string() + " changes the volume");
  StridedLayout out;
  out.dims = to;
  out.offset = from.offset;
  if (to.volume() == 0 || from.dims.rank() == 0) {
    StridedLayout c = contiguous_layout(to);
    c.offset = from.offset;
    return c;
  }
  const int old_rank = from.dims.rank();
  int view_d = to.rank() - 1;
  int64_t chunk_base = from.strides[static_cast<size_t>(old_rank - 1)];
  int64_t tensor_numel = 1, view_numel = 1;
  for (int td = old_rank - 1; td >= 0; --td) {
    tensor_numel *= from.dims[td];
    const bool chunk_ends =
        td == 0 || (from.dims[td - 1] != 1 &&
                    from.strides[static_cast<size_t>(td - 1)] != tensor_numel * chunk_base);
    if (!chunk_ends) continue;
    while (view_d >= 0 && (view_numel < tensor_numel || to[view_d] == 1)) {
      out.strides[static_cast<size_t>(view_d)] = view_numel * chunk_base;
      view_numel *= to[view_d];
      --view_d;
    }
    if (view_numel != tensor_numel)
      return no("reshape " + from.dims.to_string() + " -> " + to.to_string() +
                " merges dims that are not evenly strided");
    if (td > 0) {
      chunk_base = from.strides[static_cast<size_t>(td - 1)];
      tensor_numel = 1;
      view_numel = 1;
    }
  }
  if (view_d != -1)
    return no("reshape " + from.dims.to_string() + " -> " + to.to_string() + " does not fit");
  return out;
}

bool is_view_chain_layer(const ir::Layer& l) {
  if (reshape_like(l.op) || l.op == ir::OpKind::kTranspose) return true;
  if (l.op != ir::OpKind::kSlice) return false;
  for (size_t i = 1; i < l.inputs.size(); ++i)
    if (l.inputs[i] >= 0) return false;  // bounds from tensors
  const auto& p = std::get<SliceParams>(l.params);
  for (int64_t s : p.steps)
    if (s < 1) return false;
  return p.starts.size() == p.axes.size() && p.ends.size() == p.axes.size() &&
         (p.steps.empty() || p.steps.size() == p.axes.size());
}

Expected<StridedLayout> read_through(const ir::Graph& g, std::span<const int32_t> chain,
                                     std::span<const backend::TensorView> tensors) {
  if (chain.empty()) return no("empty chain");
  const ir::Layer& first = g.layers[static_cast<size_t>(chain[0])];
  StridedLayout cur = contiguous_layout(dims_of(tensors, first.inputs[0]));
  for (int32_t li : chain) {
    const ir::Layer& l = g.layers[static_cast<size_t>(li)];
    const Dims& out = dims_of(tensors, l.outputs[0]);
    if (reshape_like(l.op)) {
      KILN_ASSIGN_OR_RETURN(cur, reshape_layout(cur, out));
    } else if (l.op == ir::OpKind::kTranspose) {
      const auto& perm = std::get<TransposeParams>(l.params).perm;
      if (static_cast<int>(perm.size()) != cur.dims.rank()) return no("transpose rank");
      StridedLayout t;
      t.offset = cur.offset;
      for (size_t i = 0; i < perm.size(); ++i) {
        t.dims.push_back(cur.dims[static_cast<int>(perm[i])]);
        t.strides[i] = cur.strides[static_cast<size_t>(perm[i])];
      }
      cur = t;
    } else if (l.op == ir::OpKind::kSlice && is_view_chain_layer(l)) {
      const auto& p = std::get<SliceParams>(l.params);
      const int r = cur.dims.rank();
      for (size_t i = 0; i < p.axes.size(); ++i) {
        const int64_t a = p.axes[i] < 0 ? p.axes[i] + r : p.axes[i];
        if (a < 0 || a >= r) return no("slice axis");
        const int64_t step = p.steps.empty() ? 1 : p.steps[i];
        const ir::SliceRange sr =
            ir::slice_range(cur.dims[static_cast<int>(a)], p.starts[i], p.ends[i], step);
        auto ua = static_cast<size_t>(a);
        cur.offset += sr.start * cur.strides[ua];
        cur.dims[static_cast<int>(a)] = sr.count;
        cur.strides[ua] *= step;
      }
    } else {
      return no(std::string("layer '") + l.name + "' is not a view");
    }
    if (!(cur.dims == out))
      return no("layer '" + l.name + "' gives " + out.to_string() + ", its view " +
                cur.dims.to_string());
  }
  return cur;
}

Expected<StridedLayout> write_through(const ir::Graph& g, std::span<const int32_t> chain,
                                      std::span<const backend::TensorView> tensors) {
  if (chain.empty()) return no("empty chain");
  const ir::Layer& last = g.layers[static_cast<size_t>(chain.back())];
  StridedLayout cur = contiguous_layout(dims_of(tensors, last.outputs[0]));
  for (size_t k = chain.size(); k-- > 0;) {
    const ir::Layer& l = g.layers[static_cast<size_t>(chain[k])];
    const Dims& in = dims_of(tensors, l.inputs[0]);
    if (reshape_like(l.op)) {
      KILN_ASSIGN_OR_RETURN(cur, reshape_layout(cur, in));
    } else if (l.op == ir::OpKind::kTranspose) {
      // out dim i is in dim perm[i]: in dim perm[i] has out dim i's stride.
      const auto& perm = std::get<TransposeParams>(l.params).perm;
      if (static_cast<int>(perm.size()) != cur.dims.rank() || in.rank() != cur.dims.rank())
        return no("transpose rank");
      StridedLayout t;
      t.offset = cur.offset;
      t.dims = in;
      for (size_t i = 0; i < perm.size(); ++i)
        t.strides[static_cast<size_t>(perm[i])] = cur.strides[i];
      cur = t;
    } else {
      return no(std::string("layer '") + l.name + "' cannot be written through");
    }
  }
  return cur;
}

}  // namespace kiln::cuda
