// The ordered pass pipeline. Each entry says why it sits where it does.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "ir/text_printer.h"
#include "ir/verifier.h"
#include "passes/pass.h"

namespace kiln::passes {
namespace {

// clang-format off
constexpr PassEntry kPipeline[] = {
  {"remove_dead_layers", remove_dead_layers},  // first: no work on what nobody reads
  {"remove_identities", remove_identities},    // contiguous/clone/dropout copies become aliases
  {"fuse_quantized_layers", fuse_quantized_layers},  // before folding turns DQ(weights) into floats
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

// An instrument: a failed write is reported, never fails the build.
void dump(const ir::Graph& g, const PassContext& ctx, int index, const char* name) {
  const std::string& dir = ctx.config.dump_ir_dir;
  if (dir.empty()) return;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  std::ofstream f(dir + "/" + std::to_string(index) + "_" + name + ".txt");
  f << ir::print_graph(g);
  if (!f) ctx.logger.log(Severity::kWarning, "[passes.pipeline] cannot write IR dumps to " + dir);
}

// kInvalidArgument naming the pass list when `disabled` names a pass `passes` lacks.
Status check_disabled(std::span<const PassEntry> passes, const std::vector<std::string>& disabled) {
  std::vector<std::string> known;
  for (const PassEntry& p : passes)
    if (std::find(known.begin(), known.end(), p.name) == known.end()) known.emplace_back(p.name);
  for (const std::string& name : disabled) {
    if (std::find(known.begin(), known.end(), name) != known.end()) continue;
    std::string list;
    for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
    return make_error(StatusCode::kInvalidArgument, "passes.pipeline",
                      "unknown pass '" + name + "' in disabled_passes (passes: " + list + ")");
  }
  return {};
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

std::span<const PassEntry> pipeline_passes() { return kPipeline; }

Status run_passes(ir::Graph& g, const PassContext& ctx, std::span<const PassEntry> passes) {
  const auto& disabled = ctx.config.switches.disabled_passes;
  KILN_RETURN_IF_ERROR(check_disabled(passes, disabled));
  dump(g, ctx, 0, "input");
  int index = 1;
  for (const PassEntry& p : passes) {
    if (std::find(disabled.begin(), disabled.end(), p.name) != disabled.end()) {
      ctx.logger.log(Severity::kInfo, std::string("[passes.pipeline] skipped ") + p.name);
      continue;
    }
    KILN_RETURN_IF_ERROR(p.run(g, ctx));
    compact_weights(g);
    dump(g, ctx, index++, p.name);
    if (!ctx.verify_each_pass) continue;
    Status v = ir::verify_graph(g);
    if (!v.ok()) {
      return make_error(StatusCode::kInternal, "passes.pipeline",
                        std::string("graph invalid after pass ") + p.name + ": " + v.message());
    }
  }
  Status v = ir::verify_graph(g);
  if (!v.ok())
    return make_error(StatusCode::kInternal, "passes.pipeline",
                      "graph invalid after passes: " + v.message());
  return {};
}

Status run_pipeline(ir::Graph& g, const PassContext& ctx) { return run_passes(g, ctx, kPipeline); }

}  // namespace kiln::passes
