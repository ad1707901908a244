// Constant attention masks that say no more than a flag: a mask under which every key is attended
// (bool all true, float all zero) is dropped; the causal pattern (key j attended iff j <= query i,
// top-left as torch's is_causal) becomes causal = true. The flash kernel then reads no mask and
// skips the tiles above the diagonal. GPT-2's [1, 1, L, L] mask from transformers' masking_utils is
// such a constant once its arange / compare chain folds (static shapes). A float mask counts a key
// as masked only at -inf or at the dtype's lowest finite value (what transformers writes), where
// softmax gives exactly zero.
#include <cmath>
#include <limits>

#include "common/element_access.h"
#include "passes/graph_rewriter.h"
#include "passes/pass.h"

namespace kiln::passes {
namespace {

enum class MaskMeaning { kOther, kAttendAll, kCausal };

double lowest_finite(DataType dt) {
  switch (dt) {
    case DataType::kFloat16:
      return -65504.0;
    case DataType::kBFloat16:
      return -3.3895313892515355e38;
    default:
      return static_cast<double>(std::numeric_limits<float>::lowest());
  }
}

// What constant mask `mask` means for an attention whose scores are [..., lq, lk].
MaskMeaning classify(const ir::Graph& g, int32_t mask, int64_t lq, int64_t lk) {
  const ir::Layer* l = producer_of(g, mask);
  if (l == nullptr || l->op != ir::OpKind::kConstant) return MaskMeaning::kOther;
  const ir::Weight& w = g.weights[static_cast<size_t>(std::get<ConstantParams>(l->params).weight)];
  const DataType dt = w.type.dtype;
  if (!w.bytes || (dt != DataType::kBool && !is_floating(dt))) return MaskMeaning::kOther;
  const Dims& d = w.type.dims;
  const int64_t n = d.volume();
  if (n < 1 || n > (int64_t{1} << 26) || static_cast<size_t>(n) * dtype_size(dt) > w.bytes->size())
    return MaskMeaning::kOther;
  // The causal reading needs the mask's own rows and columns (no broadcasting along them).
  bool causal = d.rank() >= 2 && d[d.rank() - 2] == lq && d[d.rank() - 1] == lk;
  bool all = true;
  const int64_t cols = d.rank() >= 1 ? d[d.rank() - 1] : 1;
  const int64_t rows = d.rank() >= 2 ? d[d.rank() - 2] : 1;
  for (int64_t idx = 0; idx < n; ++idx) {
    const double v = load_as_double(w.bytes->data(), dt, idx);
    bool attend;
    if (dt == DataType::kBool) {
      attend = v != 0.0;
    } else if (v == 0.0) {
      attend = true;
    } else if (v == -INFINITY || v <= lowest_finite(dt)) {
      attend = false;
    } else {
      return MaskMeaning::kOther;  // a real bias
    }
    const int64_t j = idx % cols, i = (idx / cols) % rows;
    all = all && attend;
    causal = causal && attend == (j <= i);
    if (!all && !causal) return MaskMeaning::kOther;
  }
  return all ? MaskMeaning::kAttendAll : MaskMeaning::kCausal;
}

}  // namespace

Status fold_constant_attention_masks(ir::Graph& g, const PassContext& ctx) {
  std::vector<MaskMeaning> meaning(g.layers.size(), MaskMeaning::kOther);
  int found = 0;
  for (size_t li = 0; li < g.layers.size(); ++li) {
    const ir::Layer& l = g.layers[li];
    if (l.op != ir::OpKind::kAttention || l.inputs.size() < 4 || l.inputs[3] < 0) continue;
    const Dims& q = g.tensors[static_cast<size_t>(l.inputs[0])].type.dims;
    const Dims& k = g.tensors[static_cast<size_t>(l.inputs[1])].type.dims;
    if (q.rank() < 2 || k.rank() < 2) continue;
    const int64_t lq = q[q.rank() - 2], lk = k[k.rank() - 2];
    meaning[li] = classify(g, l.inputs[3], lq < 0 ? -2 : lq, lk < 0 ? -2 : lk);
    if (meaning[li] != MaskMeaning::kOther) ++found;
  }
  if (found == 0) return {};
  GraphRewriter rw(g);
  for (size_t li = 0; li < g.layers.size(); ++li) {
    const ir::Layer& l = g.layers[li];
    if (meaning[li] == MaskMeaning::kOther) {
      KILN_RETURN_IF_ERROR(rw.copy_layer(li));
      continue;
    }
    AttentionParams p = std::get<AttentionParams>(l.params);
    p.causal = p.causal || meaning[li] == MaskMeaning::kCausal;
    KILN_ASSIGN_OR_RETURN(
        auto out, rw.add(ir::OpKind::kAttention, p,
                         {rw.map(l.inputs[0]), rw.map(l.inputs[1]), rw.map(l.inputs[2])}, l.name));
    rw.dst().layers.back().precision = l.precision;
    rw.dst().layers.back().user_precision = l.user_precision;
    rw.set_map(l.outputs[0], out[0]);
  }
  ctx.logger.log(Severity::kInfo, "[passes.fold_constant_attention_masks] " +
                                      std::to_string(found) +
                                      " constant mask(s) replaced by flags");
  KILN_ASSIGN_OR_RETURN(auto out, rw.finish());
  g = std::move(out);
  return {};
}

}  // namespace kiln::passes
