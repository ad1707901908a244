// The ordered pass pipeline. Each entry says why it sits where it does.
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "ir/text_printer.h"
#include "ir/verifier.h"
#include "passes/pass.h"

namespace kiln::passes {
namespace {

struct PassEntry {
  const char* name;
  Status (*run)(ir::Graph&, const PassContext&);
};

// clang-format off
constexpr PassEntry kPipeline[] = {
  {"remove_dead_layers", remove_dead_layers},  // first: no work on what nobody reads
  {"remove_identities", remove_identities},    // contiguous/clone/dropout copies become aliases
  {"fold_constants", fold_constants},          // weights-only subgraphs and static shape math
  {"recognize_gelu", recognize_gelu},          // after folding: the chain's scalars are constants
  {"fold_attention_row_guard", fold_attention_row_guard},  // after folding: the guard's zero is a constant
  {"fold_constant_attention_masks", fold_constant_attention_masks},  // after folding: masks built from shapes
  {"remove_dead_layers", remove_dead_layers},  // the rest of each recognized chain and guard (a dead
                                               // chain still reads the GEMM's view: no hoist below)
  {"shape_gemm_epilogues", shape_gemm_epilogues},  // after recognize_gelu: moves gelu_tanh next to GEMMs
  {"fuse_parallel_linears", fuse_parallel_linears},  // after the linears exist; its slices feed fold_view_chains
  {"layout_channels_last", layout_channels_last},  // cuda: NHWC convolutions; weight transposes fold below
  {"fold_view_chains", fold_view_chains},      // after layout: sees the transposes it left; dead chains go below
  {"fold_linear_scale", fold_linear_scale},    // after layout: ConvNeXt's layer scale meets its linear in NHWC
  {"assign_precision", assign_precision},      // inserts casts (of constants too)
  {"simplify_casts", simplify_casts},          // removes exact round trips the previous pass made
  {"fold_constants", fold_constants},          // folds casts of constants into converted weights
  {"remove_dead_layers", remove_dead_layers},  // drops what folding orphaned, and unused weights
};
// clang-format on

void dump(const ir::Graph& g, int index, const char* name) {
  const char* dir = std::getenv("KILN_DUMP_IR");
  if (dir == nullptr || *dir == '\0') return;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  std::ofstream f(std::string(dir) + "/" + std::to_string(index) + "_" + name + ".txt");
  f << ir::print_graph(g);
}

// Weights no constant references any more.
void compact_weights(ir::Graph& g) {
  std::vector<ir::Weight> kept;
  for (auto& l : g.layers) {
    if (l.op != ir::OpKind::kConstant) continue;
    auto& p = std::get<ConstantParams>(l.params);
    kept.push_back(g.weights[static_cast<size_t>(p.weight)]);
    p.weight = static_cast<int64_t>(kept.size() - 1);
  }
  g.weights = std::move(kept);
}

}  // namespace

Status run_pipeline(ir::Graph& g, const PassContext& ctx) {
  dump(g, 0, "input");
  int index = 1;
  for (const PassEntry& p : kPipeline) {
    Status s = p.run(g, ctx);
    if (!s.ok()) return s;
    compact_weights(g);
    dump(g, index++, p.name);
  }
  Status v = ir::verify_graph(g);
  if (!v.ok()) return make_error(StatusCode::kInternal, "passes.pipeline", "graph invalid after passes: " + v.message());
  return {};
}

}  // namespace kiln::passes
