// OpGraph helpers.
#include "graph/op_graph.h"

#include <sstream>

namespace kiln::bridge {

const char* value_kind_name(ValueKind k) {
  static const char* kNames[] = {"Tensor", "int",      "float",      "bool",  "None",
                                 "str",    "Device",   "ScalarType", "int[]", "float[]",
                                 "bool[]", "Tensor[]", "Tensor?[]",  "tuple", "other"};
  return kNames[static_cast<int>(k)];
}

int OpGraph::add_value(Value v) {
  values.push_back(std::move(v));
  return static_cast<int>(values.size() - 1);
}

std::string OpGraph::to_string() const {
  std::ostringstream os;
  auto val = [&](int v) -> std::string {
    if (v < 0) return "_";
    const Value& x = values[static_cast<size_t>(v)];
    if (x.constant && !x.constant->isTensor()) {
      std::ostringstream c;
      c << *x.constant;
      return c.str();
    }
    return "%" + x.name;
  };
  os << "graph(";
  for (size_t i = 0; i < inputs.size(); ++i) os << (i ? ", " : "") << val(inputs[i]);
  os << ")\n";
  for (const Node& n : nodes) {
    os << "  ";
    for (size_t i = 0; i < n.outputs.size(); ++i) os << (i ? ", " : "") << val(n.outputs[i]);
    os << " = " << n.op << "(";
    for (size_t i = 0; i < n.inputs.size(); ++i) os << (i ? ", " : "") << val(n.inputs[i]);
    os << ")\n";
  }
  os << "  return (";
  for (size_t i = 0; i < outputs.size(); ++i) os << (i ? ", " : "") << val(outputs[i]);
  os << ")\n";
  return os.str();
}

}  // namespace kiln::bridge
