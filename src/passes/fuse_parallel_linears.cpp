// Linear layers that read the same input become one GEMM (horizontal fusion):
//
//   linear(x, Wq, bq), linear(x, Wk, bk), linear(x, Wv, bv)
//     ->  y = linear(x, [Wq; Wk; Wv], [bq; bk; bv]);  q, k, v = slices of y's last dim
//
// BERT-style attention computes q, k and v with three linears of one hidden state; as one GEMM the
// launches drop to one and the GEMM is wider. The slices then feed the head-splitting views, which
// fold_view_chains turns into one transpose plus offset views (as for GPT-2's packed c_attn).
// Static shapes only: with dynamic dims the view chains stay copies, and three slices would cost
// more than the launches they save. Weights (and biases where present; zeros for a linear without
// one) must be constants of one dtype and the same input width.
#include <map>

#include "common/element_access.h"
#include "passes/graph_rewriter.h"
#include "passes/pass.h"

namespace kiln::passes {
namespace {

bool fusable(const ir::Graph& g, const ir::Layer& l) {
  if (l.op != ir::OpKind::kLinear ||
      !g.tensors[static_cast<size_t>(l.inputs[0])].type.dims.is_static())
    return false;
  const ir::Weight* w = float_constant_weight(g, l.inputs[1]);
  if (w == nullptr || w->type.dims.rank() != 2) return false;
  if (l.inputs.size() > 2 && l.inputs[2] >= 0) {
    const ir::Weight* b = float_constant_weight(g, l.inputs[2]);
    if (b == nullptr || b->type.dtype != w->type.dtype || b->type.dims.volume() != w->type.dims[0])
      return false;
  }
  return true;
}

}  // namespace

Status fuse_parallel_linears(ir::Graph& g, const PassContext& ctx) {
  // Input tensor -> the fusable linears reading it (in order), grouped by weight dtype and width.
  std::map<std::tuple<int32_t, DataType, int64_t>, std::vector<int32_t>> by_input;
  for (size_t li = 0; li < g.layers.size(); ++li) {
    const ir::Layer& l = g.layers[li];
    if (!fusable(g, l)) continue;
    const ir::Weight& w = *float_constant_weight(g, l.inputs[1]);
    by_input[{l.inputs[0], w.type.dtype, w.type.dims[1]}].push_back(static_cast<int32_t>(li));
  }
  std::vector<int32_t> group_of(g.layers.size(), -1);  // first layer of the group each linear joins
  int groups = 0;
  for (const auto& [key, layers] : by_input) {
    if (layers.size() < 2) continue;
    for (int32_t l : layers) group_of[static_cast<size_t>(l)] = layers[0];
    ++groups;
  }
  if (groups == 0) return {};
  GraphRewriter rw(g);
  for (size_t li = 0; li < g.layers.size(); ++li) {
    const int32_t first = group_of[li];
    if (first < 0) {
      KILN_RETURN_IF_ERROR(rw.copy_layer(li));
      continue;
    }
    if (first != static_cast<int32_t>(li)) continue;  // emitted with its group's first linear
    std::vector<int32_t> members;
    for (size_t m = li; m < g.layers.size(); ++m)
      if (group_of[m] == first) members.push_back(static_cast<int32_t>(m));
    const ir::Layer& head = g.layers[li];
    const ir::Weight& w0 = *float_constant_weight(g, head.inputs[1]);
    const DataType dt = w0.type.dtype;
    const int64_t k = w0.type.dims[1];
    const size_t es = dtype_size(dt);
    int64_t total = 0;
    bool any_bias = false;
    for (int32_t m : members) {
      const ir::Layer& l = g.layers[static_cast<size_t>(m)];
      total += float_constant_weight(g, l.inputs[1])->type.dims[0];
      any_bias = any_bias || (l.inputs.size() > 2 && l.inputs[2] >= 0);
    }
    auto wb = std::make_shared<std::vector<uint8_t>>();
    auto bb = std::make_shared<std::vector<uint8_t>>();
    wb->reserve(static_cast<size_t>(total * k) * es);
    for (int32_t m : members) {
      const ir::Layer& l = g.layers[static_cast<size_t>(m)];
      const ir::Weight& w = *float_constant_weight(g, l.inputs[1]);
      wb->insert(wb->end(), w.bytes->begin(),
                 w.bytes->begin() + static_cast<std::ptrdiff_t>(w.type.dims.volume() * es));
      if (!any_bias) continue;
      if (l.inputs.size() > 2 && l.inputs[2] >= 0) {
        const ir::Weight& b = *float_constant_weight(g, l.inputs[2]);
        bb->insert(bb->end(), b.bytes->begin(),
                   b.bytes->begin() + static_cast<std::ptrdiff_t>(w.type.dims[0] * es));
      } else {
        bb->insert(bb->end(), static_cast<size_t>(w.type.dims[0]) * es,
                   0);  // zeros in every float format
      }
    }
    KILN_ASSIGN_OR_RETURN(
        auto nw, rw.add_constant(TensorType{dt, Dims{total, k}}, wb, head.name + "/fused_weight"));
    std::vector<int32_t> ins{rw.map(head.inputs[0]), nw};
    if (any_bias) {
      KILN_ASSIGN_OR_RETURN(
          auto nb, rw.add_constant(TensorType{dt, Dims{total}}, bb, head.name + "/fused_bias"));
      ins.push_back(nb);
    }
    KILN_ASSIGN_OR_RETURN(auto fused,
                          rw.add(ir::OpKind::kLinear, head.params, ins, head.name + "/fused"));
    rw.dst().layers.back().precision = head.precision;
    rw.dst().layers.back().user_precision = head.user_precision;
    const int rank = rw.dst().tensors[static_cast<size_t>(fused[0])].type.dims.rank();
    int64_t offset = 0;
    for (int32_t m : members) {
      const ir::Layer& l = g.layers[static_cast<size_t>(m)];
      const int64_t n = float_constant_weight(g, l.inputs[1])->type.dims[0];
      KILN_ASSIGN_OR_RETURN(
          auto s, rw.add(ir::OpKind::kSlice, SliceParams{{rank - 1}, {offset}, {offset + n}, {1}},
                         {fused[0]}, l.name));
      rw.set_map(l.outputs[0], s[0]);
      offset += n;
    }
  }
  ctx.logger.log(Severity::kInfo,
                 "[passes.fuse_parallel_linears] " + std::to_string(groups) +
                     " group(s) of linears sharing an input fused into one GEMM each");
  KILN_ASSIGN_OR_RETURN(auto out, rw.finish());
  g = std::move(out);
  return {};
}

}  // namespace kiln::passes
