// Convolutions: aten::_convolution, convolution, conv1d/2d/3d (incl. padding="same"/"valid"),
// conv_transpose1d/2d/3d.
#include "converters/families.h"

namespace kiln::bridge {
namespace {

std::vector<int64_t> expand_to(std::vector<int64_t> v, size_t n, int64_t def) {
  if (v.empty()) return std::vector<int64_t>(n, def);
  if (v.size() == 1 && n > 1) return std::vector<int64_t>(n, v[0]);
  return v;
}

// Common tail: x, w, bias? and the params.
Status emit(ConversionCtx& ctx, const Node& n, ConvolutionParams p) {
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  KILN_ASSIGN_OR_RETURN(auto w, ctx.tensor(n, 1));
  KILN_ASSIGN_OR_RETURN(auto b, ctx.optional_tensor(n, 2));
  DataType dt = ctx.dtype(x);
  KILN_ASSIGN_OR_RETURN(auto wc, ctx.cast(w, dt));
  kiln::Tensor bias = b;
  if (bias.valid()) {
    KILN_ASSIGN_OR_RETURN(auto bc, ctx.cast(bias, dt));
    bias = bc;
  }
  int rank = ctx.rank(x);
  auto spatial = static_cast<size_t>(rank - 2);
  kiln::Tensor input = x;
  bool unbatched = ctx.rank(wc) == rank + 1;  // torch allows [C, L...] inputs
  if (unbatched) {
    KILN_ASSIGN_OR_RETURN(auto u, ctx.net.add_unsqueeze(input, {0}));
    input = u;
    spatial = static_cast<size_t>(rank - 1);
  }
  p.strides = expand_to(p.strides, spatial, 1);
  p.dilations = expand_to(p.dilations, spatial, 1);
  p.pads_begin = expand_to(p.pads_begin, spatial, 0);
  p.pads_end = p.pads_end.empty() ? p.pads_begin : expand_to(p.pads_end, spatial, 0);
  if (p.transposed) p.output_padding = expand_to(p.output_padding, spatial, 0);
  KILN_ASSIGN_OR_RETURN(auto y, ctx.check(n, ctx.net.add_convolution(input, wc, bias, p)));
  kiln::Tensor out = y;
  if (unbatched) {
    KILN_ASSIGN_OR_RETURN(auto s, ctx.net.add_squeeze(out, {0}));
    out = s;
  }
  ctx.set_output(n, 0, out);
  return {};
}

// aten::_convolution / aten::convolution: (x, w, b, stride, padding, dilation, transposed,
// output_padding, groups, ...)
Status convolution(ConversionCtx& ctx, const Node& n) {
  ConvolutionParams p;
  KILN_ASSIGN_OR_RETURN(p.strides, ctx.const_int_list(n, 3));
  KILN_ASSIGN_OR_RETURN(p.pads_begin, ctx.const_int_list(n, 4));
  KILN_ASSIGN_OR_RETURN(p.dilations, ctx.const_int_list(n, 5));
  KILN_ASSIGN_OR_RETURN(p.transposed, ctx.const_bool(n, 6));
  KILN_ASSIGN_OR_RETURN(p.output_padding, ctx.const_int_list(n, 7));
  KILN_ASSIGN_OR_RETURN(p.groups, ctx.const_int(n, 8));
  return emit(ctx, n, p);
}

// aten::conv{1,2,3}d(x, w, b, stride, padding, dilation, groups); padding may be a string.
Status conv_nd(ConversionCtx& ctx, const Node& n) {
  ConvolutionParams p;
  KILN_ASSIGN_OR_RETURN(p.strides, ctx.const_int_list(n, 3));
  KILN_ASSIGN_OR_RETURN(p.dilations, ctx.const_int_list(n, 5));
  KILN_ASSIGN_OR_RETURN(p.groups, ctx.const_int(n, 6));
  const Arg& pad = ctx.arg(n, 4);
  if (pad.is_constant() && pad.ivalue().isString()) {
    std::string mode = pad.ivalue().toStringRef();
    KILN_ASSIGN_OR_RETURN(auto w, ctx.tensor(n, 1));
    Dims wd = ctx.dims(w);
    size_t spatial = static_cast<size_t>(wd.rank() - 2);
    std::vector<int64_t> dil = expand_to(p.dilations, spatial, 1);
    for (size_t i = 0; i < spatial; ++i) {
      int64_t total = mode == "same" ? dil[i] * (wd[static_cast<int>(i) + 2] - 1) : 0;
      p.pads_begin.push_back(total / 2);
      p.pads_end.push_back(total - total / 2);
    }
  } else {
    KILN_ASSIGN_OR_RETURN(auto pv, ctx.const_int_list(n, 4));
    p.pads_begin = pv;
  }
  return emit(ctx, n, p);
}

// aten::conv_transpose{1,2,3}d.input(x, w, b, stride, padding, output_padding, groups, dilation)
Status conv_transpose(ConversionCtx& ctx, const Node& n) {
  ConvolutionParams p;
  KILN_ASSIGN_OR_RETURN(p.strides, ctx.const_int_list(n, 3));
  KILN_ASSIGN_OR_RETURN(p.pads_begin, ctx.const_int_list(n, 4));
  KILN_ASSIGN_OR_RETURN(p.output_padding, ctx.const_int_list(n, 5));
  KILN_ASSIGN_OR_RETURN(p.groups, ctx.const_int(n, 6));
  KILN_ASSIGN_OR_RETURN(p.dilations, ctx.const_int_list(n, 7));
  p.transposed = true;
  return emit(ctx, n, p);
}

bool static_params(const OpGraph& g, const Node& n, std::string* why, size_t first, size_t last) {
  if (!no_float64_inputs(g, n, why)) return false;
  for (size_t i = first; i <= last && i < n.inputs.size(); ++i) {
    if (!g.is_constant(n.inputs[i])) {
      *why = "convolution parameter " + std::to_string(i) + " is not a constant";
      return false;
    }
  }
  return true;
}

}  // namespace

void register_convolution_converters(ConverterRegistry& r) {
  add_converter(r, {"aten::_convolution", "aten::_convolution.deprecated", "aten::convolution"},
                convolution, [](const OpGraph& g, const Node& n, std::string* why) {
                  return static_params(g, n, why, 3, 8);
                });
  add_converter(r,
                {"aten::conv1d", "aten::conv2d", "aten::conv3d", "aten::conv1d.padding",
                 "aten::conv2d.padding", "aten::conv3d.padding"},
                conv_nd, [](const OpGraph& g, const Node& n, std::string* why) {
                  return static_params(g, n, why, 3, 6);
                });
  add_converter(
      r, {"aten::conv_transpose1d", "aten::conv_transpose2d.input", "aten::conv_transpose3d.input"},
      conv_transpose, [](const OpGraph& g, const Node& n, std::string* why) {
        return static_params(g, n, why, 3, 7);
      });
}

}  // namespace kiln::bridge
