// Epilogue fusion planning.
#include "backends/cuda/fusion.h"

#include <algorithm>

#include "backends/cuda/attention_views.h"
#include "backends/cuda/nvrtc/pointwise_codegen.h"
#include "ir/analysis.h"
#include "ir/op_table.h"

namespace kiln::cuda {
namespace {

bool is_anchor(const ir::Graph& g, const ir::Layer& l) {
  if (l.op == ir::OpKind::kConvolution) {
    const auto& p = std::get<ConvolutionParams>(l.params);
    if (p.transposed) return false;
    for (size_t i = 0; i < p.pads_begin.size(); ++i)
      if (p.pads_begin[i] != p.pads_end[i]) return false;
  } else if (l.op != ir::OpKind::kLinear && l.op != ir::OpKind::kMatMul) {
    return false;
  }
  return is_floating(g.tensors[static_cast<size_t>(l.outputs[0])].type.dtype);
}

bool is_activation(const ir::Layer& l, ir::OpKind anchor) {
  if (l.op != ir::OpKind::kUnary) return false;
  UnaryOp op = std::get<UnaryParams>(l.params).op;
  if (op == UnaryOp::kRelu) return true;
  // GEMMs: cuBLASLt epilogues, exact GELU in a CUTLASS epilogue (or in place after the GEMM).
  if (anchor != ir::OpKind::kConvolution) return op == UnaryOp::kGeluTanh || op == UnaryOp::kGelu;
  // Convolutions fuse these in the cuDNN graph or the depthwise kernel; where an implementation
  // cannot, the activation runs right after it (no worse than unfused).
  switch (op) {
    case UnaryOp::kSilu:
    case UnaryOp::kHardSwish:
    case UnaryOp::kHardSigmoid:  // the SE gate of mobilenet_v3
    case UnaryOp::kSigmoid:
    case UnaryOp::kGelu:
    case UnaryOp::kGeluTanh:
    case UnaryOp::kTanh:
      return true;
    default:
      return false;
  }
}

bool is_add(const ir::Layer& l) {
  return l.op == ir::OpKind::kBinary && std::get<BinaryParams>(l.params).op == BinaryOp::kAdd;
}

// Reshape, squeeze, unsqueeze, flatten: same bytes, new dims.
bool is_alias_view(const ir::Layer& l) {
  return ir::has_flag(l.op, ir::kFlagView) && !l.inputs.empty() && l.inputs[0] >= 0;
}

}  // namespace

namespace {

// Groups of generated pointwise kernels among the layers the epilogues left (see fusion.h).
// `executed` marks the device layers (device_layers as a per-layer flag).
std::vector<FusedGroup> plan_pointwise(const ir::Graph& g,
                                       const std::vector<int32_t>& device_layers,
                                       const std::vector<bool>& executed,
                                       const std::vector<bool>& taken) {
  std::vector<int32_t> group_of(g.tensors.size(), -1);  // pointwise group writing each tensor
  std::vector<FusedGroup> groups;
  for (int32_t l : device_layers) {
    const ir::Layer& layer = g.layers[static_cast<size_t>(l)];
    if (taken[static_cast<size_t>(l)] || !has_flag(layer.op, ir::kFlagPointwise) ||
        !nvrtc::fusable_pointwise(g, layer).ok())
      continue;
    const Dims& dims = g.tensors[static_cast<size_t>(layer.outputs[0])].type.dims;
    int32_t join = -1;
    for (int32_t t : layer.inputs) {
      const int32_t gi = group_of[static_cast<size_t>(t)];
      if (gi < 0 || join >= 0) continue;
      const std::vector<int32_t>& members = groups[static_cast<size_t>(gi)].layers;
      const ir::Layer& first = g.layers[static_cast<size_t>(members[0])];
      if (!(g.tensors[static_cast<size_t>(first.outputs[0])].type.dims == dims)) continue;
      bool ready = true;  // every other input exists before the group's first layer runs
      for (int32_t u : layer.inputs) {
        if (group_of[static_cast<size_t>(u)] == gi) continue;
        const int32_t p = g.tensors[static_cast<size_t>(u)].producer;
        if (p >= 0 && executed[static_cast<size_t>(p)] && p >= members[0]) ready = false;
      }
      if (ready) join = gi;
    }
    if (join < 0) {
      join = static_cast<int32_t>(groups.size());
      groups.push_back(FusedGroup{{}, true});
    }
    groups[static_cast<size_t>(join)].layers.push_back(l);
    group_of[static_cast<size_t>(layer.outputs[0])] = join;
  }
  // Groups the generated kernel cannot take (argument limits) run layer by layer.
  std::vector<FusedGroup> kept;
  for (size_t gi = 0; gi < groups.size(); ++gi) {
    FusedGroup& grp = groups[gi];
    if (grp.layers.size() < 2) continue;
    std::vector<int32_t> ins;  // external inputs (scalar constants, inlined, counted too)
    for (int32_t l : grp.layers)
      for (int32_t t : g.layers[static_cast<size_t>(l)].inputs)
        if (group_of[static_cast<size_t>(t)] != static_cast<int32_t>(gi)) ins.push_back(t);
    std::sort(ins.begin(), ins.end());
    ins.erase(std::unique(ins.begin(), ins.end()), ins.end());
    if (ins.size() > static_cast<size_t>(nvrtc::kMaxFusedInputs) ||
        nvrtc::pointwise_group_outputs(g, grp.layers, executed).size() >
            static_cast<size_t>(nvrtc::kMaxFusedOutputs))
      continue;
    kept.push_back(std::move(grp));
  }
  return kept;
}

}  // namespace

std::vector<FusedGroup> plan_fusion(const ir::Graph& g, const std::vector<int32_t>& device_layers,
                                    const FusionOptions& options) {
  std::vector<bool> is_device(g.layers.size(), false);
  for (int32_t l : device_layers) is_device[static_cast<size_t>(l)] = true;
  // Data consumers of each tensor (layers that execute and read its data).
  std::vector<std::vector<int32_t>> consumers(g.tensors.size());
  for (int32_t l : device_layers) {
    const ir::Layer& layer = g.layers[static_cast<size_t>(l)];
    for (size_t i = 0; i < layer.inputs.size(); ++i) {
      int32_t t = layer.inputs[i];
      if (t < 0 || ir::is_shape_operand(layer.op, static_cast<int>(i))) continue;
      consumers[static_cast<size_t>(t)].push_back(l);
    }
  }
  auto sole_consumer = [&](int32_t tensor) -> int32_t {
    const auto& c = consumers[static_cast<size_t>(tensor)];
    if (c.size() != 1 || g.tensors[static_cast<size_t>(tensor)].is_output) return -1;
    return c[0];
  };
  std::vector<bool> taken(g.layers.size(), false);
  std::vector<FusedGroup> epilogues;
  if (options.epilogues) {
    for (auto& layers : plan_attention_views(g, device_layers, consumers, taken)) {
      FusedGroup grp;
      grp.attention_views = true;
      for (int32_t m : layers)
        if (g.layers[static_cast<size_t>(m)].op == ir::OpKind::kAttention) grp.anchor = m;
      grp.layers = std::move(layers);
      epilogues.push_back(std::move(grp));
    }
  }
  for (int32_t l : device_layers) {
    if (taken[static_cast<size_t>(l)]) continue;
    const ir::Layer& anchor = g.layers[static_cast<size_t>(l)];
    if (!options.epilogues || !is_anchor(g, anchor)) continue;
    FusedGroup grp;
    grp.layers.push_back(l);
    taken[static_cast<size_t>(l)] = true;
    int32_t out = anchor.outputs[0];
    int32_t next = sole_consumer(out);
    // A GEMM's residual add may come after a view of its output (GPT-2's Conv1D: addmm on
    // [B*L, E], then a view to [B, L, E]): the view aliases the output and keeps its memory order,
    // so the epilogue adds the residual element by element all the same.
    int32_t view = -1;
    if (anchor.op != ir::OpKind::kConvolution && next >= 0 &&
        is_alias_view(g.layers[static_cast<size_t>(next)])) {
      const int32_t after = sole_consumer(g.layers[static_cast<size_t>(next)].outputs[0]);
      if (after >= 0 && is_add(g.layers[static_cast<size_t>(after)])) {
        view = next;
        out = g.layers[static_cast<size_t>(next)].outputs[0];
        next = after;
      }
    }
    const TensorType& ot = g.tensors[static_cast<size_t>(out)].type;
    if (next >= 0 && is_add(g.layers[static_cast<size_t>(next)])) {
      const ir::Layer& add = g.layers[static_cast<size_t>(next)];
      int32_t other = add.inputs[0] == out ? add.inputs[1] : add.inputs[0];
      const ir::TensorDesc& od = g.tensors[static_cast<size_t>(other)];
      // Inputs (-1) and earlier layers are ready; so is a view made later of an earlier tensor
      // (it aliases that tensor's memory: storage_roots).
      int32_t src = other;
      while (g.tensors[static_cast<size_t>(src)].producer > l &&
             !g.tensors[static_cast<size_t>(src)].is_output) {
        const ir::Layer& v =
            g.layers[static_cast<size_t>(g.tensors[static_cast<size_t>(src)].producer)];
        if (!ir::has_flag(v.op, ir::kFlagView)) break;
        src = v.inputs[0];
      }
      bool before = g.tensors[static_cast<size_t>(src)].producer < l;
      bool same = other != out && od.type == ot &&
                  g.tensors[static_cast<size_t>(add.outputs[0])].type == ot;
      if (before && same) {
        if (view >= 0) {
          grp.layers.push_back(view);
          taken[static_cast<size_t>(view)] = true;
        }
        grp.layers.push_back(next);
        taken[static_cast<size_t>(next)] = true;
        out = add.outputs[0];
        next = sole_consumer(out);
      } else {
        next = -1;
      }
    }
    if (next >= 0 && is_activation(g.layers[static_cast<size_t>(next)], anchor.op) &&
        g.tensors[static_cast<size_t>(g.layers[static_cast<size_t>(next)].outputs[0])].type == ot) {
      grp.layers.push_back(next);
      taken[static_cast<size_t>(next)] = true;
    }
    epilogues.push_back(std::move(grp));
  }
  std::vector<FusedGroup> pointwise;
  if (options.pointwise) pointwise = plan_pointwise(g, device_layers, is_device, taken);
  // Every group runs where its first layer is; the rest one kernel per layer. Absorbed layers come
  // after their anchor and no other kernel reads an epilogue's intermediate; a pointwise group's
  // inputs are ready before its first layer and its outputs are written there.
  // An attention-views group runs at its attention layer: its chains' layers are read by it alone.
  std::vector<const FusedGroup*> first_of(g.layers.size(), nullptr);
  for (const auto* list : {&epilogues, &pointwise}) {
    for (const FusedGroup& grp : *list) {
      first_of[static_cast<size_t>(grp.attention_views ? grp.anchor : grp.layers[0])] = &grp;
      for (int32_t l : grp.layers) taken[static_cast<size_t>(l)] = true;
    }
  }
  std::vector<FusedGroup> groups;
  for (int32_t l : device_layers) {
    if (const FusedGroup* grp = first_of[static_cast<size_t>(l)]) {
      groups.push_back(*grp);
    } else if (!taken[static_cast<size_t>(l)]) {
      groups.push_back(FusedGroup{{l}, false});
    }
  }
  return groups;
}

bool launches_nothing(const ir::Graph& g, const FusedGroup& group,
                      const std::vector<int32_t>& roots) {
  return group.layers.size() == 1 && !group.pointwise && !group.attention_views &&
         ir::is_aliasing_view(g, roots, group.layers[0]);
}

bool decode_epilogue(const ir::Graph& g, const std::vector<int32_t>& layers, EpilogueSpec& spec) {
  if (layers.empty()) return false;
  const ir::Layer& anchor = g.layers[static_cast<size_t>(layers[0])];
  int32_t cur = anchor.outputs[0];
  spec = EpilogueSpec{};
  for (size_t i = 1; i < layers.size(); ++i) {
    const ir::Layer& l = g.layers[static_cast<size_t>(layers[i])];
    if (i == 1 && anchor.op != ir::OpKind::kConvolution && is_alias_view(l) && layers.size() > 2 &&
        is_add(g.layers[static_cast<size_t>(layers[2])])) {
      if (l.inputs[0] != cur) return false;
      cur = l.outputs[0];  // a view before the residual add (plan_fusion)
      continue;
    }
    if (is_add(l) && spec.residual < 0 && spec.activation == UnaryOp::kIdentity) {
      if (l.inputs[0] != cur && l.inputs[1] != cur) return false;
      spec.residual = l.inputs[0] == cur ? l.inputs[1] : l.inputs[0];
      if (spec.residual < 0 || !(g.tensors[static_cast<size_t>(spec.residual)].type ==
                                 g.tensors[static_cast<size_t>(cur)].type))
        return false;
    } else if (is_activation(l, anchor.op) && spec.activation == UnaryOp::kIdentity) {
      if (l.inputs[0] != cur) return false;
      spec.activation = std::get<UnaryParams>(l.params).op;
      spec.activation_layer = layers[i];
    } else {
      return false;
    }
    cur = l.outputs[0];
  }
  spec.output = cur;
  return true;
}

}  // namespace kiln::cuda
