// GraphRewriter implementation.
#include "passes/graph_rewriter.h"

namespace kiln::passes {

bool is_constant(const ir::Graph& g, int32_t t) {
  if (t < 0) return false;
  int32_t p = g.tensors[static_cast<size_t>(t)].producer;
  return p >= 0 && g.layers[static_cast<size_t>(p)].op == ir::OpKind::kConstant;
}

const ir::Weight* float_constant_weight(const ir::Graph& g, int32_t t) {
  const ir::Layer* l = producer_of(g, t);
  if (l == nullptr || l->op != ir::OpKind::kConstant) return nullptr;
  const ir::Weight& w = g.weights[static_cast<size_t>(std::get<ConstantParams>(l->params).weight)];
  return w.bytes && is_floating(w.type.dtype) ? &w : nullptr;
}

const ir::Layer* producer_of(const ir::Graph& g, int32_t t) {
  int32_t p = t < 0 ? -1 : g.tensors[static_cast<size_t>(t)].producer;
  return p < 0 ? nullptr : &g.layers[static_cast<size_t>(p)];
}

std::vector<int> reader_counts(const ir::Graph& g) {
  std::vector<int> readers(g.tensors.size(), 0);
  for (const auto& l : g.layers)
    for (int32_t t : l.inputs)
      if (t >= 0) ++readers[static_cast<size_t>(t)];
  for (size_t t = 0; t < g.tensors.size(); ++t)
    if (g.tensors[t].is_output) readers[t] += 1000;
  return readers;
}

GraphRewriter::GraphRewriter(const ir::Graph& src) : src_(src), map_(src.tensors.size(), -1) {
  for (int32_t t : src.inputs) {
    const ir::TensorDesc& d = src.tensors[static_cast<size_t>(t)];
    auto id = ir::add_input(dst_, d.name, d.type);
    map_[static_cast<size_t>(t)] = id ? *id : -1;
  }
}

Status GraphRewriter::copy_layer(size_t index, std::vector<int32_t> inputs) {
  const ir::Layer& l = src_.layers[index];
  if (l.op == ir::OpKind::kConstant) {
    const ir::Weight& w = src_.constant_weight(l);
    KILN_ASSIGN_OR_RETURN(auto id, add_constant(w.type, w.bytes, l.name, l.outputs[0]));
    dst_.tensors[static_cast<size_t>(id)].name =
        src_.tensors[static_cast<size_t>(l.outputs[0])].name;
    return {};
  }
  if (inputs.empty()) {
    for (int32_t i : l.inputs) inputs.push_back(map(i));
  }
  KILN_ASSIGN_OR_RETURN(auto outs, ir::add_layer(dst_, l.op, l.params, std::move(inputs), l.name));
  ir::Layer& nl = dst_.layers.back();
  nl.precision = l.precision;
  nl.user_precision = l.user_precision;
  for (size_t o = 0; o < l.outputs.size() && o < outs.size(); ++o) {
    dst_.tensors[static_cast<size_t>(outs[o])].name =
        src_.tensors[static_cast<size_t>(l.outputs[o])].name;
    map_[static_cast<size_t>(l.outputs[o])] = outs[o];
  }
  return {};
}

Expected<std::vector<int32_t>> GraphRewriter::add(ir::OpKind op, ir::LayerParams params,
                                                  std::vector<int32_t> inputs, std::string name) {
  return ir::add_layer(dst_, op, std::move(params), std::move(inputs), std::move(name));
}

Expected<int32_t> GraphRewriter::add_constant(const TensorType& type,
                                              std::shared_ptr<const std::vector<uint8_t>> bytes,
                                              std::string name, int32_t replaces) {
  dst_.weights.push_back(ir::Weight{type, bytes});
  ir::Layer l;
  l.op = ir::OpKind::kConstant;
  l.params = ConstantParams{static_cast<int64_t>(dst_.weights.size() - 1)};
  l.name = std::move(name);
  ir::TensorDesc t;
  t.name = l.name;
  t.type = type;
  t.producer = static_cast<int32_t>(dst_.layers.size());
  t.value = ir::constant_shape_value(type, *bytes);
  dst_.tensors.push_back(std::move(t));
  auto id = static_cast<int32_t>(dst_.tensors.size() - 1);
  l.outputs = {id};
  dst_.layers.push_back(std::move(l));
  if (replaces >= 0) map_[static_cast<size_t>(replaces)] = id;
  return id;
}

Expected<int32_t> GraphRewriter::cast(int32_t t, DataType dt) {
  if (dst_.tensors[static_cast<size_t>(t)].type.dtype == dt) return t;
  for (const auto& [key, id] : casts_)
    if (key.first == t && key.second == dt) return id;
  std::string name =
      dst_.tensors[static_cast<size_t>(t)].name + "/cast_" + std::string(dtype_name(dt));
  KILN_ASSIGN_OR_RETURN(auto r, ir::add_layer(dst_, ir::OpKind::kCast, CastParams{dt}, {t}, name));
  casts_.push_back({{t, dt}, r[0]});
  return r[0];
}

Expected<ir::Graph> GraphRewriter::finish() {
  for (int32_t old : src_.outputs) {
    const ir::TensorDesc& od = src_.tensors[static_cast<size_t>(old)];
    int32_t t = map(old);
    if (t < 0)
      return make_error(StatusCode::kInternal, "passes.rewriter",
                        "output '" + od.name + "' was dropped");
    const ir::TensorDesc& nd = dst_.tensors[static_cast<size_t>(t)];
    if (nd.type.dtype != od.type.dtype) {
      KILN_ASSIGN_OR_RETURN(auto c,
                            ir::add_layer(dst_, ir::OpKind::kCast, CastParams{od.type.dtype}, {t},
                                          od.name + "/output_cast"));
      t = c[0];
    } else if (nd.is_input || nd.is_output || is_constant(dst_, t)) {
      KILN_ASSIGN_OR_RETURN(auto c, ir::add_layer(dst_, ir::OpKind::kIdentity, IdentityParams{},
                                                  {t}, od.name + "/output_copy"));
      t = c[0];
    }
    for (auto& other : dst_.tensors)
      if (other.name == od.name && &other != &dst_.tensors[static_cast<size_t>(t)] &&
          !other.is_input)
        other.name += "#";
    ir::TensorDesc& final_desc = dst_.tensors[static_cast<size_t>(t)];
    final_desc.name = od.name;
    final_desc.is_output = true;
    dst_.outputs.push_back(t);
  }
  return std::move(dst_);
}

}  // namespace kiln::passes
