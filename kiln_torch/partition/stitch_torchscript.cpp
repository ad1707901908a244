// Rebuilds a TorchScript module from a partition: PyTorch nodes are cloned, each Kiln segment
// becomes prim::GetAttr(engine) -> kiln::execute_engine(inputs, engine) -> prim::ListUnpack, and
// every engine is a module attribute (so it is saved with torch.jit.save).
#include "partition/stitch_torchscript.h"

#include <torch/csrc/jit/passes/dead_code_elimination.h>

#include <atomic>
#include <cctype>
#include <set>

#include "runtime/engine_class.h"

namespace kiln::bridge {
namespace {

std::atomic<int> g_module_counter{0};

Status serr(const std::string& msg) {
  return make_error(StatusCode::kInternal, "frontend.stitch", msg);
}

// Argument names must be identifiers ("x.1" is a debug name, not a Python name).
std::string arg_name(const torch::jit::Value* v, size_t i, std::set<std::string>& used) {
  std::string base = v->hasDebugName() ? v->debugName() : "";
  base = base.substr(0, base.find('.'));
  for (char& c : base)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') c = '_';
  if (base.empty() || std::isdigit(static_cast<unsigned char>(base[0])))
    base = "input_" + std::to_string(i);
  std::string name = base;
  for (int k = 1; used.count(name); ++k) name = base + "_" + std::to_string(k);
  used.insert(name);
  return name;
}

c10::FunctionSchema schema_of(const std::string& name, const torch::jit::Graph& g) {
  std::vector<c10::Argument> args, rets;
  std::set<std::string> used;
  for (size_t i = 0; i < g.inputs().size(); ++i)
    args.emplace_back(arg_name(g.inputs()[i], i, used), g.inputs()[i]->type());
  for (size_t i = 0; i < g.outputs().size(); ++i) rets.emplace_back("", g.outputs()[i]->type());
  return c10::FunctionSchema(name, "", std::move(args), std::move(rets));
}

}  // namespace

Expected<torch::jit::Module> stitch_impl(const ImportedGraph& ig, const PartitionResult& r,
                                         const std::string& method);

Expected<torch::jit::Module> stitch_torchscript(const ImportedGraph& ig, const PartitionResult& r,
                                                const std::string& method) {
  try {
    return stitch_impl(ig, r, method);
  } catch (const std::exception& e) {
    return serr(std::string("building the compiled module failed: ") + e.what());
  }
}

Expected<torch::jit::Module> stitch_impl(const ImportedGraph& ig, const PartitionResult& r,
                                         const std::string& method) {
  const OpGraph& og = ig.graph;
  torch::jit::Module mod(
      c10::QualifiedName("__torch__.kiln.CompiledModule_" + std::to_string(g_module_counter++)));
  auto g = std::make_shared<torch::jit::Graph>();
  torch::jit::Value* self = g->addInput("self");
  self->setType(mod.type());

  std::map<const torch::jit::Value*, torch::jit::Value*> vmap;  // old TS value -> new value
  const auto& old_inputs = ig.ts_graph->inputs();
  for (size_t i = 1; i < old_inputs.size(); ++i) {
    torch::jit::Value* v =
        g->addInput(old_inputs[i]->hasDebugName() ? old_inputs[i]->debugName() : "");
    v->setType(old_inputs[i]->type());
    vmap[old_inputs[i]] = v;
  }
  std::function<torch::jit::Value*(torch::jit::Value*)> lookup =
      [&](torch::jit::Value* v) -> torch::jit::Value* {
    auto it = vmap.find(v);
    if (it != vmap.end()) return it->second;
    if (v->node()->kind() == c10::prim::Constant) {
      torch::jit::Node* c = g->insertNode(g->createClone(v->node(), lookup));
      vmap[v] = c->output();
      return c->output();
    }
    return nullptr;
  };

  // Segment lookup per node.
  std::vector<int> seg_of(og.nodes.size(), -1);
  for (size_t s = 0; s < r.segments.size(); ++s)
    for (int n : r.segments[s].nodes) seg_of[static_cast<size_t>(n)] = static_cast<int>(s);
  std::vector<bool> emitted(r.segments.size(), false);

  for (size_t i = 0; i < og.nodes.size(); ++i) {
    const Node& n = og.nodes[i];
    auto* tsn = static_cast<torch::jit::Node*>(n.frontend_node);
    int s = seg_of[i];
    if (s >= 0 && r.segments[static_cast<size_t>(s)].kiln) {
      const Segment& seg = r.segments[static_cast<size_t>(s)];
      if (emitted[static_cast<size_t>(s)]) continue;
      emitted[static_cast<size_t>(s)] = true;
      auto plan = at::empty({static_cast<int64_t>(seg.plan.size())}, at::kByte);
      std::memcpy(plan.data_ptr(), seg.plan.data(), seg.plan.size());
      c10::intrusive_ptr<TorchEngine> engine;
      try {
        engine =
            c10::make_intrusive<TorchEngine>(plan, seg.input_names, seg.output_names, seg.name);
      } catch (const std::exception& e) {
        return make_error(StatusCode::kBackendError, "frontend.stitch", e.what());
      }
      std::string attr = "__" + seg.name;
      mod.register_attribute(attr, c10::getCustomClassType<c10::intrusive_ptr<TorchEngine>>(),
                             c10::IValue(engine));
      torch::jit::Value* eng = g->insertNode(g->createGetAttr(self, attr))->output();
      std::vector<torch::jit::Value*> ins;
      for (int v : seg.inputs) {
        torch::jit::Value* nv =
            lookup(const_cast<torch::jit::Value*>(ig.ts_value[static_cast<size_t>(v)]));
        if (nv == nullptr)
          return serr("engine input '" + og.values[static_cast<size_t>(v)].name +
                      "' is not available");
        ins.push_back(nv);
      }
      torch::jit::Value* list = g->insertNode(g->createList(c10::TensorType::get(), ins))->output();
      torch::jit::Node* call =
          g->create(c10::Symbol::fromQualString("kiln::execute_engine"), {list, eng}, 1);
      call->output()->setType(c10::ListType::ofTensors());
      g->insertNode(call);
      torch::jit::Node* unpack =
          g->insertNode(g->createListUnpack(call->output(), seg.outputs.size()));
      for (size_t k = 0; k < seg.outputs.size(); ++k) {
        const torch::jit::Value* old = ig.ts_value[static_cast<size_t>(seg.outputs[k])];
        unpack->outputs()[k]->setType(old->type());
        if (old->hasDebugName()) unpack->outputs()[k]->setDebugName(old->debugName());
        vmap[old] = unpack->outputs()[k];
      }
      continue;
    }
    bool evaluator = s < 0;
    if (evaluator) {
      bool needed = false;
      for (int o : n.outputs) needed |= r.torch_needed[static_cast<size_t>(o)];
      if (!needed) continue;
    }
    bool inputs_ready = true;
    for (torch::jit::Value* v : tsn->inputs()) inputs_ready &= lookup(v) != nullptr;
    if (!inputs_ready) {
      if (evaluator)
        continue;  // the values it needs live inside an engine; nothing on this side uses it
      return serr("inputs of PyTorch node " + n.source + " are not available");
    }
    torch::jit::Node* c = g->insertNode(g->createClone(tsn, lookup));
    for (size_t k = 0; k < tsn->outputs().size(); ++k) vmap[tsn->outputs()[k]] = c->outputs()[k];
  }
  for (const torch::jit::Value* v : ig.ts_graph->outputs()) {
    torch::jit::Value* nv = lookup(const_cast<torch::jit::Value*>(v));
    if (nv == nullptr) return serr("graph output '" + v->debugName() + "' is not available");
    g->registerOutput(nv);
  }
  torch::jit::EliminateDeadCode(g);
  try {
    g->lint();
    auto fn = mod._ivalue()->compilation_unit()->create_function(
        c10::QualifiedName(*mod.type()->name(), method), g);
    fn->setSchema(schema_of(method, *g));
    mod.type()->addMethod(fn);
  } catch (const std::exception& e) {
    return serr(std::string("building the compiled module failed: ") + e.what());
  }
  return mod;
}

}  // namespace kiln::bridge
