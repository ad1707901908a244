// GraphRewriter: passes rebuild the graph layer by layer into a new one (copy, replace, insert), so
// every layer is re-inferred and topological order holds by construction. finish() restores the
// outputs' names and dtypes (inserting a cast where a pass changed an output's dtype, and an
// identity where an output became a constant, an input alias or a duplicate).
#pragma once

#include <string>
#include <vector>

#include "ir/graph.h"
#include "kiln/status.h"

namespace kiln::passes {

class GraphRewriter {
 public:
  explicit GraphRewriter(const ir::Graph& src);

  const ir::Graph& src() const { return src_; }
  ir::Graph& dst() { return dst_; }
  int32_t map(int32_t old_tensor) const {
    return old_tensor < 0 ? -1 : map_[static_cast<size_t>(old_tensor)];
  }
  void set_map(int32_t old_tensor, int32_t new_tensor) {
    map_[static_cast<size_t>(old_tensor)] = new_tensor;
  }

  /// Copies source layer `index` reading `inputs` (already in dst; empty: the mapped originals).
  /// Keeps the layer's name, precision and its outputs' names; maps its outputs.
  Status copy_layer(size_t index, std::vector<int32_t> inputs = {});
  /// Adds a new layer to dst.
  Expected<std::vector<int32_t>> add(ir::OpKind op, ir::LayerParams params,
                                     std::vector<int32_t> inputs, std::string name);
  /// Adds a constant holding `bytes` and maps source tensor `replaces` (if >= 0) to it.
  Expected<int32_t> add_constant(const TensorType& type,
                                 std::shared_ptr<const std::vector<uint8_t>> bytes,
                                 std::string name, int32_t replaces = -1);
  /// A cast of dst tensor `t` to `dt` (reused when asked again).
  Expected<int32_t> cast(int32_t t, DataType dt);

  Expected<ir::Graph> finish();

 private:
  const ir::Graph& src_;
  ir::Graph dst_;
  std::vector<int32_t> map_;
  std::vector<std::pair<std::pair<int32_t, DataType>, int32_t>> casts_;
};

/// True if dst tensor t is produced by a constant layer.
bool is_constant(const ir::Graph& g, int32_t t);
/// The layer producing tensor t, or nullptr (inputs, t < 0).
const ir::Layer* producer_of(const ir::Graph& g, int32_t t);
/// The weight of a float constant tensor t, or nullptr (not a constant, not float, no bytes).
const ir::Weight* float_constant_weight(const ir::Graph& g, int32_t t);
/// Readers of each tensor (layer inputs); network outputs count 1000 more, so a pattern never
/// treats one as an internal intermediate.
std::vector<int> reader_counts(const ir::Graph& g);

}  // namespace kiln::passes
