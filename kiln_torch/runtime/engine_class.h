// torch.classes.kiln.Engine: a loaded Kiln engine as a TorchBind object. It pickles its plan (as a
// uint8 tensor) so torch.jit.save / torch.save / torch.export.save carry it, and runs through
// kiln::execute_engine(Tensor[] inputs, Engine engine) -> Tensor[].
#pragma once

#include <torch/custom_class.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "kiln/engine.h"
#include "kiln/engine_layers.h"

namespace kiln::bridge {

class TorchEngine : public torch::CustomClassHolder {
 public:
  /// Pickled state: format version, plan bytes, input names, output names, engine name.
  using State = std::tuple<int64_t, at::Tensor, std::vector<std::string>, std::vector<std::string>,
                           std::string>;
  static constexpr int64_t kStateVersion = 1;

  /// Loads `plan` (uint8 CPU tensor); throws (see set_failure_handler) when the plan is refused.
  TorchEngine(at::Tensor plan, std::vector<std::string> input_names,
              std::vector<std::string> output_names, std::string name);

  /// Runs on `inputs`. `slot` picks one of several execution contexts per stream (kiln.llm runs the
  /// prefill and decode shapes in two, so neither re-plans memory nor loses its CUDA graph when the
  /// other runs); every slot shares the engine and its one copy of the weights.
  std::vector<at::Tensor> execute(const std::vector<at::Tensor>& inputs, int64_t slot = 0);
  std::string describe() const { return engine_->describe(); }
  const std::vector<std::string>& input_names() const { return input_names_; }
  const std::vector<std::string>& output_names() const { return output_names_; }
  const std::string& name() const { return name_; }
  std::string backend() const { return engine_->backend(); }
  /// The plan's build switches as "name=value" strings (Engine::build_settings).
  std::vector<std::string> build_settings() const {
    std::vector<std::string> out;
    for (const auto& [k, v] : engine_->build_settings()) out.push_back(k + "=" + v);
    return out;
  }
  /// Engine::precision_report as [layer, precision, reason] triples.
  std::vector<std::vector<std::string>> precision_report() const {
    std::vector<std::vector<std::string>> out;
    for (const auto& p : engine_->precision_report())
      out.push_back({p.layer, p.precision, p.reason});
    return out;
  }
  /// Shapes the engine would produce for these input shapes (for fake/meta kernels).
  std::vector<std::vector<int64_t>> output_shapes(
      const std::vector<std::vector<int64_t>>& input_shapes);
  std::vector<int64_t> output_dtypes() const;
  at::Tensor plan() const { return plan_; }
  /// The engine's kernels after fusion, with tactic and layers (kiln.report, kilnc --report).
  std::vector<KernelGroupInfo> kernel_groups() const { return kiln::kernel_groups(*engine_); }
  /// Times every kernel of the next runs (ExecutionContext::set_profiling: synchronizes after
  /// each).
  void set_profiling(bool enabled);
  /// Per-kernel times of the last run made while profiling (empty before one).
  std::vector<LayerTiming> last_timings();

  State get_state() const { return {kStateVersion, plan_, input_names_, output_names_, name_}; }
  static c10::intrusive_ptr<TorchEngine> from_state(State state);

 private:
  ExecutionContext& context_for(void* stream, int64_t slot);

  at::Tensor plan_;
  std::vector<std::string> input_names_, output_names_;
  std::string name_;
  std::shared_ptr<kiln::Engine> engine_;
  bool cuda_ = false;
  int device_ = 0;
  std::mutex mu_;
  // one per (stream, slot)
  std::map<std::pair<void*, int64_t>, std::unique_ptr<ExecutionContext>> contexts_;
  bool profiling_ = false;
  ExecutionContext* last_context_ = nullptr;  // the context of the last run
};

/// Throws for a refused plan or run. kiln._C installs one that throws the KilnError subclass of the
/// status code (so Python gets a typed error); without one (C++ programs) failures are c10::Error.
/// A handler must throw; it is called with the full message and the Status code.
using FailureHandler = void (*)(const std::string& message, StatusCode code);
void set_failure_handler(FailureHandler handler);

/// Process-wide CUDA-graph replay switch for every TorchEngine (default on: each execution context
/// captures a graph per input shape and replays it). Off, engines launch their kernels one by one,
/// which is what a caller needs who captures the whole module in its own graph (torch.cuda.graph):
/// Torch-TensorRT's runtime.set_cudagraphs_mode. Ops kiln::set_cuda_graphs /
/// kiln::cuda_graphs_enabled.
void set_cuda_graphs_enabled(bool enabled);
bool cuda_graphs_enabled();

/// Runs `engine` on `inputs` (the kiln::execute_engine op).
std::vector<at::Tensor> execute_engine(std::vector<at::Tensor> inputs,
                                       c10::intrusive_ptr<TorchEngine> engine);

}  // namespace kiln::bridge
