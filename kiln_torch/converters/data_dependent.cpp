// Ops whose output shape depends on the data: nonzero (and argwhere, which decomposes to it). The
// engine writes the rows into an output bound at its upper size and reports the row count after the
// run (an output allocator, as TensorRT's): the runtime op returns the first `count` rows. The
// result may only leave the engine, so a node reading it inside Kiln keeps nonzero in PyTorch.
#include "converters/families.h"

namespace kiln::bridge {
namespace {

// nonzero(x) -> int64 [count, rank(x)]
Status nonzero(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  return set_output_tensor(ctx, n, ctx.net.add_nonzero(x));
}

bool nonzero_supported(const OpGraph& g, const Node& n, std::string* why) {
  const Value& x = input_value(g, n, 0);
  if (x.meta && x.meta->dtype == at::kFloat8_e4m3fn) {
    *why = "nonzero of float8";
    return false;
  }
  int out = n.outputs[0];
  for (const Node& m : g.nodes)
    for (int v : m.inputs)
      if (v == out) {
        *why = "its result (rows known only at run time) is read by " + m.op +
               "; Kiln returns such results only as engine outputs";
        return false;
      }
  return true;
}

}  // namespace

void register_data_dependent_converters(ConverterRegistry& r) {
  add_converter(r, {"aten::nonzero"}, nonzero, nonzero_supported);
}

}  // namespace kiln::bridge
