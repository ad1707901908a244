// Helpers shared by converter files.
#include "converters/families.h"

namespace kiln::bridge {

const Value& input_value(const OpGraph& g, const Node& n, size_t i) {
  return g.values[static_cast<size_t>(n.inputs[i])];
}

bool no_float64_inputs(const OpGraph& g, const Node& n, std::string* why) {
  for (int v : n.inputs) {
    if (v < 0) continue;
    const Value& val = g.values[static_cast<size_t>(v)];
    if (val.kind == ValueKind::kTensor && val.meta && val.meta->dtype == at::kDouble) {
      *why = "float64 input '" + val.name + "': Kiln computes this op in float32 only";
      return false;
    }
  }
  return true;
}

Status set_output_tensor(ConversionCtx& ctx, const Node& n, Expected<kiln::Tensor> r, size_t i) {
  KILN_ASSIGN_OR_RETURN(auto c, ctx.check(n, std::move(r)));
  ctx.set_output(n, i, c);
  return {};
}

/// Extent of dim d of t: static, or an int64 rank-0 tensor read from shape(t).
Expected<ConversionCtx::Int> dim_extent(ConversionCtx& ctx, kiln::Tensor t, int64_t d) {
  ConversionCtx::Int out;
  Dims dims = ctx.dims(t);
  if (dims[static_cast<int>(d)] >= 0) {
    out.value = dims[static_cast<int>(d)];
    return out;
  }
  KILN_ASSIGN_OR_RETURN(auto s, ctx.net.add_shape(t));
  KILN_ASSIGN_OR_RETURN(auto i, ctx.net.add_scalar(static_cast<double>(d), DataType::kInt64));
  KILN_ASSIGN_OR_RETURN(auto g, ctx.net.add_gather(s, i, 0));
  out.is_static = false;
  out.tensor = g;
  return out;
}

/// arange(0, n) as int64 (n static or runtime).
Expected<kiln::Tensor> iota_of(ConversionCtx& ctx, const ConversionCtx::Int& n) {
  ArangeParams p;
  p.dtype = DataType::kInt64;
  if (n.is_static) {
    p.end = static_cast<double>(n.value);
    return ctx.net.add_arange(p);
  }
  return ctx.net.add_arange(p, {}, n.tensor);
}

}  // namespace kiln::bridge
