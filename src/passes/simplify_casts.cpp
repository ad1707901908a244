// Cast simplification: cast(x, T) with x already T disappears; cast(cast(x, wide), T) with x of
// type T and `wide` able to hold every T value exactly becomes x.
#include "passes/graph_rewriter.h"
#include "passes/pass.h"

namespace kiln::passes {
namespace {

// Whether every value of `from` converts to `to` and back exactly.
bool widens_exactly(DataType from, DataType to) {
  if (from == to) return true;
  switch (from) {
    case DataType::kFloat16:
    case DataType::kBFloat16:
      return to == DataType::kFloat32 || to == DataType::kFloat64;
    case DataType::kFloat32:
      return to == DataType::kFloat64;
    case DataType::kInt8:
      return to == DataType::kInt16 || to == DataType::kInt32 || to == DataType::kInt64 ||
             to == DataType::kFloat32 || to == DataType::kFloat16 || to == DataType::kBFloat16 ||
             to == DataType::kFloat64;
    case DataType::kUInt8:
      return to == DataType::kInt16 || to == DataType::kInt32 || to == DataType::kInt64 ||
             to == DataType::kFloat32 || to == DataType::kFloat16 || to == DataType::kFloat64;
    case DataType::kInt16:
      return to == DataType::kInt32 || to == DataType::kInt64 || to == DataType::kFloat32 ||
             to == DataType::kFloat64;
    case DataType::kInt32:
      return to == DataType::kInt64 || to == DataType::kFloat64;
    case DataType::kBool:
      return to != DataType::kBool;
    default:
      return false;
  }
}

}  // namespace

Status simplify_casts(ir::Graph& g, const PassContext&) {
  GraphRewriter rw(g);
  ir::Graph& dst = rw.dst();
  for (size_t li = 0; li < g.layers.size(); ++li) {
    const ir::Layer& l = g.layers[li];
    if (l.op == ir::OpKind::kCast && !g.tensors[static_cast<size_t>(l.outputs[0])].is_output) {
      int32_t in = rw.map(l.inputs[0]);
      DataType to = std::get<CastParams>(l.params).to;
      const ir::TensorDesc& src = dst.tensors[static_cast<size_t>(in)];
      if (src.type.dtype == to) {
        rw.set_map(l.outputs[0], in);
        continue;
      }
      // cast(cast(x, wide), to) where x is `to` and the first cast was exact.
      if (src.producer >= 0) {
        const ir::Layer& p = dst.layers[static_cast<size_t>(src.producer)];
        if (p.op == ir::OpKind::kCast) {
          int32_t x = p.inputs[0];
          DataType xt = dst.tensors[static_cast<size_t>(x)].type.dtype;
          if (xt == to && widens_exactly(xt, src.type.dtype)) {
            rw.set_map(l.outputs[0], x);
            continue;
          }
        }
      }
    }
    KILN_RETURN_IF_ERROR(rw.copy_layer(li));
  }
  KILN_ASSIGN_OR_RETURN(auto out, rw.finish());
  g = std::move(out);
  return {};
}

}  // namespace kiln::passes
