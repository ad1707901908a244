// Graph analyses: liveness of layers, device/host split, view storage roots.
#include "ir/analysis.h"

#include "ir/infer_fns.h"
#include "ir/op_table.h"

namespace kiln::ir {
namespace {

std::vector<bool> reachable(const Graph& g, bool through_shape_operands) {
  std::vector<bool> needed_tensor(g.tensors.size(), false);
  std::vector<bool> layer_live(g.layers.size(), false);
  for (int32_t t : g.outputs) needed_tensor[static_cast<size_t>(t)] = true;
  for (size_t li = g.layers.size(); li-- > 0;) {
    const Layer& l = g.layers[li];
    bool live = false;
    for (int32_t o : l.outputs) live |= needed_tensor[static_cast<size_t>(o)];
    if (!live) continue;
    layer_live[li] = true;
    for (size_t i = 0; i < l.inputs.size(); ++i) {
      if (l.inputs[i] < 0) continue;
      if (!through_shape_operands && is_shape_operand(l.op, static_cast<int>(i))) continue;
      needed_tensor[static_cast<size_t>(l.inputs[i])] = true;
    }
  }
  return layer_live;
}

}  // namespace

std::vector<bool> live_layers(const Graph& g) { return reachable(g, true); }

std::vector<bool> device_layers(const Graph& g) {
  std::vector<bool> d = reachable(g, false);
  for (size_t i = 0; i < g.layers.size(); ++i)
    if (g.layers[i].op == OpKind::kConstant) d[i] = false;
  return d;
}

std::vector<int32_t> storage_roots(const Graph& g, const std::vector<bool>& executed) {
  std::vector<int32_t> root(g.tensors.size());
  for (size_t t = 0; t < root.size(); ++t) root[t] = static_cast<int32_t>(t);
  for (size_t li = 0; li < g.layers.size(); ++li) {
    const Layer& l = g.layers[li];
    if (!executed[li]) continue;
    if (has_flag(l.op, kFlagInPlace)) {  // writes into its input's memory (the verifier checks it)
      root[static_cast<size_t>(l.outputs[0])] = root[static_cast<size_t>(l.inputs[0])];
      continue;
    }
    if (!(has_flag(l.op, kFlagView) || is_offset_view(g, l))) continue;
    int32_t out = l.outputs[0];
    if (g.tensors[static_cast<size_t>(out)].is_output) continue;  // outputs own user memory
    root[static_cast<size_t>(out)] = root[static_cast<size_t>(l.inputs[0])];
  }
  return root;
}

bool is_aliasing_view(const Graph& g, const std::vector<int32_t>& roots, int32_t layer) {
  const Layer& l = g.layers[static_cast<size_t>(layer)];
  if (l.outputs.size() != 1 || has_flag(l.op, kFlagInPlace)) return false;
  if (!(has_flag(l.op, kFlagView) || is_offset_view(g, l))) return false;
  return roots[static_cast<size_t>(l.outputs[0])] != l.outputs[0];
}

bool is_offset_view(const Graph& g, const Layer& l) {
  if (l.op != OpKind::kSlice || l.inputs.empty() || l.inputs[0] < 0) return false;
  for (size_t i = 1; i < l.inputs.size(); ++i)
    if (l.inputs[i] >= 0) return false;  // starts / ends from tensors
  const auto& p = std::get<SliceParams>(l.params);
  if (p.axes.size() != 1 || p.starts.size() != 1 || p.ends.size() != 1) return false;
  if (!p.steps.empty() && (p.steps.size() != 1 || p.steps[0] != 1)) return false;
  const TensorType& t = g.tensors[static_cast<size_t>(l.inputs[0])].type;
  const int r = t.dims.rank();
  int64_t axis = p.axes[0] < 0 ? p.axes[0] + r : p.axes[0];
  if (axis < 0 || axis >= r) return false;
  for (int i = 0; i < axis; ++i)
    if (t.dims[i] != 1) return false;
  int64_t inner = static_cast<int64_t>(dtype_size(t.dtype));
  for (int i = static_cast<int>(axis) + 1; i < r; ++i)
    if (t.dims[i] != kDynamic) inner *= t.dims[i];  // dynamic dims only multiply it
  return inner % 256 == 0;
}

int64_t offset_view_bytes(const Layer& l, const Dims& in_dims, DataType dt) {
  const auto& p = std::get<SliceParams>(l.params);
  const int r = in_dims.rank();
  const int axis = static_cast<int>(p.axes[0] < 0 ? p.axes[0] + r : p.axes[0]);
  SliceRange sr = slice_range(in_dims[axis], p.starts[0], p.ends[0], 1);
  if (sr.count <= 0) return 0;
  int64_t inner = static_cast<int64_t>(dtype_size(dt));
  for (int i = axis + 1; i < r; ++i) inner *= in_dims[i];
  return sr.start * inner;
}

std::vector<std::vector<int32_t>> consumers(const Graph& g) {
  std::vector<std::vector<int32_t>> c(g.tensors.size());
  for (size_t li = 0; li < g.layers.size(); ++li) {
    for (int32_t t : g.layers[li].inputs)
      if (t >= 0) c[static_cast<size_t>(t)].push_back(static_cast<int32_t>(li));
  }
  return c;
}

}  // namespace kiln::ir
