// Partition-time checks common to every converter (shape_args.h).
#include "partition/shape_args.h"

#include <torch/csrc/jit/runtime/operator.h>

#include <set>

namespace kiln::bridge {
namespace {

// Evaluators that read shapes, not data: the walk back from an int stops at them.
bool reads_shape_only(const std::string& op) {
  static const std::set<std::string> kOps = {
      "aten::size.int", "aten::size",           "prim::shape",        "aten::dim",
      "aten::numel",    "aten::sym_numel",      "aten::sym_size.int", "aten::sym_size",
      "aten::len.t",    "aten::sym_stride.int", "aten::sym_stride",   "aten::sym_storage_offset",
      "prim::dtype",    "prim::device",         "aten::stride.int",   "aten::stride"};
  return kOps.count(op) != 0;
}

// An int-like schema type: int / SymInt, a list of them, or an optional of either.
bool int_like(const c10::TypePtr& t) {
  if (!t) return false;
  if (t->kind() == c10::TypeKind::OptionalType)
    return int_like(t->expectRef<c10::OptionalType>().getElementType());
  if (t->kind() == c10::TypeKind::ListType)
    return t->expectRef<c10::ListType>().getElementType()->kind() == c10::TypeKind::IntType;
  return t->kind() == c10::TypeKind::IntType;
}

// Per input of `op`: whether it is a size or bound argument. Empty when torch has no schema for it
// (TorchScript-only prim ops): then every int or int-list input counts.
std::vector<bool> shape_like_inputs(const std::string& op, size_t num_inputs) {
  size_t ns = op.find("::");
  if (ns == std::string::npos) return {};
  size_t dot = op.find('.', ns + 2);
  c10::OperatorName name(op.substr(0, dot), dot == std::string::npos ? "" : op.substr(dot + 1));
  std::shared_ptr<torch::jit::Operator> o;
  try {
    o = torch::jit::findOperatorFor(name);
  } catch (const c10::Error&) {
    return {};
  }
  if (o == nullptr) return {};
  const std::vector<c10::Argument>& args = o->schema().arguments();
  std::vector<bool> out(num_inputs, false);
  for (size_t i = 0; i < num_inputs && i < args.size(); ++i) out[i] = int_like(args[i].type());
  // arange's bounds are Scalars, but they set the output's length.
  if (op.rfind("aten::arange", 0) == 0)
    for (size_t i = 0; i < num_inputs && i < args.size(); ++i)
      out[i] = out[i] || args[i].name() == "start" || args[i].name() == "end" ||
               args[i].name() == "step";
  // select's index is gathered on the device: a value from data is fine there.
  if (op == "aten::select.int" && num_inputs > 2) out[2] = false;
  return out;
}

}  // namespace

DataDerivedInts::DataDerivedInts(const OpGraph& g, const ConverterRegistry& reg)
    : g_(g), reg_(reg), memo_(g.values.size(), -1) {}

bool DataDerivedInts::from_data(int v) {
  if (v < 0 || static_cast<size_t>(v) >= g_.values.size() || g_.is_constant(v)) return false;
  auto& m = memo_[static_cast<size_t>(v)];
  if (m >= 0) return m == 1;
  m = 0;
  const Value& val = g_.values[static_cast<size_t>(v)];
  bool r = false;
  if (val.producer < 0) {
    r = val.kind == ValueKind::kTensor;  // a forward() input tensor: data
  } else {
    const Node& p = g_.nodes[static_cast<size_t>(val.producer)];
    if (!reads_shape_only(p.op)) {
      for (const auto* list : {&p.inputs, &p.captured})
        for (int u : *list) r = r || from_data(u);
    }
  }
  memo_[static_cast<size_t>(v)] = r ? 1 : 0;
  return r;
}

std::string shape_arg_problem(const OpGraph& g, const Node& n, DataDerivedInts& ints) {
  std::vector<bool> shape_like = shape_like_inputs(n.op, n.inputs.size());
  for (size_t i = 0; i < n.inputs.size(); ++i) {
    int v = n.inputs[i];
    if (v < 0 || g.is_constant(v)) continue;
    const Value& val = g.values[static_cast<size_t>(v)];
    if (val.kind != ValueKind::kInt && val.kind != ValueKind::kIntList &&
        val.kind != ValueKind::kFloat)
      continue;
    bool check = shape_like.empty() ? val.kind != ValueKind::kFloat : shape_like[i];
    if (!check || !ints.from_data(v)) continue;
    return "its size/bound argument " + std::to_string(i) + " ('" + val.name +
           "') is read from tensor data (item()) at run time; engine shapes follow from input "
           "shapes only";
  }
  return {};
}

std::string rank_problem(const Value& v) {
  if (!v.meta || v.meta->opt.size() <= static_cast<size_t>(kiln::kMaxRank)) return {};
  return "'" + v.name + "' has rank " + std::to_string(v.meta->opt.size()) + " (Kiln's limit is " +
         std::to_string(kiln::kMaxRank) + ")";
}

}  // namespace kiln::bridge
