// TorchScript import and shape analysis.
#include "graph/torchscript_import.h"

#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/passes/common_subexpression_elimination.h>
#include <torch/csrc/jit/passes/constant_pooling.h>
#include <torch/csrc/jit/passes/constant_propagation.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/csrc/jit/passes/inliner.h>
#include <torch/csrc/jit/passes/lower_tuples.h>
#include <torch/csrc/jit/passes/peephole.h>
#include <torch/csrc/jit/passes/remove_dropout.h>
#include <torch/csrc/jit/passes/remove_mutation.h>
#include <torch/csrc/jit/passes/shape_analysis.h>

#include <set>
#include <sstream>

namespace kiln::bridge {
namespace {

Status ierr(StatusCode code, const std::string& msg) {
  return make_error(code, "frontend.torchscript", msg);
}

ValueKind kind_of(const c10::TypePtr& type) {
  c10::TypePtr t = type;
  if (auto opt = t->cast<c10::OptionalType>()) t = opt->getElementType();
  switch (t->kind()) {
    case c10::TypeKind::TensorType:
      return ValueKind::kTensor;
    case c10::TypeKind::IntType:
      return ValueKind::kInt;
    case c10::TypeKind::SymIntType:
      return ValueKind::kInt;
    case c10::TypeKind::FloatType:
      return ValueKind::kFloat;
    case c10::TypeKind::NumberType:
      return ValueKind::kFloat;
    case c10::TypeKind::BoolType:
      return ValueKind::kBool;
    case c10::TypeKind::NoneType:
      return ValueKind::kNone;
    case c10::TypeKind::StringType:
      return ValueKind::kString;
    case c10::TypeKind::DeviceObjType:
      return ValueKind::kDevice;
    case c10::TypeKind::TupleType:
      return ValueKind::kTuple;
    case c10::TypeKind::ListType: {
      c10::TypePtr e = t->expectRef<c10::ListType>().getElementType();
      if (e->kind() == c10::TypeKind::IntType || e->kind() == c10::TypeKind::SymIntType)
        return ValueKind::kIntList;
      if (e->kind() == c10::TypeKind::FloatType) return ValueKind::kFloatList;
      if (e->kind() == c10::TypeKind::BoolType) return ValueKind::kBoolList;
      if (e->kind() == c10::TypeKind::TensorType) return ValueKind::kTensorList;
      if (auto o = e->cast<c10::OptionalType>();
          o && o->getElementType()->kind() == c10::TypeKind::TensorType)
        return ValueKind::kOptionalTensorList;
      return ValueKind::kOther;
    }
    default:
      return ValueKind::kOther;
  }
}

std::string source_of(const torch::jit::Node* n) {
  std::ostringstream os;
  n->print(os, 0, nullptr, false, false, false, false);
  std::string s = os.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  size_t start = s.find_first_not_of(' ');
  return start == std::string::npos ? s : s.substr(start);
}

// Outer values used inside a node's blocks.
void collect_captured(const torch::jit::Node* n, const std::set<const torch::jit::Value*>& inner,
                      std::vector<const torch::jit::Value*>& out) {
  for (const torch::jit::Block* b : n->blocks()) {
    std::set<const torch::jit::Value*> defined(inner);
    for (const torch::jit::Value* v : b->inputs()) defined.insert(v);
    for (const torch::jit::Node* m : b->nodes()) {
      for (const torch::jit::Value* v : m->inputs())
        if (!defined.count(v)) out.push_back(v);
      collect_captured(m, defined, out);
      for (const torch::jit::Value* v : m->outputs()) defined.insert(v);
    }
    for (const torch::jit::Value* v : b->outputs())
      if (!defined.count(v)) out.push_back(v);
  }
}

}  // namespace

std::string node_op_name(const torch::jit::Node* n) {
  std::string name = n->kind().toQualString();
  if (const c10::FunctionSchema* s = n->maybeSchema()) {
    if (!s->overload_name().empty()) name += "." + s->overload_name();
  }
  return name;
}

namespace {

// Gives graph inputs the ranks, dtypes and static dims of the specs and lets TorchScript fold what
// becomes constant (aten::dim, static aten::size, the prim::If they decide).
void specialize_to_inputs(std::shared_ptr<torch::jit::Graph>& g,
                          const std::vector<InputRange>& inputs, const c10::Device& device) {
  const auto& gi = g->inputs();
  for (size_t i = 0; i + 1 < gi.size() && i < inputs.size(); ++i) {
    if (gi[i + 1]->type()->kind() != c10::TypeKind::TensorType) continue;
    const InputRange& r = inputs[i];
    std::vector<std::optional<int64_t>> sizes;
    for (size_t d = 0; d < r.opt.size(); ++d) {
      if (r.min[d] == r.max[d]) {
        sizes.emplace_back(r.opt[d]);
      } else {
        sizes.emplace_back(std::nullopt);
      }
    }
    gi[i + 1]->setType(c10::TensorType::create(r.dtype, device, c10::VaryingShape<int64_t>(sizes),
                                               c10::VaryingShape<int64_t>(sizes.size()), false));
  }
  try {
    torch::jit::PropagateInputShapes(g);
    torch::jit::PeepholeOptimize(g, /*disable_shape_peepholes=*/false);
    torch::jit::ConstantPropagation(g);
    torch::jit::EliminateDeadCode(g);
  } catch (const std::exception&) {
    // Best effort: unfolded checks simply stay (and fall back to PyTorch).
  }
}

}  // namespace

Expected<ImportedGraph> import_torchscript(const torch::jit::Module& module,
                                           const std::string& method, const c10::Device& device,
                                           const std::vector<InputRange>* inputs) {
  ImportedGraph ig;
  try {
    torch::jit::Module m = module.clone();
    m.eval();
    m.to(device);
    if (!m.find_method(method))
      return ierr(StatusCode::kInvalidArgument, "module has no method '" + method + "'");
    torch::jit::removeDropout(m);
    ig.frozen = torch::jit::freeze(m, std::nullopt, /*optimize_numerics=*/true);
    auto fn = ig.frozen.get_method(method);
    std::shared_ptr<torch::jit::Graph> g =
        torch::jit::toGraphFunction(fn.function()).graph()->copy();
    torch::jit::Inline(*g);
    torch::jit::removeDropout(g);
    torch::jit::LowerSimpleTuples(g);
    torch::jit::RemoveListMutation(g);
    torch::jit::RemoveTensorMutation(g);
    torch::jit::ConstantPropagation(g);
    torch::jit::ConstantPooling(g);
    torch::jit::PeepholeOptimize(g, /*disable_shape_peepholes=*/true);
    torch::jit::EliminateCommonSubexpression(g);
    torch::jit::EliminateDeadCode(g);
    forward_dict_items(*g);
    if (inputs != nullptr) specialize_to_inputs(g, *inputs, device);
    ig.ts_graph = g;
  } catch (const std::exception& e) {
    return ierr(StatusCode::kInvalidArgument,
                std::string("lowering the TorchScript module failed: ") + e.what());
  }
  KILN_RETURN_IF_ERROR(build_op_graph(ig));
  return ig;
}

Status build_op_graph(ImportedGraph& ig) {
  ig.graph = OpGraph{};
  ig.value_id.clear();
  ig.ts_value.clear();
  OpGraph& og = ig.graph;
  auto value_for = [&](const torch::jit::Value* v) -> int {
    auto it = ig.value_id.find(v);
    if (it != ig.value_id.end()) return it->second;
    Value val;
    val.name = v->debugName();
    val.kind = kind_of(v->type());
    if (v->node()->kind() == c10::prim::Constant) {
      auto iv = torch::jit::toIValue(v);
      if (iv) val.constant = *iv;
      if (iv && iv->isNone()) val.kind = ValueKind::kNone;
    }
    int id = og.add_value(std::move(val));
    ig.value_id[v] = id;
    ig.ts_value.resize(og.values.size(), nullptr);
    ig.ts_value[static_cast<size_t>(id)] = v;
    return id;
  };
  const auto& graph_inputs = ig.ts_graph->inputs();
  for (size_t i = 1; i < graph_inputs.size(); ++i)
    og.inputs.push_back(value_for(graph_inputs[i]));  // 0 is self
  for (const torch::jit::Node* n : ig.ts_graph->nodes()) {
    if (n->kind() == c10::prim::Constant) continue;
    Node node;
    node.op = node_op_name(n);
    node.source = source_of(n);
    node.frontend_node = const_cast<torch::jit::Node*>(n);
    for (const torch::jit::Value* v : n->inputs()) {
      if (v == graph_inputs[0])
        return ierr(StatusCode::kUnsupported,
                    "node uses the module itself after freezing: " + node.source);
      node.inputs.push_back(value_for(v));
    }
    std::vector<const torch::jit::Value*> captured;
    collect_captured(n, {}, captured);
    for (const torch::jit::Value* v : captured) node.captured.push_back(value_for(v));
    int index = static_cast<int>(og.nodes.size());
    for (const torch::jit::Value* v : n->outputs()) {
      int id = value_for(v);
      og.values[static_cast<size_t>(id)].producer = index;
      node.outputs.push_back(id);
    }
    og.nodes.push_back(std::move(node));
  }
  for (const torch::jit::Value* v : ig.ts_graph->outputs()) og.outputs.push_back(value_for(v));
  return {};
}

Status analyze_shapes(ImportedGraph& ig, const std::vector<InputRange>& inputs,
                      const c10::Device& device) {
  OpGraph& og = ig.graph;
  if (inputs.size() != og.inputs.size()) {
    return ierr(StatusCode::kInvalidArgument,
                "the method takes " + std::to_string(og.inputs.size()) + " inputs but " +
                    std::to_string(inputs.size()) + " input specs were given");
  }
  // A copy of the graph that returns every top-level tensor value.
  std::shared_ptr<torch::jit::Graph> g = ig.ts_graph->copy();
  std::vector<int> recorded;  // OpGraph value ids, parallel to the returned tuple
  std::vector<torch::jit::Value*> rec_values;
  {
    // Map the copy's values back by position: same node order in both graphs.
    std::vector<const torch::jit::Value*> orig;
    std::vector<torch::jit::Value*> copy;
    for (size_t i = 0; i < ig.ts_graph->inputs().size(); ++i) {
      orig.push_back(ig.ts_graph->inputs()[i]);
      copy.push_back(g->inputs()[i]);
    }
    auto on = ig.ts_graph->nodes().begin();
    auto cn = g->nodes().begin();
    for (; on != ig.ts_graph->nodes().end() && cn != g->nodes().end(); ++on, ++cn) {
      for (size_t i = 0; i < on->outputs().size(); ++i) {
        orig.push_back(on->outputs()[i]);
        copy.push_back(cn->outputs()[i]);
      }
    }
    for (size_t i = 0; i < orig.size(); ++i) {
      auto it = ig.value_id.find(orig[i]);
      if (it == ig.value_id.end() || copy[i]->type()->kind() != c10::TypeKind::TensorType) continue;
      if (orig[i]->node()->kind() == c10::prim::Constant) continue;
      recorded.push_back(it->second);
      rec_values.push_back(copy[i]);
    }
  }
  while (g->outputs().size() > 0) g->eraseOutput(0);
  torch::jit::Node* tup = g->insertNode(g->createTuple(rec_values));
  g->registerOutput(tup->output());
  torch::jit::GraphFunction fn("kiln_shape_analysis", g, nullptr);

  static const char* kBound[] = {"min", "opt", "max"};
  std::vector<std::vector<std::vector<int64_t>>> shapes(3);
  std::vector<at::ScalarType> dtypes(recorded.size(), at::kFloat);
  std::vector<bool> unknown(recorded.size(), false);
  for (int which = 0; which < 3; ++which) {
    torch::jit::Stack stack;
    stack.emplace_back(ig.frozen._ivalue());
    for (size_t i = 0; i < inputs.size(); ++i) {
      const InputRange& r = inputs[i];
      const auto& shape = which == 0 ? r.min : which == 1 ? r.opt : r.max;
      auto opts = at::TensorOptions().dtype(r.dtype).device(device);
      at::Tensor t;
      if (at::isFloatingType(r.dtype)) {
        t = at::randn(shape, opts);
      } else if (r.dtype == at::kBool) {
        t = at::ones(shape, opts);
      } else {
        t = at::ones(shape, opts);  // valid token ids / indices / masks for typical models
      }
      stack.emplace_back(t);
    }
    try {
      at::NoGradGuard no_grad;
      fn.run(stack);
    } catch (const std::exception& e) {
      return ierr(StatusCode::kInvalidArgument, std::string("running the module at its ") +
                                                    kBound[which] +
                                                    " input shapes failed: " + e.what());
    }
    auto elems = stack.back().toTupleRef().elements();
    for (size_t i = 0; i < recorded.size(); ++i) {
      // A value in a branch that did not run comes back Uninitialized (or an undefined tensor):
      // it gets no shape, rather than a made-up rank-0 one.
      const bool known = elems[i].isTensor() && elems[i].toTensor().defined();
      if (!known) unknown[i] = true;
      shapes[static_cast<size_t>(which)].push_back(known ? elems[i].toTensor().sizes().vec()
                                                         : std::vector<int64_t>{});
      if (which == 1 && known) dtypes[i] = elems[i].toTensor().scalar_type();
    }
  }
  for (size_t i = 0; i < recorded.size(); ++i) {
    Value& v = og.values[static_cast<size_t>(recorded[i])];
    if (unknown[i]) continue;
    if (shapes[0][i].size() != shapes[2][i].size() || shapes[1][i].size() != shapes[2][i].size())
      continue;  // rank varies
    v.meta = TensorMeta{dtypes[i], shapes[0][i], shapes[1][i], shapes[2][i]};
  }
  return {};
}

}  // namespace kiln::bridge
