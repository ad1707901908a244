// Constant folding with the CPU reference kernels.
#include "backends/cpu/cpu_backend.h"
#include "common/element_access.h"
#include "passes/graph_rewriter.h"
#include "passes/pass.h"

namespace kiln::passes {
namespace {

bool fully_known(const std::optional<ir::ShapeValue>& v) {
  if (!v) return false;
  for (int64_t x : *v)
    if (x == ir::kUnknownValue) return false;
  return true;
}

std::shared_ptr<const std::vector<uint8_t>> bytes_from_values(const TensorType& t,
                                                              const ir::ShapeValue& v) {
  auto bytes = std::make_shared<std::vector<uint8_t>>(v.size() * dtype_size(t.dtype));
  for (size_t i = 0; i < v.size(); ++i)
    store_from_int64(bytes->data(), t.dtype, static_cast<int64_t>(i), v[i]);
  return bytes;
}

}  // namespace

Status fold_constants(ir::Graph& g, const PassContext& ctx) {
  GraphRewriter rw(g);
  ir::Graph& dst = rw.dst();
  int folded = 0;
  for (size_t li = 0; li < g.layers.size(); ++li) {
    const ir::Layer& l = g.layers[li];
    // nonzero's row count is learned at run time (its indices leave the engine as data-dependent).
    if (l.op == ir::OpKind::kConstant || l.op == ir::OpKind::kNonZero) {
      KILN_RETURN_IF_ERROR(rw.copy_layer(li));
      continue;
    }
    KILN_RETURN_IF_ERROR(rw.copy_layer(li));
    const ir::Layer& nl = dst.layers.back();
    // Outputs whose values shape inference already knows (shape arithmetic on static dims).
    bool all_known = true;
    for (int32_t o : nl.outputs)
      all_known &= fully_known(dst.tensors[static_cast<size_t>(o)].value);
    // Generators without inputs (fill, arange of static bounds) fold like layers of constant inputs
    // (masks and position ids built from shapes become constants; the size rule below keeps big
    // fills).
    bool all_const_inputs =
        !nl.inputs.empty() || nl.op == ir::OpKind::kFill || nl.op == ir::OpKind::kArange;
    uint64_t in_bytes = 0;
    for (int32_t i : nl.inputs) {
      if (i < 0) continue;
      all_const_inputs &= is_constant(dst, i);
      in_bytes += dst.tensors[static_cast<size_t>(i)].type.dims.volume() *
                  dtype_size(dst.tensors[static_cast<size_t>(i)].type.dtype);
    }
    if (!all_known && !all_const_inputs) continue;
    std::vector<TensorType> out_types;
    uint64_t out_bytes = 0;
    bool static_out = true;
    for (int32_t o : nl.outputs) {
      const TensorType& t = dst.tensors[static_cast<size_t>(o)].type;
      static_out &= t.dims.is_static();
      out_types.push_back(t);
      if (t.dims.is_static())
        out_bytes += static_cast<uint64_t>(t.dims.volume()) * dtype_size(t.dtype);
    }
    if (!static_out) continue;
    // Folding must not blow the plan up: big outputs only when they are not much bigger than
    // inputs.
    if (!all_known && (out_bytes > ctx.config.max_folded_constant_bytes ||
                       (out_bytes > (64u << 10) && out_bytes > 2 * in_bytes))) {
      continue;
    }
    std::vector<std::shared_ptr<const std::vector<uint8_t>>> results;
    if (all_known) {
      for (int32_t o : nl.outputs) {
        const ir::TensorDesc& d = dst.tensors[static_cast<size_t>(o)];
        results.push_back(bytes_from_values(d.type, *d.value));
      }
    } else {
      std::vector<HostTensor> inputs(nl.inputs.size());
      std::vector<const HostTensor*> ptrs(nl.inputs.size(), nullptr);
      for (size_t i = 0; i < nl.inputs.size(); ++i) {
        if (nl.inputs[i] < 0) continue;
        const ir::TensorDesc& d = dst.tensors[static_cast<size_t>(nl.inputs[i])];
        const ir::Weight& w = dst.constant_weight(dst.layers[static_cast<size_t>(d.producer)]);
        inputs[i].type = w.type;
        inputs[i].bytes = *w.bytes;
        ptrs[i] = &inputs[i];
      }
      auto r = cpu::evaluate_layer(nl, ptrs, out_types);
      if (!r) return make_error(r.status().code(), "passes.fold_constants", r.status().message());
      for (auto& h : *r)
        results.push_back(std::make_shared<const std::vector<uint8_t>>(std::move(h.bytes)));
    }
    // Replace the copied layer by constants: drop it and its outputs from dst.
    std::vector<int32_t> old_outs = nl.outputs;
    std::string name = nl.name;
    dst.layers.pop_back();
    dst.tensors.resize(dst.tensors.size() - old_outs.size());
    for (size_t o = 0; o < old_outs.size(); ++o) {
      std::string tname = g.tensors[static_cast<size_t>(l.outputs[o])].name;
      KILN_ASSIGN_OR_RETURN(
          auto id, rw.add_constant(out_types[o], results[o],
                                   old_outs.size() == 1 ? name : name + ":" + std::to_string(o),
                                   l.outputs[o]));
      dst.tensors[static_cast<size_t>(id)].name = tname;
    }
    ++folded;
  }
  KILN_ASSIGN_OR_RETURN(auto out, rw.finish());
  g = std::move(out);
  if (folded > 0)
    ctx.logger.log(Severity::kVerbose,
                   "[passes.fold_constants] folded " + std::to_string(folded) + " layers");
  return {};
}

}  // namespace kiln::passes
