// Graph construction: adding inputs, constants and layers with immediate type inference.
#include "ir/graph.h"

#include <cstring>

#include "ir/shape_inference.h"

namespace kiln::ir {
namespace {

Status ir_error(StatusCode code, const std::string& msg) {
  return make_error(code, "ir.graph", msg);
}

}  // namespace

std::optional<ShapeValue> constant_shape_value(const TensorType& type,
                                               const std::vector<uint8_t>& bytes) {
  if (!is_trackable(type)) return std::nullopt;
  auto n = static_cast<size_t>(type.dims.volume());
  ShapeValue v(n);
  for (size_t i = 0; i < n; ++i) {
    switch (type.dtype) {
      case DataType::kInt64: {
        int64_t x;
        std::memcpy(&x, bytes.data() + i * 8, 8);
        v[i] = x;
        break;
      }
      case DataType::kInt32: {
        int32_t x;
        std::memcpy(&x, bytes.data() + i * 4, 4);
        v[i] = x;
        break;
      }
      default:
        v[i] = bytes[i] != 0;
        break;
    }
  }
  return v;
}

std::string Graph::layer_label(int32_t layer) const {
  if (layer < 0 || static_cast<size_t>(layer) >= layers.size()) return "<input>";
  const Layer& l = layers[static_cast<size_t>(layer)];
  return l.name + " (" + std::string(op_name(l.op)) + ")";
}

const Weight& Graph::constant_weight(const Layer& layer) const {
  return weights[static_cast<size_t>(std::get<ConstantParams>(layer.params).weight)];
}

int32_t Graph::find_io(const std::string& name) const {
  for (int32_t t : inputs)
    if (tensors[static_cast<size_t>(t)].name == name) return t;
  for (int32_t t : outputs)
    if (tensors[static_cast<size_t>(t)].name == name) return t;
  return -1;
}

Expected<int32_t> add_input(Graph& g, const std::string& name, const TensorType& type) {
  if (name.empty()) return ir_error(StatusCode::kInvalidArgument, "input name must not be empty");
  if (g.find_io(name) >= 0)
    return ir_error(StatusCode::kInvalidArgument,
                    "an input or output named '" + name + "' already exists");
  for (int64_t d : type.dims) {
    if (d < kDynamic)
      return ir_error(StatusCode::kInvalidArgument,
                      "input '" + name + "' has invalid dim " + std::to_string(d));
  }
  TensorDesc t;
  t.name = name;
  t.type = type;
  t.is_input = true;
  g.tensors.push_back(std::move(t));
  auto id = static_cast<int32_t>(g.tensors.size() - 1);
  g.inputs.push_back(id);
  return id;
}

Expected<int32_t> add_constant(Graph& g, const TensorType& type, std::vector<uint8_t> bytes,
                               std::string name) {
  if (!type.dims.is_static())
    return ir_error(StatusCode::kInvalidArgument,
                    "constant dims must be static, got " + type.dims.to_string());
  auto want = static_cast<uint64_t>(type.dims.volume()) * dtype_size(type.dtype);
  if (bytes.size() != want) {
    return ir_error(StatusCode::kInvalidArgument, "constant " + type.dims.to_string() + " needs " +
                                                      std::to_string(want) + " bytes, got " +
                                                      std::to_string(bytes.size()));
  }
  auto value = constant_shape_value(type, bytes);
  g.weights.push_back(Weight{type, std::make_shared<const std::vector<uint8_t>>(std::move(bytes))});
  Layer l;
  l.op = OpKind::kConstant;
  l.params = ConstantParams{static_cast<int64_t>(g.weights.size() - 1)};
  l.name = name.empty() ? "constant_" + std::to_string(g.layers.size()) : std::move(name);
  TensorDesc t;
  t.name = l.name;
  t.type = type;
  t.producer = static_cast<int32_t>(g.layers.size());
  t.value = std::move(value);
  g.tensors.push_back(std::move(t));
  auto id = static_cast<int32_t>(g.tensors.size() - 1);
  l.outputs = {id};
  g.layers.push_back(std::move(l));
  return id;
}

Expected<std::vector<int32_t>> add_layer(Graph& g, OpKind op, LayerParams params,
                                         std::vector<int32_t> inputs, std::string name) {
  if (op == OpKind::kConstant)
    return ir_error(StatusCode::kInvalidArgument, "use add_constant for constant layers");
  Layer l;
  l.op = op;
  l.params = std::move(params);
  l.inputs = std::move(inputs);
  l.name = name.empty() ? std::string(op_name(op)) + "_" + std::to_string(g.layers.size())
                        : std::move(name);
  std::string label = l.name + " (" + std::string(op_name(op)) + ")";
  std::vector<InferInput> ins(l.inputs.size());
  for (size_t i = 0; i < l.inputs.size(); ++i) {
    int32_t id = l.inputs[i];
    if (id == -1) continue;
    if (id < 0 || static_cast<size_t>(id) >= g.tensors.size()) {
      return ir_error(StatusCode::kInvalidArgument,
                      "layer '" + label + "': input " + std::to_string(i) + " refers to tensor " +
                          std::to_string(id) + " which does not exist in this network");
    }
    const TensorDesc& t = g.tensors[static_cast<size_t>(id)];
    ins[i].type = &t.type;
    ins[i].value = t.value ? &*t.value : nullptr;
  }
  KILN_ASSIGN_OR_RETURN(auto r, infer_layer(l, ins, label));
  auto layer_index = static_cast<int32_t>(g.layers.size());
  std::vector<int32_t> outs;
  for (size_t i = 0; i < r.types.size(); ++i) {
    TensorDesc t;
    t.name = r.types.size() == 1 ? l.name : l.name + ":" + std::to_string(i);
    t.type = r.types[i];
    t.producer = layer_index;
    t.producer_output = static_cast<int32_t>(i);
    t.value = std::move(r.values[i]);
    g.tensors.push_back(std::move(t));
    outs.push_back(static_cast<int32_t>(g.tensors.size() - 1));
  }
  l.outputs = outs;
  g.layers.push_back(std::move(l));
  return outs;
}

}  // namespace kiln::ir
