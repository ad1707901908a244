// Precision assignment: float layers compute in the lowest enabled float precision (fp16 preferred
// over bf16), except numerically sensitive ones, which stay float32, as do pointwise/reduction
// layers fed only by such float32 "islands" (so x.pow(2).mean() does not overflow in fp16).
// Layers the user pinned keep their precision; float64 layers keep float64. Casts are inserted on
// float data inputs as needed; network inputs and outputs keep their dtypes.
#include "passes/graph_rewriter.h"
#include "passes/pass.h"

namespace kiln::passes {
namespace {

using ir::OpKind;

// Ops that only move or select data: they run in whatever float type arrives.
bool is_data_movement(OpKind op) { return ir::has_flag(op, ir::kFlagDataMovement); }

// Always float32: overflow- or cancellation-prone in 16-bit.
bool always_fp32(const ir::Layer& l) {
  switch (l.op) {
    case OpKind::kCumSum:
      return true;
    case OpKind::kReduce: {
      ReduceOp r = std::get<ReduceParams>(l.params).op;
      return r == ReduceOp::kSum || r == ReduceOp::kProd || r == ReduceOp::kVar ||
             r == ReduceOp::kStd;
    }
    case OpKind::kBinary:
      return std::get<BinaryParams>(l.params).op == BinaryOp::kPow;
    case OpKind::kUnary: {
      UnaryOp u = std::get<UnaryParams>(l.params).op;
      return u == UnaryOp::kExp || u == UnaryOp::kExpm1 || u == UnaryOp::kSinh ||
             u == UnaryOp::kCosh;
    }
    default:
      return false;
  }
}

// Inputs that carry float data to be computed on (not indices, conditions or shape operands).
bool is_data_input(const ir::Layer& l, size_t i) {
  int input = static_cast<int>(i);
  return !ir::is_shape_operand(l.op, input) && !ir::is_index_operand(l.op, input);
}

}  // namespace

Status assign_precision(ir::Graph& g, const PassContext& ctx) {
  std::optional<DataType> low;
  if (ctx.config.precision_enabled(Precision::kFP16)) {
    low = DataType::kFloat16;
  } else if (ctx.config.precision_enabled(Precision::kBF16)) {
    low = DataType::kBFloat16;
  }
  bool any_pinned = false;
  for (const auto& l : g.layers) any_pinned |= l.user_precision;
  if (!low && !any_pinned) return {};

  GraphRewriter rw(g);
  ir::Graph& dst = rw.dst();
  std::vector<bool> island(g.tensors.size() + 1,
                           false);  // dst tensor produced by an fp32-kept layer
  auto is_island = [&](int32_t t) {
    return static_cast<size_t>(t) < island.size() && island[static_cast<size_t>(t)];
  };

  for (size_t li = 0; li < g.layers.size(); ++li) {
    const ir::Layer& l = g.layers[li];
    std::vector<int32_t> ins;
    for (int32_t i : l.inputs) ins.push_back(rw.map(i));
    bool has_float = false, has_float64 = false;
    for (size_t i = 0; i < ins.size(); ++i) {
      if (ins[i] < 0 || !is_data_input(l, i)) continue;
      DataType d = dst.tensors[static_cast<size_t>(ins[i])].type.dtype;
      has_float |= is_floating(d);
      has_float64 |= d == DataType::kFloat64;
    }

    std::optional<DataType> target;  // dtype float data inputs are cast to
    bool keep = false;
    if (l.user_precision) {
      target = l.precision;
    } else if (l.op == OpKind::kConstant || !has_float || has_float64 ||
               ir::has_flag(l.op, ir::kFlagQuantization)) {
      // float64 layers compute in float64: the precision knobs lower float32 layers only.
      // Quantize reads any float x and its float32 scale as they are; dequantize writes its `to`.
      target.reset();
    } else if (is_data_movement(l.op)) {
      // Unify float data inputs: low if any input already is low.
      bool any_low = false;
      for (size_t i = 0; i < ins.size(); ++i) {
        if (ins[i] >= 0 && is_data_input(l, i))
          any_low |= dst.tensors[static_cast<size_t>(ins[i])].type.dtype == low;
      }
      int n_float = 0;
      for (size_t i = 0; i < ins.size(); ++i)
        if (ins[i] >= 0 && is_data_input(l, i) &&
            is_floating(dst.tensors[static_cast<size_t>(ins[i])].type.dtype))
          ++n_float;
      if (n_float > 1 && low) target = any_low ? *low : DataType::kFloat32;
    } else if (low) {
      bool all_island = true;
      for (size_t i = 0; i < ins.size(); ++i) {
        if (ins[i] < 0 || !is_data_input(l, i) ||
            !is_floating(dst.tensors[static_cast<size_t>(ins[i])].type.dtype))
          continue;
        if (!is_island(ins[i])) all_island = false;
      }
      bool pointwise_or_reduce = ir::has_flag(l.op, ir::kFlagPointwise) || l.op == OpKind::kReduce;
      keep = always_fp32(l) || (pointwise_or_reduce && all_island);
      target = keep ? DataType::kFloat32 : *low;
    }
    if (target) {
      for (size_t i = 0; i < ins.size(); ++i) {
        if (ins[i] < 0 || !is_data_input(l, i)) continue;
        if (!is_floating(dst.tensors[static_cast<size_t>(ins[i])].type.dtype)) continue;
        KILN_ASSIGN_OR_RETURN(auto c, rw.cast(ins[i], *target));
        ins[i] = c;
      }
    }
    KILN_RETURN_IF_ERROR(rw.copy_layer(li, ins));
    ir::Layer& nl = dst.layers.back();
    if (target && !is_data_movement(l.op)) nl.precision = *target;
    if (island.size() < dst.tensors.size() + 1) island.resize(dst.tensors.size() * 2 + 1, false);
    if (keep) {
      for (int32_t o : nl.outputs) island[static_cast<size_t>(o)] = true;
    }
  }
  KILN_ASSIGN_OR_RETURN(auto out, rw.finish());
  g = std::move(out);
  return {};
}

}  // namespace kiln::passes
