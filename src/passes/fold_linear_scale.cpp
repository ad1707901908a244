// A constant per-output-feature scale after a linear layer folds into its weight and bias:
//
//   mul(linear(x, W, b), s)  ->  linear(x, W * s[:, None], b * s)      s: [N] or [1, ..., 1, N] or
//   scalar
//
// ConvNeXt's layer scale (gamma * block(x), then the residual add) is this pattern once the layout
// pass has made the block channels-last; afterwards the residual add meets the GEMM and runs in its
// epilogue, so the scaled activation is never written and read back. Needs: W and b constants, the
// linear's output read only by the mul, s broadcast along the output's last dim only (a constant,
// or views of one with a single dim above 1).
#include "common/element_access.h"
#include "passes/graph_rewriter.h"
#include "passes/pass.h"

namespace kiln::passes {
namespace {

// Per-feature factors of scale tensor `s` for an output whose last dim is n, or empty if s is not
// one.
// The constant behind `s`, also through views of a tensor with at most one dim above 1 (the layout
// pass's unsqueeze + transpose of ConvNeXt's [C, 1, 1] scale, not folded yet): such views keep
// the elements in order.
const ir::Weight* scale_weight(const ir::Graph& g, int32_t s) {
  for (int32_t t = s;;) {
    if (const ir::Weight* w = float_constant_weight(g, t)) return w;
    const Dims& d = g.tensors[static_cast<size_t>(t)].type.dims;
    int above_one = 0;
    for (int i = 0; i < d.rank(); ++i) above_one += d[i] != 1;
    const int32_t p = g.tensors[static_cast<size_t>(t)].producer;
    if (above_one > 1 || p < 0) return nullptr;
    const ir::Layer& l = g.layers[static_cast<size_t>(p)];
    if (l.op != ir::OpKind::kTranspose && l.op != ir::OpKind::kUnsqueeze &&
        l.op != ir::OpKind::kReshape && l.op != ir::OpKind::kSqueeze)
      return nullptr;
    t = l.inputs[0];
  }
}

std::vector<double> feature_scale(const ir::Graph& g, int32_t s, const Dims& out) {
  const ir::Weight* w = scale_weight(g, s);
  if (w == nullptr || out.rank() < 1) return {};
  const Dims& d = g.tensors[static_cast<size_t>(s)].type.dims;
  const int64_t n = out[out.rank() - 1];
  if (d.rank() > out.rank() || n < 1) return {};
  for (int i = 0; i + 1 < d.rank(); ++i)
    if (d[i] != 1) return {};
  const int64_t len = d.rank() == 0 ? 1 : d[d.rank() - 1];
  if (len != 1 && len != n) return {};
  std::vector<double> f(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    f[static_cast<size_t>(i)] = load_as_double(w->bytes->data(), w->type.dtype, len == 1 ? 0 : i);
  return f;
}

}  // namespace

// Readers of each tensor among the layers that feed an output: the layout pass leaves the linear's
// own transpose dead beside the mul it sank (remove_dead_layers runs later).
std::vector<int> live_reader_counts(const ir::Graph& g, std::vector<bool>& live_layer) {
  live_layer.assign(g.layers.size(), false);
  std::vector<bool> needed(g.tensors.size(), false);
  for (size_t t = 0; t < g.tensors.size(); ++t) needed[t] = g.tensors[t].is_output;
  std::vector<int> readers(g.tensors.size(), 0);
  for (size_t li = g.layers.size(); li-- > 0;) {
    const ir::Layer& l = g.layers[li];
    bool live = false;
    for (int32_t t : l.outputs) live = live || needed[static_cast<size_t>(t)];
    if (!live) continue;
    live_layer[li] = true;
    for (int32_t t : l.inputs) {
      if (t < 0) continue;
      needed[static_cast<size_t>(t)] = true;
      ++readers[static_cast<size_t>(t)];
    }
  }
  for (size_t t = 0; t < g.tensors.size(); ++t)
    if (g.tensors[t].is_output) readers[t] += 1000;
  return readers;
}

Status fold_linear_scale(ir::Graph& g, const PassContext& ctx) {
  std::vector<bool> live;
  const std::vector<int> readers = live_reader_counts(g, live);
  std::vector<std::vector<double>> scale_of(
      g.layers.size());  // per mul layer: the factors it folds
  std::vector<int32_t> linear_of(g.layers.size(), -1);
  std::vector<bool> folded_linear(g.layers.size(), false);
  for (size_t li = 0; li < g.layers.size(); ++li) {
    const ir::Layer& m = g.layers[li];
    if (m.op != ir::OpKind::kBinary || std::get<BinaryParams>(m.params).op != BinaryOp::kMul)
      continue;
    for (int side = 0; side < 2; ++side) {
      const int32_t t = m.inputs[static_cast<size_t>(side)],
                    s = m.inputs[static_cast<size_t>(1 - side)];
      const ir::Layer* lin = producer_of(g, t);
      if (lin == nullptr || lin->op != ir::OpKind::kLinear || readers[static_cast<size_t>(t)] != 1)
        continue;
      const TensorType& ot = g.tensors[static_cast<size_t>(t)].type;
      if (!(g.tensors[static_cast<size_t>(m.outputs[0])].type == ot) || !is_floating(ot.dtype))
        continue;
      if (float_constant_weight(g, lin->inputs[1]) == nullptr) continue;
      if (lin->inputs.size() > 2 && lin->inputs[2] >= 0 &&
          float_constant_weight(g, lin->inputs[2]) == nullptr)
        continue;
      auto f = feature_scale(g, s, ot.dims);
      if (f.empty()) continue;
      scale_of[li] = std::move(f);
      linear_of[li] = static_cast<int32_t>(lin - g.layers.data());
      folded_linear[static_cast<size_t>(linear_of[li])] = true;
      break;
    }
  }
  bool any_fold = false;
  for (int32_t l : linear_of) any_fold = any_fold || l >= 0;
  GraphRewriter rw(g);
  int folded = 0;
  for (size_t li = 0; li < g.layers.size(); ++li) {
    if (folded_linear[li]) continue;      // re-emitted at its mul with the scaled constants
    if (any_fold && !live[li]) continue;  // dead (may read a folded linear's output)
    if (linear_of[li] < 0) {
      KILN_RETURN_IF_ERROR(rw.copy_layer(li));
      continue;
    }
    const ir::Layer& lin = g.layers[static_cast<size_t>(linear_of[li])];
    const std::vector<double>& f = scale_of[li];
    const ir::Weight& w = *float_constant_weight(g, lin.inputs[1]);
    const int64_t n = w.type.dims[0], k = w.type.dims.volume() / std::max<int64_t>(n, 1);
    if (n != static_cast<int64_t>(f.size())) {
      KILN_RETURN_IF_ERROR(rw.copy_layer(static_cast<size_t>(linear_of[li])));
      KILN_RETURN_IF_ERROR(rw.copy_layer(li));
      continue;
    }
    auto wb = std::make_shared<std::vector<uint8_t>>(w.bytes->size());
    for (int64_t r = 0; r < n; ++r)
      for (int64_t c = 0; c < k; ++c)
        store_from_double(
            wb->data(), w.type.dtype, r * k + c,
            load_as_double(w.bytes->data(), w.type.dtype, r * k + c) * f[static_cast<size_t>(r)]);
    KILN_ASSIGN_OR_RETURN(auto nw, rw.add_constant(w.type, wb, lin.name + "/scaled_weight"));
    std::vector<int32_t> ins{rw.map(lin.inputs[0]), nw};
    if (lin.inputs.size() > 2 && lin.inputs[2] >= 0) {
      const ir::Weight& b = *float_constant_weight(g, lin.inputs[2]);
      auto bb = std::make_shared<std::vector<uint8_t>>(b.bytes->size());
      for (int64_t r = 0; r < b.type.dims.volume(); ++r)
        store_from_double(
            bb->data(), b.type.dtype, r,
            load_as_double(b.bytes->data(), b.type.dtype, r) * f[static_cast<size_t>(r % n)]);
      KILN_ASSIGN_OR_RETURN(auto nb, rw.add_constant(b.type, bb, lin.name + "/scaled_bias"));
      ins.push_back(nb);
    }
    KILN_ASSIGN_OR_RETURN(auto out, rw.add(ir::OpKind::kLinear, lin.params, ins, lin.name));
    rw.dst().layers.back().precision = lin.precision;
    rw.dst().layers.back().user_precision = lin.user_precision;
    rw.set_map(g.layers[li].outputs[0], out[0]);
    ++folded;
  }
  if (folded == 0) return {};
  ctx.logger.log(Severity::kInfo, "[passes.fold_linear_scale] " + std::to_string(folded) +
                                      " scale(s) folded into linear weights");
  KILN_ASSIGN_OR_RETURN(auto out, rw.finish());
  g = std::move(out);
  return {};
}

}  // namespace kiln::passes
