// TorchScript rewrites that remove structure which is static for a compiled module but that
// scripting keeps dynamic: dicts with constant keys, and checks on tensor ranks.
#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/passes/constant_propagation.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/csrc/jit/passes/lower_tuples.h>
#include <torch/csrc/jit/runtime/graph_iterator.h>

#include <algorithm>
#include <functional>
#include <map>
#include <optional>

#include "graph/torchscript_import.h"

namespace kiln::bridge {
namespace {

std::optional<std::string> const_str(torch::jit::Value* v) {
  auto iv = torch::jit::toIValue(v);
  if (!iv || !iv->isString()) return std::nullopt;
  return iv->toStringRef();
}

bool is_set_item(const torch::jit::Node* n, const torch::jit::Value* d) {
  return n->kind() == c10::aten::_set_item && n->inputs().size() == 3 && n->input(0) == d;
}

bool is_get_item(const torch::jit::Node* n, const torch::jit::Value* d) {
  return n->kind() == c10::aten::__getitem__ && n->inputs().size() == 2 && n->input(0) == d;
}

// Replays the dict's sets and gets in node order. With `apply` false it only checks that every use
// is a top-level set/get with a constant string key (or the return) and every get finds its key.
bool replay_dict(torch::jit::Graph& g, torch::jit::Node* dict, bool apply) {
  torch::jit::Value* d = dict->output();
  for (const torch::jit::Use& u : d->uses()) {
    torch::jit::Node* n = u.user;
    if (n == g.return_node()) continue;
    if (n->owningBlock() != g.block() || !(is_set_item(n, d) || is_get_item(n, d)) ||
        !const_str(n->input(1)))
      return false;
  }
  std::vector<std::string> order;  // first-insertion order, as Python dicts keep it
  std::map<std::string, torch::jit::Value*> current;
  std::vector<torch::jit::Node*> dead;
  for (size_t i = 0; i + 1 < dict->inputs().size(); i += 2) {  // {"k": v, ...}
    auto key = const_str(dict->input(i));
    if (!key) return false;
    if (!current.count(*key)) order.push_back(*key);
    current[*key] = dict->input(i + 1);
  }
  for (torch::jit::Node* n = dict->next(); n != g.return_node(); n = n->next()) {
    if (is_set_item(n, d)) {
      std::string key = *const_str(n->input(1));
      if (!current.count(key)) order.push_back(key);
      current[key] = n->input(2);
      dead.push_back(n);
    } else if (is_get_item(n, d)) {
      auto it = current.find(*const_str(n->input(1)));
      if (it == current.end()) return false;  // a KeyError at run time: leave it to PyTorch
      if (apply) n->output()->replaceAllUsesWith(it->second);
      dead.push_back(n);
    }
  }
  if (!apply) return true;
  if (d->hasUses()) {  // only the return is left
    const auto& type = d->type()->expectRef<c10::DictType>();
    torch::jit::WithInsertPoint guard(g.return_node());
    std::vector<torch::jit::Value*> keys, values;
    for (const std::string& k : order) {
      keys.push_back(g.insertConstant(k));
      values.push_back(current[k]);
    }
    torch::jit::Node* made =
        g.insertNode(g.createDict(type.getKeyType(), type.getValueType(), keys, values));
    for (size_t i = 0; i < g.return_node()->inputs().size(); ++i) {
      if (g.return_node()->input(i) == d) g.return_node()->replaceInput(i, made->output());
    }
  }
  for (auto it = dead.rbegin(); it != dead.rend(); ++it) (*it)->destroy();
  dict->destroy();
  return true;
}

}  // namespace

void forward_dict_items(torch::jit::Graph& g) {
  std::vector<torch::jit::Node*> dicts;
  for (torch::jit::Node* n : g.nodes()) {
    if ((n->kind() == c10::aten::dict && n->inputs().empty()) ||
        n->kind() == c10::prim::DictConstruct)
      dicts.push_back(n);
  }
  for (torch::jit::Node* d : dicts) {
    if (replay_dict(g, d, false)) replay_dict(g, d, true);
  }
}

bool fold_static_queries(ImportedGraph& ig, const c10::Device& device) {
  auto meta_of = [&](const torch::jit::Value* v) -> const TensorMeta* {
    auto it = ig.value_id.find(v);
    if (it == ig.value_id.end()) return nullptr;
    const Value& val = ig.graph.values[static_cast<size_t>(it->second)];
    return val.meta ? &*val.meta : nullptr;
  };
  auto rank_of = [&](const torch::jit::Value* v) -> std::optional<int64_t> {
    const TensorMeta* m = meta_of(v);
    if (m == nullptr) return std::nullopt;
    return static_cast<int64_t>(m->opt.size());
  };
  // The length of a list built from shapes: x.size(), x.shape[-2:], list(...), a + b, [a, b].
  std::function<std::optional<int64_t>(torch::jit::Value*)> length_of =
      [&](torch::jit::Value* l) -> std::optional<int64_t> {
    torch::jit::Node* n = l->node();
    if (n->kind() == c10::aten::size && n->inputs().size() == 1) return rank_of(n->input(0));
    if (n->kind() == c10::prim::ListConstruct) return static_cast<int64_t>(n->inputs().size());
    if (n->kind() == c10::aten::list && n->inputs().size() == 1) return length_of(n->input(0));
    if (n->kind() == c10::aten::add && n->inputs().size() == 2 &&
        n->output()->type()->kind() == c10::TypeKind::ListType) {
      auto a = length_of(n->input(0)), b = length_of(n->input(1));
      if (a && b) return *a + *b;
      return std::nullopt;
    }
    if (n->kind() == c10::aten::slice && n->inputs().size() == 4 &&
        n->output()->type()->kind() == c10::TypeKind::ListType) {
      auto size = length_of(n->input(0));
      auto start = torch::jit::toIValue(n->input(1)), end = torch::jit::toIValue(n->input(2)),
           step = torch::jit::toIValue(n->input(3));
      if (!size || !start || !end || !step || !step->isInt() || step->toInt() <= 0)
        return std::nullopt;
      auto bound = [&](const c10::IValue& v, int64_t dflt) -> std::optional<int64_t> {
        if (v.isNone()) return dflt;
        if (!v.isInt()) return std::nullopt;
        int64_t b = v.toInt() < 0 ? v.toInt() + *size : v.toInt();
        return std::clamp<int64_t>(b, 0, *size);
      };
      auto s = bound(*start, 0), e = bound(*end, *size);
      if (!s || !e) return std::nullopt;
      return *e > *s ? (*e - *s + step->toInt() - 1) / step->toInt() : 0;
    }
    return std::nullopt;
  };
  static const c10::Symbol kIsGradEnabled = c10::Symbol::fromQualString("aten::is_grad_enabled");
  static const c10::Symbol kIsNested = c10::Symbol::fromQualString("prim::is_nested");
  std::vector<std::pair<torch::jit::Value*, c10::IValue>> found;
  torch::jit::DepthFirstGraphNodeIterator walk(ig.ts_graph);
  for (torch::jit::Node* n = walk.next(); n != nullptr; n = walk.next()) {
    const auto k = n->kind();
    const size_t nin = n->inputs().size();
    if (k == c10::aten::dim && nin == 1) {
      if (auto r = rank_of(n->input(0))) found.emplace_back(n->output(), *r);
    } else if (k == c10::aten::len && nin == 1 &&
               n->input(0)->type()->kind() == c10::TypeKind::ListType) {
      if (auto r = length_of(n->input(0))) found.emplace_back(n->output(), *r);
    } else if ((k == c10::aten::__is__ || k == c10::aten::__isnot__) && nin == 2 &&
               n->input(0) == n->input(1)) {
      found.emplace_back(n->output(), k == c10::aten::__is__);  // `query is key` with one value
    } else if (k == kIsGradEnabled || k == c10::aten::is_autocast_enabled ||
               k == c10::aten::is_autocast_cpu_enabled) {
      // Engines run inference without autograd or autocast: PyTorch's inference paths (e.g. the
      // fused multi-head attention fast path) are the ones a compiled module stands for.
      if (nin == 0) found.emplace_back(n->output(), false);
    } else if (nin == 1 && meta_of(n->input(0)) != nullptr) {
      // Properties of a tensor the shape analysis saw: dense, on the compile device, of a known
      // dtype.
      if (k == kIsNested || k == c10::prim::requires_grad) found.emplace_back(n->output(), false);
      if (k == c10::prim::device) found.emplace_back(n->output(), device);
      if (k == c10::prim::is_cuda) found.emplace_back(n->output(), device.is_cuda());
      if (k == c10::prim::dtype)
        found.emplace_back(n->output(), static_cast<int64_t>(meta_of(n->input(0))->dtype));
    }
  }
  if (found.empty()) return false;
  torch::jit::Graph& g = *ig.ts_graph;
  {
    torch::jit::WithInsertPoint guard(g.block()->nodes().front());
    for (auto& [v, c] : found) v->replaceAllUsesWith(g.insertConstant(c));
  }
  // Queries DCE keeps (grad/autocast mode count as side effects) go now that nothing reads them.
  for (auto& [v, c] : found) {
    if (!v->node()->hasUses()) v->node()->destroy();
  }
  try {
    torch::jit::ConstantPropagation(ig.ts_graph);
    torch::jit::LowerSimpleTuples(ig.ts_graph);  // branches that returned tuples are inlined now
    torch::jit::EliminateDeadCode(ig.ts_graph);
  } catch (const std::exception&) {
    // Best effort: checks that do not fold stay (and run in PyTorch).
  }
  return true;
}

}  // namespace kiln::bridge
