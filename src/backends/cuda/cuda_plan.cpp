// The CUDA kernel list without a GPU (cuda_plan.h).
#include "backends/cuda/cuda_plan.h"

#include "backends/cuda/fusion.h"
#include "ir/analysis.h"
#include "ir/op_table.h"
#include "ir/verifier.h"
#include "passes/pass.h"

namespace kiln::cuda {
namespace {

std::string layer_kind(const ir::Layer& l) {
  if (l.op == ir::OpKind::kBinary)
    return std::string(
        enum_names(BinaryOp{})[static_cast<size_t>(std::get<BinaryParams>(l.params).op)]);
  if (l.op == ir::OpKind::kUnary)
    return std::string(
        enum_names(UnaryOp{})[static_cast<size_t>(std::get<UnaryParams>(l.params).op)]);
  return std::string(ir::op_name(l.op));
}

std::string group_kind(const ir::Graph& g, const FusedGroup& grp) {
  if (grp.attention_views) return "attention+views";
  std::string kind;
  for (size_t i = 0; i < grp.layers.size(); ++i) {
    const ir::Layer& l = g.layers[static_cast<size_t>(grp.layers[i])];
    if (i > 0 && ir::has_flag(l.op, ir::kFlagView)) continue;  // a view inside an epilogue
    if (!kind.empty()) kind += "+";
    kind += ir::has_flag(l.op, ir::kFlagGemm) ? std::string("gemm") : layer_kind(l);
  }
  if (grp.pointwise) return "pointwise[" + kind + "]";
  return kind;
}

}  // namespace

Expected<KernelPlan> plan_kernels(const Network& net, BuilderConfig config) {
  config.backend = "cuda";
  Logger& log = config.logger ? *config.logger : default_logger();
  KernelPlan plan;
  plan.graph = net.graph();
  ir::Graph& g = plan.graph;
  KILN_RETURN_IF_ERROR(ir::verify_graph(g));
  passes::PassOutcome outcome;
  passes::PassContext pctx{config, log, "cuda", &outcome};
  KILN_RETURN_IF_ERROR(passes::run_pipeline(g, pctx));
  const std::vector<bool> device = ir::device_layers(g);
  std::vector<int32_t> layers;
  for (size_t i = 0; i < device.size(); ++i)
    if (device[i]) layers.push_back(static_cast<int32_t>(i));
  FusionOptions fusion;
  fusion.epilogues = config.switches.fuse_epilogues;
  fusion.pointwise = fusion.epilogues && config.switches.fuse_pointwise;
  const std::vector<int32_t> roots = ir::storage_roots(g, device);
  for (FusedGroup& grp : plan_fusion(g, layers, fusion)) {
    if (launches_nothing(g, grp, roots)) {  // no record (CudaBackend::lower)
      ++plan.num_aliasing_views;
      continue;
    }
    std::string kind = group_kind(g, grp);
    plan.kernels.push_back(PlannedKernel{std::move(grp.layers), std::move(kind)});
  }
  return plan;
}

}  // namespace kiln::cuda
