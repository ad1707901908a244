// Shape resolution over the whole graph (the builder at profile bounds, the runtime per run).
#include "ir/shape_resolver.h"

#include <algorithm>

#include "ir/shape_inference.h"

namespace kiln::ir {

Expected<ResolvedShapes> resolve_shapes(const ir::Graph& g, std::span<const Dims> input_dims,
                                        const std::string& where) {
  auto fail = [&](StatusCode code, const std::string& msg) {
    // Tag kept from when this lived in runtime/ (messages unchanged).
    return make_error(code, "runtime.shapes", msg + (where.empty() ? "" : " (" + where + ")"));
  };
  ResolvedShapes r;
  r.types.resize(g.tensors.size());
  r.values.resize(g.tensors.size());
  if (input_dims.size() != g.inputs.size())
    return fail(StatusCode::kInternal, "input count mismatch");
  for (size_t i = 0; i < g.inputs.size(); ++i) {
    auto t = static_cast<size_t>(g.inputs[i]);
    r.types[t] = TensorType{g.tensors[t].type.dtype, input_dims[i]};
  }
  for (const ir::Layer& l : g.layers) {
    if (l.op == ir::OpKind::kConstant) {
      const ir::Weight& w = g.constant_weight(l);
      auto t = static_cast<size_t>(l.outputs[0]);
      r.types[t] = w.type;
      r.values[t] = ir::constant_shape_value(w.type, *w.bytes);
      continue;
    }
    std::vector<ir::InferInput> ins(l.inputs.size());
    for (size_t i = 0; i < l.inputs.size(); ++i) {
      if (l.inputs[i] < 0) continue;
      auto t = static_cast<size_t>(l.inputs[i]);
      ins[i].type = &r.types[t];
      ins[i].value = r.values[t] ? &*r.values[t] : nullptr;
      if (ir::is_shape_operand(l.op, static_cast<int>(i)) &&
          (!r.values[t] || std::find(r.values[t]->begin(), r.values[t]->end(), ir::kUnknownValue) !=
                               r.values[t]->end())) {
        return fail(StatusCode::kUnsupported,
                    "layer '" + l.name + "' (" + std::string(ir::op_name(l.op)) +
                        "): shape operand " + std::to_string(i) + " ('" + g.tensors[t].name +
                        "') depends on tensor data, not only on input shapes");
      }
    }
    auto res = ir::infer_layer(l, ins, l.name + " (" + std::string(ir::op_name(l.op)) + ")");
    if (!res) return fail(res.status().code(), res.status().message());
    for (size_t o = 0; o < l.outputs.size(); ++o) {
      const TensorType& t = res->types[o];
      if (!t.dims.is_static()) {
        return fail(StatusCode::kShapeError,
                    "layer '" + l.name + "' (" + std::string(ir::op_name(l.op)) +
                        "): output dims " + t.dims.to_string() + " could not be resolved");
      }
      auto id = static_cast<size_t>(l.outputs[o]);
      const Dims& built = g.tensors[id].type.dims;
      for (int d = 0; d < built.rank() && d < t.dims.rank(); ++d) {
        if (built[d] >= 0 && built[d] != t.dims[d]) {
          return fail(StatusCode::kShapeError,
                      "layer '" + l.name + "' (" + std::string(ir::op_name(l.op)) + "): output '" +
                          g.tensors[id].name + "' resolved to " + t.dims.to_string() +
                          " but was built as " + built.to_string());
        }
      }
      r.types[id] = t;
      r.values[id] = std::move(res->values[o]);
    }
  }
  return r;
}

}  // namespace kiln::ir
