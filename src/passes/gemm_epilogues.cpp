// Shapes GEMMs so the backend can fuse their epilogues:
//   matmul(x, W) + b   with constant W [K, N] and constant b [N]   -> linear(x, W^T, b)
//   unary(reshape(t))  when the reshape's only reader is the unary  -> reshape(unary(t))
//   reshape(g) + r     g a GEMM output, the reshape's only reader the add, r of the add's shape
//                      -> reshape(g + reshape(r))
// The first is how HF's Conv1D (GPT-2) and addmm spell a linear layer; the other two move an
// activation or a residual add next to the GEMM whose output a view reshaped (torch's
// MultiheadAttention out-projection, GPT-2's [B*S, E] linears), so GEMM + bias + residual +
// activation become one kernel. Reshapes are views: the moved ones cost nothing.
#include <optional>

#include "passes/graph_rewriter.h"
#include "passes/pass.h"

namespace kiln::passes {
namespace {

bool is_gemm(const ir::Layer* l) { return l != nullptr && ir::has_flag(l->op, ir::kFlagGemm); }

// The reshape target for dims d: static dims as they are, at most one dynamic dim as -1.
std::optional<std::vector<int64_t>> reshape_target(const Dims& d) {
  std::vector<int64_t> shape;
  int dynamic = 0;
  for (int i = 0; i < d.rank(); ++i) {
    dynamic += d[i] == kDynamic;
    shape.push_back(d[i] == kDynamic ? -1 : d[i]);
  }
  if (dynamic > 1) return std::nullopt;
  return shape;
}

// Re-applies reshape layer r (same target, same shape operands) to dst tensor x, after `after`.
Expected<int32_t> reshape_like(GraphRewriter& rw, const ir::Layer& r, int32_t x,
                               const std::string& after) {
  std::vector<int32_t> in{x};
  for (size_t i = 1; i < r.inputs.size(); ++i) in.push_back(rw.map(r.inputs[i]));
  KILN_ASSIGN_OR_RETURN(auto re,
                        rw.add(ir::OpKind::kReshape, r.params, in, r.name + "/after_" + after));
  return re[0];
}

}  // namespace

Status shape_gemm_epilogues(ir::Graph& g, const PassContext& ctx) {
  const std::vector<int> readers = reader_counts(g);
  GraphRewriter rw(g);
  int linears = 0, hoisted = 0;
  for (size_t li = 0; li < g.layers.size(); ++li) {
    const ir::Layer& l = g.layers[li];
    // matmul + bias -> linear
    if (l.op == ir::OpKind::kBinary && std::get<BinaryParams>(l.params).op == BinaryOp::kAdd) {
      bool done = false;
      for (int k = 0; k < 2 && !done; ++k) {
        int32_t mm_out = l.inputs[static_cast<size_t>(k)],
                bias = l.inputs[static_cast<size_t>(1 - k)];
        const ir::Layer* mm = producer_of(g, mm_out);
        if (mm == nullptr || mm->op != ir::OpKind::kMatMul ||
            readers[static_cast<size_t>(mm_out)] != 1)
          continue;
        const auto& mp = std::get<MatMulParams>(mm->params);
        const TensorType& wt = g.tensors[static_cast<size_t>(mm->inputs[1])].type;
        const TensorType& bt = g.tensors[static_cast<size_t>(bias)].type;
        const TensorType& xt = g.tensors[static_cast<size_t>(mm->inputs[0])].type;
        const TensorType& ot = g.tensors[static_cast<size_t>(l.outputs[0])].type;
        if (mp.transpose_a || !is_constant(g, mm->inputs[1]) || !is_constant(g, bias) ||
            wt.dims.rank() != 2 || bt.dims.rank() != 1 || xt.dims.rank() < 2 ||
            !is_floating(ot.dtype) || wt.dtype != xt.dtype || bt.dtype != xt.dtype ||
            ot.dtype != xt.dtype)
          continue;
        const int64_t n = mp.transpose_b ? wt.dims[0] : wt.dims[1];
        if (bt.dims[0] != n || ot.dims != g.tensors[static_cast<size_t>(mm_out)].type.dims)
          continue;
        int32_t w = rw.map(mm->inputs[1]);
        if (!mp.transpose_b) {  // linear wants [N, K]; fold_constants turns this into a weight
          KILN_ASSIGN_OR_RETURN(auto t, rw.add(ir::OpKind::kTranspose, TransposeParams{{1, 0}}, {w},
                                               mm->name + "/weight_t"));
          w = t[0];
        }
        KILN_ASSIGN_OR_RETURN(auto lin, rw.add(ir::OpKind::kLinear, LinearParams{},
                                               {rw.map(mm->inputs[0]), w, rw.map(bias)}, l.name));
        rw.set_map(l.outputs[0], lin[0]);
        ++linears;
        done = true;
      }
      if (done) continue;
      // reshape(gemm) + r -> reshape(gemm + reshape(r))
      for (int k = 0; k < 2 && !done; ++k) {
        int32_t viewed = l.inputs[static_cast<size_t>(k)],
                other = l.inputs[static_cast<size_t>(1 - k)];
        const ir::Layer* r = producer_of(g, viewed);
        if (r == nullptr || r->op != ir::OpKind::kReshape ||
            readers[static_cast<size_t>(viewed)] != 1)
          continue;
        const int32_t gemm_out = r->inputs[0];
        if (!is_gemm(producer_of(g, gemm_out)) || readers[static_cast<size_t>(gemm_out)] != 1)
          continue;
        const TensorType& gt = g.tensors[static_cast<size_t>(gemm_out)].type;
        const TensorType& rt = g.tensors[static_cast<size_t>(other)].type;
        const TensorType& ot = g.tensors[static_cast<size_t>(l.outputs[0])].type;
        if (other == viewed || !(rt == ot) ||
            !(g.tensors[static_cast<size_t>(viewed)].type == ot) || gt.dtype != ot.dtype)
          continue;
        auto target = reshape_target(gt.dims);
        if (!target) continue;
        KILN_ASSIGN_OR_RETURN(auto rr, rw.add(ir::OpKind::kReshape, ReshapeParams{*target},
                                              {rw.map(other)}, l.name + "/residual_view"));
        KILN_ASSIGN_OR_RETURN(
            auto add, rw.add(ir::OpKind::kBinary, l.params, {rw.map(gemm_out), rr[0]}, l.name));
        KILN_ASSIGN_OR_RETURN(auto back, reshape_like(rw, *r, add[0], l.name));
        rw.set_map(l.outputs[0], back);
        ++hoisted;
        done = true;
      }
      if (done) continue;
    }
    // unary(reshape(t)) -> reshape(unary(t))
    if (l.op == ir::OpKind::kUnary) {
      const ir::Layer* r = producer_of(g, l.inputs[0]);
      if (r != nullptr && r->op == ir::OpKind::kReshape &&
          readers[static_cast<size_t>(l.inputs[0])] == 1) {
        KILN_ASSIGN_OR_RETURN(auto u,
                              rw.add(ir::OpKind::kUnary, l.params, {rw.map(r->inputs[0])}, l.name));
        KILN_ASSIGN_OR_RETURN(auto re, reshape_like(rw, *r, u[0], l.name));
        rw.set_map(l.outputs[0], re);
        ++hoisted;
        continue;
      }
    }
    KILN_RETURN_IF_ERROR(rw.copy_layer(li));
  }
  if (linears == 0 && hoisted == 0) return {};
  ctx.logger.log(Severity::kInfo, "[passes.shape_gemm_epilogues] " + std::to_string(linears) +
                                      " matmul+bias -> linear, " + std::to_string(hoisted) +
                                      " activation(s) / residual add(s) moved before a reshape");
  KILN_ASSIGN_OR_RETURN(auto out, rw.finish());
  g = std::move(out);
  return {};
}

}  // namespace kiln::passes
