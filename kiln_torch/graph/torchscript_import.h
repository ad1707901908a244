// TorchScript -> OpGraph: freeze and inline the module, run the lowering passes, map every node of
// the top-level block to an OpGraph node (constants become constant values), then record the shapes
// of all tensors by running the lowered graph at the inputs' min, opt and max shapes.
#pragma once

#include <torch/script.h>

#include <map>
#include <memory>
#include <vector>

#include "graph/op_graph.h"
#include "kiln/status.h"

namespace kiln::bridge {

struct InputRange {
  std::vector<int64_t> min, opt, max;
  at::ScalarType dtype = at::kFloat;
};

struct ImportedGraph;
struct ImportedGraph {
  OpGraph graph;
  torch::jit::Module frozen;                    ///< frozen, lowered module on the target device
  std::shared_ptr<torch::jit::Graph> ts_graph;  ///< lowered graph of the method (input 0 is self)
  std::map<const torch::jit::Value*, int> value_id;
  std::vector<const torch::jit::Value*> ts_value;  ///< per OpGraph value (nullptr for none)
};

/// Freezes (a copy of) `module` on `device`, lowers `method` and builds the OpGraph. With `inputs`,
/// the graph is first specialized to the inputs' ranks, dtypes and static dims, so checks such as
/// `if x.dim() == 4:` fold away.
Expected<ImportedGraph> import_torchscript(const torch::jit::Module& module,
                                           const std::string& method, const c10::Device& device,
                                           const std::vector<InputRange>* inputs = nullptr);

/// (Re)builds ig.graph from ig.ts_graph (used again after the TorchScript graph was rewritten).
Status build_op_graph(ImportedGraph& ig);

/// Lowering: a dict built in the top-level block by `d = {...}` / `d[k] = v` with constant string
/// keys and read by `d[k]` is dissolved: reads take the value set last, and a returned dict becomes
/// one prim::DictConstruct before the return (so the dict itself needs no engine support).
void forward_dict_items(torch::jit::Graph& g);

/// After analyze_shapes, queries whose answer is fixed for the compiled module become constants:
/// `x.dim()` and the lengths of shape lists (`len(x.size())`, `len(x.shape[-2:])`) of tensors whose
/// rank the analysis found; `x is x`; grad/autocast mode (off: engines run inference); is_nested,
/// requires_grad, device and dtype of analyzed tensors. Constant propagation then folds the checks
/// they decide (rank asserts of adaptive_avg_pool2d, F.interpolate's dispatch, the fast-path checks
/// of nn.MultiheadAttention). True when the graph changed: the caller rebuilds the OpGraph,
/// analyzes its shapes again and repeats (values of inlined branches only then get shapes).
bool fold_static_queries(ImportedGraph& ig, const c10::Device& device);

/// Runs the lowered graph on random inputs at min, opt and max shapes and fills Value::meta.
Status analyze_shapes(ImportedGraph& ig, const std::vector<InputRange>& inputs,
                      const c10::Device& device);

/// Overload-qualified name of a TorchScript node ("aten::add.Tensor").
std::string node_op_name(const torch::jit::Node* n);

}  // namespace kiln::bridge
