// OpGraph: the frontend-neutral graph of aten ops. The TorchScript importer (C++) and the FX /
// torch.export importer (Python) both produce it; one converter library and one partitioner
// consume it. Nodes are named by their overload-qualified schema name ("aten::add.Tensor",
// "aten::convolution"), which is the same in both worlds.
#pragma once

#include <ATen/core/ivalue.h>

#include <optional>
#include <string>
#include <vector>

namespace kiln::bridge {

enum class ValueKind : uint8_t {
  kTensor,
  kInt,
  kFloat,
  kBool,
  kNone,
  kString,
  kDevice,
  kScalarType,
  kIntList,
  kFloatList,
  kBoolList,
  kTensorList,
  kOptionalTensorList,
  kTuple,
  kOther,
};
const char* value_kind_name(ValueKind k);

/// Shapes of a tensor value at the min/opt/max input shapes (from the frontend's shape analysis).
struct TensorMeta {
  at::ScalarType dtype = at::kFloat;
  std::vector<int64_t> min, opt, max;
  bool dynamic() const { return min != max; }
};

struct Value {
  std::string name;
  ValueKind kind = ValueKind::kOther;
  std::optional<c10::IValue> constant;  ///< known at compile time (weights, ints, lists, None, ...)
  int producer = -1;                    ///< node index; -1 for graph inputs and constants
  std::optional<TensorMeta> meta;       ///< tensors (and ints, as 0-d) with known shapes
};

struct Node {
  std::string op;           ///< "aten::add.Tensor", "prim::ListConstruct", ...
  std::vector<int> inputs;  ///< value ids, all schema arguments in order (defaults filled)
  std::vector<int> outputs;
  std::string source;  ///< printable form for messages
  /// Frontend cookie: the TorchScript node or the FX node index.
  void* frontend_node = nullptr;
  int64_t frontend_index = -1;
  /// Values read inside nested blocks (prim::If/Loop) that are defined outside; treated as inputs.
  std::vector<int> captured;
};

struct OpGraph {
  std::vector<Value> values;
  std::vector<Node> nodes;
  std::vector<int> inputs;
  std::vector<int> outputs;

  int add_value(Value v);
  bool is_constant(int v) const {
    return v >= 0 && values[static_cast<size_t>(v)].constant.has_value();
  }
  /// Multi-line dump (for debugging and tests).
  std::string to_string() const;
};

/// Kiln DataType <-> torch ScalarType (converters/dtype_map.h; nullopt where Kiln has none, e.g.
/// complex; float64 and int16 exist for the CPU backend only).
}  // namespace kiln::bridge
