// Builder::build: verify -> passes -> profile shape checks -> backend lowering -> plan bytes.
#include "kiln/builder.h"

#include <chrono>

#include "backends/backend.h"
#include "builder/profiles.h"
#include "ir/analysis.h"
#include "ir/shape_resolver.h"
#include "ir/verifier.h"
#include "passes/pass.h"
#include "serialization/plan_contents.h"

#ifndef KILN_VERSION
#define KILN_VERSION "0.0.0"
#endif

namespace kiln {
namespace {

Status berr(StatusCode code, const std::string& msg) { return make_error(code, "builder", msg); }

class Stopwatch {
 public:
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  }

 private:
  std::chrono::steady_clock::time_point t0_ = std::chrono::steady_clock::now();
};

}  // namespace

const char* version() { return KILN_VERSION; }

bool BuilderConfig::precision_enabled(Precision p) const {
  if (p == Precision::kFP32) return true;
  for (Precision e : enabled_precisions)
    if (e == p) return true;
  return false;
}

std::vector<std::string> available_backends() {
  std::vector<std::string> names;
  for (backend::Backend* b : backend::all_backends()) names.emplace_back(b->name());
  return names;
}

std::string default_backend() {
  backend::Backend* cuda = backend::find_backend("cuda");
  if (cuda != nullptr && cuda->available().ok()) return "cuda";
  return "cpu";
}

Expected<Plan> Builder::build(const Network& network, const BuilderConfig& config) {
  Logger& log = config.logger ? *config.logger : default_logger();
  Stopwatch total;
  ir::Graph g = network.graph();
  Status v = ir::verify_graph(g);
  if (!v.ok()) return berr(v.code(), "the network is malformed: " + v.message());

  std::string backend_name = config.backend.empty() ? default_backend() : config.backend;
  backend::Backend* be = backend::find_backend(backend_name);
  if (be == nullptr) {
    std::string have;
    for (const auto& n : available_backends()) have += (have.empty() ? "" : ", ") + n;
    return berr(StatusCode::kUnsupported,
                "unknown backend '" + backend_name + "' (this build has: " + have + ")");
  }
  Status avail = be->available();
  if (!avail.ok())
    return berr(StatusCode::kUnsupported,
                "backend '" + backend_name + "' is not usable: " + avail.message());
  if (config.precision_enabled(Precision::kINT8) || config.precision_enabled(Precision::kFP8)) {
    bool has_qdq = false;
    for (const auto& l : g.layers) has_qdq |= ir::has_flag(l.op, ir::kFlagQuantization);
    if (!has_qdq)
      return berr(StatusCode::kUnsupported,
                  "8-bit precision needs quantize/dequantize layers (explicit quantization: PT2E, "
                  "fake quantization, or calibration with kiln.ptq.DataLoaderCalibrator, which "
                  "inserts them); this network has none");
  }
  if (config.optimization_level < 0 || config.optimization_level > 5)
    return berr(StatusCode::kInvalidArgument, "optimization_level must be 0..5, got " +
                                                  std::to_string(config.optimization_level));

  KILN_RETURN_IF_ERROR(validate_build_switches(config.switches));

  KILN_ASSIGN_OR_RETURN(auto profiles, builder::validate_profiles(g, config.profiles));

  passes::PassOutcome outcome;
  passes::PassContext pctx{config, log, backend_name, &outcome};
  KILN_RETURN_IF_ERROR(passes::run_pipeline(g, pctx));
  log.log(Severity::kInfo, "[builder] passes done: " + std::to_string(g.layers.size()) +
                               " layers (" + std::to_string(total.seconds()) + " s)");

  KILN_RETURN_IF_ERROR(builder::check_profile_shapes(g, profiles));

  std::vector<bool> device = ir::device_layers(g);
  backend::BuildOptions options;
  options.config = &config;
  options.logger = &log;
  std::string unsupported;
  for (size_t i = 0; i < g.layers.size(); ++i) {
    if (!device[i]) continue;
    options.device_layers.push_back(static_cast<int32_t>(i));
    Status s = be->supports(g, static_cast<int32_t>(i));
    if (!s.ok())
      unsupported += "\n  " + g.layer_label(static_cast<int32_t>(i)) + ": " + s.message();
  }
  if (!unsupported.empty())
    return berr(StatusCode::kUnsupported,
                "backend '" + backend_name + "' cannot run these layers:" + unsupported);
  for (const auto& p : profiles) {
    KILN_ASSIGN_OR_RETURN(
        auto r, ir::resolve_shapes(g, builder::profile_input_dims(g, p, 1), "opt shapes"));
    options.opt_types.push_back(std::move(r.types));
  }
  KILN_ASSIGN_OR_RETURN(auto records, be->lower(g, options));

  serial::PlanContents plan;
  plan.producer_version = std::string("kiln ") + KILN_VERSION;
  plan.backend = backend_name;
  plan.device = config.device;
  plan.precisions = config.enabled_precisions;
  plan.optimization_level = config.optimization_level;
  plan.workspace_limit = config.workspace_limit;
  plan.switches = config.switches;
  plan.channels_last_applied = outcome.channels_last;
  plan.precision_report = outcome.precision_report;
  plan.graph = std::move(g);
  plan.kernels = std::move(records);
  plan.profiles = std::move(profiles);
  KILN_ASSIGN_OR_RETURN(auto bytes, serial::write_plan(plan));
  log.log(Severity::kInfo, "[builder] built " + backend_name +
                               " plan: " + std::to_string(plan.kernels.size()) + " kernels, " +
                               std::to_string(bytes.size()) + " bytes in " +
                               std::to_string(total.seconds()) + " s");
  return Plan{std::move(bytes)};
}

}  // namespace kiln
