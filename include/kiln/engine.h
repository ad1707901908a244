// Runtime -> Engine (immutable, shareable across threads) -> ExecutionContext (one per stream).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kiln/logger.h"
#include "kiln/shapes.h"
#include "kiln/status.h"
#include "kiln/types.h"

namespace kiln {

class EngineImpl;
class ExecutionContextImpl;

/// An input or output of an engine.
struct IOTensorInfo {
  std::string name;
  DataType dtype = DataType::kFloat32;
  Dims dims;  ///< -1 where dynamic
  bool is_input = true;
  /// Outputs only: the leading extent depends on the data (nonzero). Before a run tensor_shape()
  /// gives its upper bound (bind a buffer that large); after the run ExecutionContext::output_shape
  /// gives the rows actually written.
  bool data_dependent = false;
};

/// Time one kernel group took in the last profiled run.
struct LayerTiming {
  std::string name;    ///< the group's layer names joined with '+'
  std::string kernel;  ///< kernel and tactic, e.g. "cpu.convolution#0"
  double milliseconds = 0.0;
};

/// The precision one convolution or GEMM of a network with quantize/dequantize layers runs in,
/// and why (the Q/DQ fusion pass decides; the plan records it).
struct LayerPrecision {
  std::string layer;      ///< the layer's name in the network (the anchor of a fused chain)
  std::string precision;  ///< "int8", "fp8" or "float"
  std::string reason;     ///< what was fused into one 8-bit layer, or why it stayed in float
};

class ExecutionContext;

/// A loaded plan. Immutable once created; any number of ExecutionContexts may use it concurrently.
class Engine {
 public:
  explicit Engine(std::shared_ptr<const EngineImpl> impl);
  ~Engine();

  const std::string& backend() const;
  int num_io_tensors() const;
  const IOTensorInfo& io_tensor(int index) const;
  /// Index of the input/output named `name`, or NotFound.
  Expected<int> io_index(std::string_view name) const;
  int num_profiles() const;
  /// min/opt/max of input `name` in profile `profile` (static inputs: all equal to their dims).
  Expected<ShapeRange> profile_range(int profile, std::string_view name) const;
  /// A text listing of the engine: I/O, build settings, layers, kernel groups (kernel, tactic).
  std::string describe() const;
  /// The switches the plan was built with (BuilderConfig::switches, and whether the layout pass
  /// applied channels-last), as (name, value) pairs in a fixed order.
  std::vector<std::pair<std::string, std::string>> build_settings() const;
  /// Per convolution / GEMM of a network with quantize/dequantize layers: what ran in 8 bits and
  /// why not (empty for networks without Q/DQ).
  const std::vector<LayerPrecision>& precision_report() const;

  /// A new execution context (per-stream state: shapes, bindings, activation memory).
  Expected<std::unique_ptr<ExecutionContext>> create_context() const;

  const EngineImpl& impl() const { return *impl_; }

 private:
  std::shared_ptr<const EngineImpl> impl_;
};

class Runtime {
 public:
  /// Verifies and loads plan bytes. A truncated, altered or incompatible plan gives an error
  /// status.
  static Expected<std::shared_ptr<Engine>> load(std::span<const uint8_t> plan,
                                                Logger* logger = nullptr);
  static Expected<std::shared_ptr<Engine>> load_file(const std::string& path,
                                                     Logger* logger = nullptr);
};

/// Per-stream execution state. Not thread-safe itself; use one per thread/stream.
class ExecutionContext {
 public:
  explicit ExecutionContext(std::unique_ptr<ExecutionContextImpl> impl);
  ~ExecutionContext();

  /// Selects the optimization profile whose ranges input shapes must fall into (default 0).
  Status set_optimization_profile(int profile);
  int optimization_profile() const;
  /// Sets the run-time shape of a dynamic input; errors name the input, the dim and the bound.
  Status set_input_shape(std::string_view name, const Dims& dims);
  /// Shape of any I/O tensor once all input shapes are known (for a data-dependent output: its
  /// upper bound).
  Expected<Dims> tensor_shape(std::string_view name);
  /// Shape of an output as the last run wrote it: tensor_shape() except for data-dependent outputs,
  /// whose leading extent is read back from the engine (call after the run has completed:
  /// execute(), or enqueue() and a synchronized stream).
  Expected<Dims> output_shape(std::string_view name);
  /// Binds the memory of an input or output (host memory on cpu, device memory on cuda).
  Status set_tensor_address(std::string_view name, void* data);
  /// Checked binding: dtype must match; for inputs also sets the shape; for outputs dims must equal
  /// the shape the engine will produce.
  Status bind(std::string_view name, void* data, DataType dtype, const Dims& dims);
  /// Runs the engine on `stream` (a cudaStream_t on cuda; ignored on cpu, which runs
  /// synchronously).
  Status enqueue(void* stream = nullptr);
  /// Runs and waits for completion.
  Status execute();

  /// Records per-group times on the next runs (synchronizes after each group).
  void set_profiling(bool enabled);
  /// CUDA backend: capture each input shape's run as a CUDA graph and replay it (default on).
  void set_cuda_graphs(bool enabled);
  std::vector<LayerTiming> last_timings() const;
  /// Activation memory this context holds now, in bytes.
  uint64_t activation_bytes() const;

  ExecutionContextImpl& impl() { return *impl_; }

 private:
  std::unique_ptr<ExecutionContextImpl> impl_;
};

}  // namespace kiln
