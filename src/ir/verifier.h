// Structural and type verification of a graph. Safe on untrusted graphs (loaded plans): every index
// is range-checked before use.
#pragma once

#include "ir/graph.h"
#include "kiln/status.h"

namespace kiln::ir {

/// Checks: tensor/weight/layer indices in range; every tensor has one producer (or is an input);
/// layers are in topological order; weights match their types; inputs/outputs are sane and uniquely
/// named; and re-running type inference reproduces every recorded tensor type.
Status verify_graph(const Graph& g);

/// Re-infers every layer's output types from the current input types (after a pass changed them)
/// and writes them back, refreshing tracked values. Errors name the layer.
Status reinfer_types(Graph& g);

}  // namespace kiln::ir
