// Shape resolution: concrete input dims -> concrete types (and small int values) of every
// tensor, by running the same per-op inference the network was built with. In ir/ because the
// builder (profile bounds) and the runtime (each run) both use it.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "kiln/status.h"

namespace kiln::ir {

struct ResolvedShapes {
  std::vector<TensorType> types;                  ///< per tensor, all dims concrete
  std::vector<std::optional<ShapeValue>> values;  ///< per tensor, tracked values (fully known)
};

/// `input_dims[i]` are the dims of g.inputs[i]. `where` is added to error messages (e.g. "profile 0
/// max shapes"). Errors name the layer, and shapes that stay unknown (data-dependent) are refused.
Expected<ResolvedShapes> resolve_shapes(const Graph& g, std::span<const Dims> input_dims,
                                        const std::string& where);

}  // namespace kiln::ir
