// Dead-layer removal: drops layers whose outputs no network output depends on.
#include "ir/analysis.h"
#include "passes/graph_rewriter.h"
#include "passes/pass.h"

namespace kiln::passes {

Status remove_dead_layers(ir::Graph& g, const PassContext&) {
  std::vector<bool> live = ir::live_layers(g);
  GraphRewriter rw(g);
  for (size_t i = 0; i < g.layers.size(); ++i) {
    if (live[i]) KILN_RETURN_IF_ERROR(rw.copy_layer(i));
  }
  KILN_ASSIGN_OR_RETURN(auto out, rw.finish());
  g = std::move(out);
  return {};
}

}  // namespace kiln::passes
