// The engine's internal graph: tensors, layers in topological order, a weight table.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ir/op_table.h"
#include "kiln/status.h"
#include "kiln/types.h"

namespace kiln::ir {

/// Element value of a tracked small int tensor that is not known (yet).
inline constexpr int64_t kUnknownValue = INT64_MIN;
/// Values of a small int tensor (rank <= 1, at most kMaxTrackedValues elements), tracked through
/// shape arithmetic so that reshape/expand/slice/fill operands computed from shapes resolve.
using ShapeValue = std::vector<int64_t>;
inline constexpr int64_t kMaxTrackedValues = 64;

struct TensorDesc {
  std::string name;
  TensorType type;
  int32_t producer = -1;  ///< layer index; -1 for network inputs
  int32_t producer_output = 0;
  bool is_input = false;
  bool is_output = false;
  /// Values inferred at network-build time (partially known), if tracked.
  std::optional<ShapeValue> value;
};

struct Layer {
  OpKind op = OpKind::kIdentity;
  std::string name;
  std::vector<int32_t> inputs;  ///< tensor ids; -1 for an omitted optional input
  std::vector<int32_t> outputs;
  LayerParams params;
  /// Float type this layer computes in (set by the user or the precision pass); empty: as inputs.
  std::optional<DataType> precision;
  bool user_precision = false;  ///< precision was requested by the user: passes keep it
};

/// Constant data. Shared so copies of a graph (builder passes) do not copy weights.
struct Weight {
  TensorType type;
  std::shared_ptr<const std::vector<uint8_t>> bytes;
};

struct Graph {
  std::vector<TensorDesc> tensors;
  std::vector<Layer> layers;
  std::vector<Weight> weights;
  std::vector<int32_t> inputs;
  std::vector<int32_t> outputs;

  /// "conv1 (convolution)" for messages.
  std::string layer_label(int32_t layer) const;
  /// The weight backing a Constant layer.
  const Weight& constant_weight(const Layer& layer) const;
  int32_t find_io(const std::string& name) const;  ///< tensor id of an input/output, or -1
};

/// Adds a layer, inferring its outputs' types (and tracked values). Errors name the layer and
/// input.
Expected<std::vector<int32_t>> add_layer(Graph& g, OpKind op, LayerParams params,
                                         std::vector<int32_t> inputs, std::string name = {});

/// Adds a constant layer owning `bytes` (type.dims.volume() elements of type.dtype).
Expected<int32_t> add_constant(Graph& g, const TensorType& type, std::vector<uint8_t> bytes,
                               std::string name = {});

/// Tracked values of a constant, if its type is trackable.
std::optional<ShapeValue> constant_shape_value(const TensorType& type,
                                               const std::vector<uint8_t>& bytes);

/// Adds a network input.
Expected<int32_t> add_input(Graph& g, const std::string& name, const TensorType& type);

}  // namespace kiln::ir
