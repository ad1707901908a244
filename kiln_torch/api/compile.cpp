// kiln::torchscript::compile and friends.
#include <algorithm>

#include "api/compile_spec.h"
#include "converters/dtype_map.h"
#include "graph/torchscript_import.h"
#include "partition/partitioner.h"
#include "partition/stitch_torchscript.h"
#include "report/html_report.h"

namespace kiln::torchscript {
namespace {

Status cerr(StatusCode code, const std::string& msg) {
  return make_error(code, "torchscript.compile", msg);
}

// Messages at or above `level` go to `sink` with their severity, or without one to stderr
// (the default logger, told kError so that KILN_LOG_LEVEL does not filter them a second time).
class LevelLogger final : public Logger {
 public:
  LevelLogger(Severity level, Logger* sink) : level_(level), sink_(sink) {}
  void log(Severity s, std::string_view msg) override {
    if (static_cast<int>(s) > static_cast<int>(level_)) return;
    if (sink_ != nullptr)
      sink_->log(s, msg);
    else
      default_logger().log(Severity::kError, msg);
  }

 private:
  Severity level_;
  Logger* sink_;
};

Status validate(const CompileSpec& spec) {
  for (size_t i = 0; i < spec.inputs.size(); ++i) {
    const Input& in = spec.inputs[i];
    std::string where = "input " + std::to_string(i);
    if (in.opt_shape.empty() && in.min_shape.empty())
      return cerr(StatusCode::kInvalidArgument, where + " has no shape");
    if (in.min_shape.size() != in.opt_shape.size() || in.opt_shape.size() != in.max_shape.size())
      return cerr(StatusCode::kInvalidArgument,
                  where + ": min/opt/max shapes must have the same rank");
    for (size_t d = 0; d < in.opt_shape.size(); ++d) {
      if (in.min_shape[d] < 0 || in.min_shape[d] > in.opt_shape[d] ||
          in.opt_shape[d] > in.max_shape[d]) {
        return cerr(StatusCode::kInvalidArgument,
                    where + " dim " + std::to_string(d) + ": need 0 <= min <= opt <= max");
      }
    }
    if (!bridge::to_kiln_dtype(in.dtype))
      return cerr(StatusCode::kInvalidArgument,
                  where + ": dtype " + c10::toString(in.dtype) + " is not supported by Kiln");
  }
  if (spec.min_block_size < 1)
    return cerr(StatusCode::kInvalidArgument, "min_block_size must be >= 1");
  if (spec.device.type == DeviceType::kCUDA &&
      std::find(available_backends().begin(), available_backends().end(), "cuda") ==
          available_backends().end())
    return cerr(StatusCode::kUnsupported,
                "device cuda requested but this Kiln build has no CUDA backend");
  return {};
}

struct Prepared {
  bridge::ImportedGraph ig;
  bridge::PartitionOptions options;
};

Expected<Prepared> prepare(const torch::jit::Module& module, const std::string& method,
                           const CompileSpec& spec, Logger* logger) {
  KILN_RETURN_IF_ERROR(validate(spec));
  c10::Device device =
      spec.device.type == DeviceType::kCUDA
          ? c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(spec.device.gpu_id))
          : c10::Device(c10::kCPU);
  std::vector<bridge::InputRange> ranges;
  for (const Input& in : spec.inputs)
    ranges.push_back({in.min_shape, in.opt_shape, in.max_shape, in.dtype});
  KILN_ASSIGN_OR_RETURN(auto ig, bridge::import_torchscript(module, method, device, &ranges));
  KILN_RETURN_IF_ERROR(bridge::analyze_shapes(ig, ranges, device));
  for (int round = 0; round < 4 && bridge::fold_static_queries(ig, device); ++round) {
    KILN_RETURN_IF_ERROR(bridge::build_op_graph(ig));
    KILN_RETURN_IF_ERROR(bridge::analyze_shapes(ig, ranges, device));
  }
  if (logger != nullptr)
    logger->log(Severity::kVerbose,
                "[torchscript.lowering] lowered graph:\n" + ig.ts_graph->toString());
  Prepared p{std::move(ig), {}};
  p.options.min_block_size = spec.min_block_size;
  p.options.torch_executed_ops =
      std::set<std::string>(spec.torch_executed_ops.begin(), spec.torch_executed_ops.end());
  p.options.require_full_compilation = spec.require_full_compilation;
  p.options.builder.backend = spec.device.type == DeviceType::kCUDA ? "cuda" : "cpu";
  p.options.builder.device = spec.device.gpu_id;
  p.options.builder.enabled_precisions.assign(spec.enabled_precisions.begin(),
                                              spec.enabled_precisions.end());
  p.options.builder.workspace_limit = spec.workspace_size;
  p.options.builder.optimization_level = spec.optimization_level;
  p.options.builder.timing_cache_path = spec.timing_cache_path;
  p.options.builder.kernel_cache_dir = spec.kernel_cache_dir;
  p.options.builder.switches = spec.switches;
  p.options.builder.dump_ir_dir = spec.dump_ir_dir;
  p.options.builder.logger = logger;
  p.options.progress = spec.progress;
  return p;
}

}  // namespace

Expected<torch::jit::Module> compile(const torch::jit::Module& module, const CompileSpec& spec) {
  return compile(module, spec, nullptr);
}

Expected<torch::jit::Module> compile(const torch::jit::Module& module, const CompileSpec& spec,
                                     std::string* report_json, bool report_engines) {
  LevelLogger logger(spec.log_level, spec.logger);
  KILN_ASSIGN_OR_RETURN(auto p, prepare(module, "forward", spec, &logger));
  KILN_ASSIGN_OR_RETURN(auto r, bridge::partition_and_build(p.ig.graph, p.options));
  logger.log(Severity::kInfo, "[torchscript.compile] " + bridge::support_report(p.ig.graph, r));
  std::string fallbacks = bridge::fallback_summary(p.ig.graph, r);
  if (!fallbacks.empty()) logger.log(Severity::kWarning, "[torchscript.compile] " + fallbacks);
  if (report_json != nullptr) {
    std::string title = module.type()->name() ? module.type()->name()->name() : "module";
    *report_json = bridge::report_json(p.ig.graph, r, title + ".forward", "TorchScript",
                                       p.options.builder.backend, report_engines);
  }
  return bridge::stitch_torchscript(p.ig, r, "forward");
}

Expected<std::string> check_method_support(const torch::jit::Module& module,
                                           const std::string& method, const CompileSpec& spec) {
  LevelLogger logger(spec.log_level, spec.logger);
  KILN_ASSIGN_OR_RETURN(auto p, prepare(module, method, spec, &logger));
  p.options.require_full_compilation = false;
  KILN_ASSIGN_OR_RETURN(auto r, bridge::plan_partition(p.ig.graph, p.options));
  return bridge::support_report(p.ig.graph, r);
}

Expected<std::vector<uint8_t>> convert_method_to_plan(const torch::jit::Module& module,
                                                      const std::string& method,
                                                      const CompileSpec& spec) {
  LevelLogger logger(spec.log_level, spec.logger);
  KILN_ASSIGN_OR_RETURN(auto p, prepare(module, method, spec, &logger));
  p.options.require_full_compilation = true;
  KILN_ASSIGN_OR_RETURN(auto r, bridge::partition_and_build(p.ig.graph, p.options));
  if (r.num_engines() != 1 || r.segments.size() != 1)
    return cerr(StatusCode::kUnsupported, "the method does not compile to a single engine");
  return r.segments[0].plan;
}

}  // namespace kiln::torchscript
