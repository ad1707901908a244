// Graph verification.
#include "ir/verifier.h"

#include <set>
#include <string>

#include "ir/shape_inference.h"

namespace kiln::ir {
namespace {

Status verr(const std::string& msg) {
  return make_error(StatusCode::kInvalidArgument, "ir.verifier", msg);
}

std::string type_str(const TensorType& t) {
  return std::string(dtype_name(t.dtype)) + t.dims.to_string();
}

bool valid_dtype(DataType d) { return static_cast<int>(d) < kNumDataTypes; }

// A layer that writes into its input 0 (kv_cache_write) must own that memory: a network input read
// by no other layer but shape layers (else a reader could see the cache before or after the write
// depending on the kernel order), and its output is no network output (outputs own the user's
// memory).
Status check_in_place(const Graph& g) {
  std::vector<int> readers(g.tensors.size(), 0);
  for (const Layer& l : g.layers) {
    if (l.op == OpKind::kShape) continue;  // reads dims only, never the data
    for (int32_t id : l.inputs)
      if (id >= 0) ++readers[static_cast<size_t>(id)];
  }
  for (const Layer& l : g.layers) {
    if (!has_flag(l.op, kFlagInPlace)) continue;
    if (l.inputs.empty() || l.inputs[0] < 0) return verr("layer '" + l.name + "' has no target");
    const TensorDesc& target = g.tensors[static_cast<size_t>(l.inputs[0])];
    if (!target.is_input)
      return verr("layer '" + l.name + "' (" + std::string(op_name(l.op)) + ") writes into '" +
                  target.name + "', which is not a network input");
    if (readers[static_cast<size_t>(l.inputs[0])] != 1)
      return verr("network input '" + target.name + "' is written in place by layer '" + l.name +
                  "' and read by another layer");
    if (g.tensors[static_cast<size_t>(l.outputs[0])].is_output)
      return verr("layer '" + l.name + "' writes in place; its output cannot be a network output");
  }
  return {};
}

Status check_structure(const Graph& g) {
  const size_t nt = g.tensors.size();
  std::vector<int> defined(nt, 0);  // 0 undefined, 1 defined
  std::vector<int> producers(nt, 0);
  for (const TensorDesc& t : g.tensors) {
    if (!valid_dtype(t.type.dtype)) return verr("tensor '" + t.name + "' has an invalid dtype");
    if (t.type.dims.rank() < 0 || t.type.dims.rank() > kMaxRank)
      return verr("tensor '" + t.name + "' has an invalid rank");
  }
  std::set<std::string> io_names;
  for (int32_t id : g.inputs) {
    if (id < 0 || static_cast<size_t>(id) >= nt)
      return verr("input index " + std::to_string(id) + " out of range");
    const TensorDesc& t = g.tensors[static_cast<size_t>(id)];
    if (!t.is_input || t.producer != -1)
      return verr("tensor '" + t.name + "' listed as input is not an input");
    if (!io_names.insert(t.name).second)
      return verr("duplicate input/output name '" + t.name + "'");
    if (defined[static_cast<size_t>(id)]) return verr("input '" + t.name + "' listed twice");
    defined[static_cast<size_t>(id)] = 1;
  }
  for (size_t li = 0; li < g.layers.size(); ++li) {
    const Layer& l = g.layers[li];
    auto op_index = static_cast<int>(l.op);
    if (op_index < 0 || op_index >= kNumOps)
      return verr("layer " + std::to_string(li) + " has an invalid op");
    if (params_kind(l.params) != l.op)
      return verr("layer '" + l.name + "' params do not match its op");
    if (l.precision && !valid_dtype(*l.precision))
      return verr("layer '" + l.name + "' has an invalid precision");
    for (size_t i = 0; i < l.inputs.size(); ++i) {
      int32_t id = l.inputs[i];
      if (id == -1) continue;
      if (id < 0 || static_cast<size_t>(id) >= nt)
        return verr("layer '" + l.name + "' input " + std::to_string(i) +
                    " refers to missing tensor " + std::to_string(id));
      if (!defined[static_cast<size_t>(id)]) {
        return verr("layer '" + l.name + "' input " + std::to_string(i) + " ('" +
                    g.tensors[static_cast<size_t>(id)].name +
                    "') is used before it is produced (dangling or cyclic)");
      }
    }
    if (l.outputs.empty()) return verr("layer '" + l.name + "' has no outputs");
    for (size_t o = 0; o < l.outputs.size(); ++o) {
      int32_t id = l.outputs[o];
      if (id < 0 || static_cast<size_t>(id) >= nt)
        return verr("layer '" + l.name + "' output refers to missing tensor");
      const TensorDesc& t = g.tensors[static_cast<size_t>(id)];
      if (t.producer != static_cast<int32_t>(li) || t.producer_output != static_cast<int32_t>(o))
        return verr("tensor '" + t.name + "' does not record layer '" + l.name +
                    "' as its producer");
      if (++producers[static_cast<size_t>(id)] > 1 || defined[static_cast<size_t>(id)])
        return verr("tensor '" + t.name + "' is produced more than once");
      defined[static_cast<size_t>(id)] = 1;
    }
    if (l.op == OpKind::kConstant) {
      int64_t w = std::get<ConstantParams>(l.params).weight;
      if (w < 0 || static_cast<size_t>(w) >= g.weights.size())
        return verr("constant '" + l.name + "' refers to a missing weight");
      const Weight& wt = g.weights[static_cast<size_t>(w)];
      if (!wt.bytes || !wt.type.dims.is_static() ||
          wt.bytes->size() !=
              static_cast<uint64_t>(wt.type.dims.volume()) * dtype_size(wt.type.dtype))
        return verr("weight of constant '" + l.name + "' does not match its type");
      if (!(wt.type == g.tensors[static_cast<size_t>(l.outputs[0])].type))
        return verr("constant '" + l.name + "' output type differs from its weight");
    }
  }
  for (size_t i = 0; i < nt; ++i) {
    if (!defined[i]) return verr("tensor '" + g.tensors[i].name + "' is never produced (dangling)");
  }
  if (g.outputs.empty()) return verr("the network has no outputs (mark at least one)");
  std::vector<char> listed_input(nt, 0), listed_output(nt, 0);
  for (int32_t id : g.inputs) listed_input[static_cast<size_t>(id)] = 1;
  for (int32_t id : g.outputs) {
    if (id < 0 || static_cast<size_t>(id) >= nt)
      return verr("output index " + std::to_string(id) + " out of range");
    const TensorDesc& t = g.tensors[static_cast<size_t>(id)];
    if (!t.is_output) return verr("tensor '" + t.name + "' listed as output is not flagged as one");
    if (!io_names.insert(t.name).second)
      return verr("duplicate input/output name '" + t.name + "'");
    listed_output[static_cast<size_t>(id)] = 1;
  }
  // The flags must agree with the lists: the runtime gives memory to a tensor by them (found by
  // fuzzing: a produced tensor flagged as an input got neither a binding nor arena memory).
  for (size_t i = 0; i < nt; ++i) {
    const TensorDesc& t = g.tensors[i];
    if (t.is_input != (listed_input[i] != 0))
      return verr("tensor '" + t.name + "' is " +
                  (t.is_input ? "flagged as a network input but not listed as one"
                              : "listed as a network input but not flagged as one"));
    if (t.is_output != (listed_output[i] != 0))
      return verr("tensor '" + t.name + "' is " +
                  (t.is_output ? "flagged as a network output but not listed as one"
                               : "listed as a network output but not flagged as one"));
  }
  // Rows known only after the run (nonzero): such a tensor may only leave the network.
  for (const Layer& l : g.layers) {
    if (l.op != OpKind::kNonZero || l.outputs.empty()) continue;
    const TensorDesc& t = g.tensors[static_cast<size_t>(l.outputs[0])];
    bool read = false;
    for (const Layer& m : g.layers)
      for (int32_t i : m.inputs) read |= i == l.outputs[0];
    if (!t.is_output || read)
      return verr("tensor '" + t.name +
                  "' (nonzero indices) has data-dependent rows: it may only " +
                  "be a network output, not read by layers");
  }
  return check_in_place(g);
}

}  // namespace

namespace {
// Runs inference over every layer in order, propagating tracked values from constants and shapes;
// calls `sink(layer, result)` with each layer's result.
template <class Sink>
Status infer_all(const Graph& g, Sink&& sink) {
  std::vector<std::optional<ShapeValue>> vals(g.tensors.size());
  for (const Layer& l : g.layers) {
    if (l.op == OpKind::kConstant) {
      const Weight& w = g.constant_weight(l);
      vals[static_cast<size_t>(l.outputs[0])] = constant_shape_value(w.type, *w.bytes);
      continue;
    }
    std::vector<InferInput> ins(l.inputs.size());
    for (size_t i = 0; i < l.inputs.size(); ++i) {
      if (l.inputs[i] < 0) continue;
      auto id = static_cast<size_t>(l.inputs[i]);
      ins[i].type = &g.tensors[id].type;
      ins[i].value = vals[id] ? &*vals[id] : nullptr;
    }
    KILN_ASSIGN_OR_RETURN(auto r,
                          infer_layer(l, ins, l.name + " (" + std::string(op_name(l.op)) + ")"));
    if (r.types.size() != l.outputs.size())
      return verr("layer '" + l.name + "' has " + std::to_string(l.outputs.size()) +
                  " outputs, op gives " + std::to_string(r.types.size()));
    for (size_t o = 0; o < l.outputs.size(); ++o)
      vals[static_cast<size_t>(l.outputs[o])] = r.values[o];
    KILN_RETURN_IF_ERROR(sink(l, r));
  }
  return {};
}
}  // namespace

Status verify_graph(const Graph& g) {
  KILN_RETURN_IF_ERROR(check_structure(g));
  Status s = infer_all(g, [&](const Layer& l, const InferResult& r) -> Status {
    for (size_t o = 0; o < l.outputs.size(); ++o) {
      const TensorDesc& t = g.tensors[static_cast<size_t>(l.outputs[o])];
      if (!(t.type == r.types[o])) {
        return verr("tensor '" + t.name + "' records type " + type_str(t.type) + " but layer '" +
                    l.name + "' infers " + type_str(r.types[o]));
      }
    }
    return {};
  });
  if (!s.ok() && s.message().rfind("[ir.verifier]", 0) != 0)
    return make_error(s.code(), "ir.verifier", s.message());
  return s;
}

Status reinfer_types(Graph& g) {
  return infer_all(g, [&](const Layer& l, const InferResult& r) -> Status {
    for (size_t o = 0; o < l.outputs.size(); ++o) {
      TensorDesc& t = g.tensors[static_cast<size_t>(l.outputs[o])];
      t.type = r.types[o];
      t.value = r.values[o];
    }
    return {};
  });
}

}  // namespace kiln::ir
