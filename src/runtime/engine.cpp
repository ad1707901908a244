// Runtime::load and the public Engine.
#include <fstream>
#include <sstream>

#include "kiln/engine_layers.h"
#include "runtime/engine_impl.h"

namespace kiln {

Engine::Engine(std::shared_ptr<const EngineImpl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;

const std::string& Engine::backend() const { return impl_->plan().backend; }
int Engine::num_io_tensors() const { return static_cast<int>(impl_->io.size()); }
const IOTensorInfo& Engine::io_tensor(int index) const {
  return impl_->io.at(static_cast<size_t>(index));
}
int Engine::num_profiles() const { return static_cast<int>(impl_->plan().profiles.size()); }

Expected<int> Engine::io_index(std::string_view name) const {
  for (size_t i = 0; i < impl_->io.size(); ++i)
    if (impl_->io[i].name == name) return static_cast<int>(i);
  return make_error(StatusCode::kNotFound, "runtime",
                    "no input or output named '" + std::string(name) + "'");
}

Expected<ShapeRange> Engine::profile_range(int profile, std::string_view name) const {
  if (profile < 0 || profile >= num_profiles())
    return make_error(StatusCode::kInvalidArgument, "runtime",
                      "profile " + std::to_string(profile) + " does not exist");
  KILN_ASSIGN_OR_RETURN(auto idx, io_index(name));
  const IOTensorInfo& info = impl_->io[static_cast<size_t>(idx)];
  if (!info.is_input)
    return make_error(StatusCode::kInvalidArgument, "runtime", "'" + info.name + "' is an output");
  const auto& ranges = impl_->plan().profiles[static_cast<size_t>(profile)].ranges;
  auto it = ranges.find(info.name);
  if (it != ranges.end()) return it->second;
  return ShapeRange{info.dims, info.dims, info.dims};
}

std::vector<std::pair<std::string, std::string>> Engine::build_settings() const {
  return serial::build_settings(impl_->plan());
}

const std::vector<LayerPrecision>& Engine::precision_report() const {
  return impl_->plan().precision_report;
}

std::string Engine::describe() const {
  const auto& plan = impl_->plan();
  const auto& g = plan.graph;
  std::ostringstream os;
  os << "Kiln engine (backend " << plan.backend << ", built by " << plan.producer_version << ")\n";
  const char* sep = "  build settings: ";
  for (const auto& [name, value] : build_settings()) {
    os << sep << name << "=" << value;
    sep = "; ";
  }
  os << "\n";
  for (const auto& io : impl_->io)
    os << (io.is_input ? "  input  " : "  output ") << io.name << " : " << dtype_name(io.dtype)
       << io.dims.to_string() << "\n";
  for (size_t p = 0; p < plan.profiles.size(); ++p) {
    for (const auto& [name, r] : plan.profiles[p].ranges)
      os << "  profile " << p << " " << name << " min " << r.min.to_string() << " opt "
         << r.opt.to_string() << " max " << r.max.to_string() << "\n";
  }
  uint64_t weight_bytes = 0;
  for (const auto& w : g.weights) weight_bytes += w.bytes->size();
  os << "  " << g.layers.size() << " layers, " << plan.kernels.size() << " kernels, "
     << weight_bytes << " weight bytes\n";
  auto groups = kernel_groups(*this);
  for (size_t k = 0; k < groups.size(); ++k) {
    os << "  [" << k << "] " << groups[k].kernel << " :";
    for (const auto& layer : groups[k].layers) {
      os << " " << layer.name << "(" << layer.op;
      if (!layer.precision.empty()) os << "@" << layer.precision;
      os << ")";
    }
    os << "\n";
  }
  return os.str();
}

Expected<std::unique_ptr<ExecutionContext>> Engine::create_context() const {
  KILN_ASSIGN_OR_RETURN(auto bctx, impl_->backend_engine().create_context());
  return std::make_unique<ExecutionContext>(
      std::make_unique<ExecutionContextImpl>(impl_, std::move(bctx)));
}

Expected<std::shared_ptr<Engine>> Runtime::load(std::span<const uint8_t> bytes, Logger* logger) {
  Logger& log = logger ? *logger : default_logger();
  KILN_ASSIGN_OR_RETURN(auto plan, serial::read_plan(bytes));
  KILN_ASSIGN_OR_RETURN(auto impl, EngineImpl::create(std::move(plan), log));
  return std::make_shared<Engine>(std::move(impl));
}

Expected<std::shared_ptr<Engine>> Runtime::load_file(const std::string& path, Logger* logger) {
  KILN_ASSIGN_OR_RETURN(auto bytes, serial::read_plan_file(path));
  return load(bytes, logger);
}

}  // namespace kiln
