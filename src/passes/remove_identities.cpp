// Identity removal: identity layers (from aten::contiguous, clone, dropout at inference) read their
// input's memory directly; only network outputs keep a copy (GraphRewriter::finish decides).
#include "passes/graph_rewriter.h"
#include "passes/pass.h"

namespace kiln::passes {

Status remove_identities(ir::Graph& g, const PassContext&) {
  GraphRewriter rw(g);
  int removed = 0;
  for (size_t li = 0; li < g.layers.size(); ++li) {
    const ir::Layer& l = g.layers[li];
    if (l.op == ir::OpKind::kIdentity && !g.tensors[static_cast<size_t>(l.outputs[0])].is_output) {
      rw.set_map(l.outputs[0], rw.map(l.inputs[0]));
      ++removed;
      continue;
    }
    KILN_RETURN_IF_ERROR(rw.copy_layer(li));
  }
  if (removed == 0) return {};
  KILN_ASSIGN_OR_RETURN(auto out, rw.finish());
  g = std::move(out);
  return {};
}

}  // namespace kiln::passes
