// The backend interface (in the spirit of ggml-backend and ONNX Runtime execution providers).
//
// Build time:  supports()   -- can this backend run this layer? (capability, with a reason if not)
//              lower()      -- group the layers that run on the device into kernels, choose a
//                              kernel and tactic per group; the result is recorded in the plan.
// Load time:   load()       -- turn the plan's graph + kernel records into a BackendEngine:
//                              immutable kernels (weights uploaded once), shared by every context.
//
// The runtime includes this header, so it names the builder's config only by declaration: a
// deployed runtime never compiles against kiln/builder.h (tests/check_layering.sh).
// Run time:    BackendEngine::create_context() -- per-context state (memory, handles, streams);
//              BackendContext::execute() runs the groups over a table of tensor views.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ir/graph.h"
#include "kiln/logger.h"
#include "kiln/status.h"
#include "serialization/plan_contents.h"

namespace kiln {
struct BuilderConfig;
}  // namespace kiln

namespace kiln::backend {

using serial::KernelRecord;

/// A tensor's memory and concrete type during a run.
struct TensorView {
  void* data = nullptr;
  DataType dtype = DataType::kFloat32;
  Dims dims;
  /// Host copy of the values of small int tensors resolved with the shapes (shape operands such as
  /// slice starts or arange bounds); nullptr when not tracked. Kernels read these instead of device
  /// data, which may not exist for tensors only needed by shape resolution.
  const int64_t* values = nullptr;
  int64_t numel() const { return dims.volume(); }
  size_t bytes() const { return static_cast<size_t>(dims.volume()) * dtype_size(dtype); }
};

/// What a kernel sees when it runs: every tensor of the graph by id (only those of its group are
/// meaningful), scratch memory and the stream.
struct RunContext {
  std::span<const TensorView> tensors;
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
  void* stream = nullptr;
  void* backend_state = nullptr;  ///< the BackendContext's own handles (cuBLASLt, cuDNN, ...)
  std::span<const int32_t> input_tensors;   ///< network inputs (tensor ids)
  std::span<const int32_t> output_tensors;  ///< network outputs (tensor ids)
  std::span<const int32_t> storage_root;    ///< per tensor: the tensor whose memory it uses
  /// Per network input: 1 when a layer writes into it in place (kv_cache_write). A CUDA graph
  /// captures such an input at its own address (never staged) and is recaptured if it moves.
  std::span<const uint8_t> input_written;
};

/// An executable group. Created at load, immutable and shared by all contexts (run is const and
/// thread-safe).
class Kernel {
 public:
  virtual ~Kernel() = default;
  virtual Status run(const RunContext& ctx) const = 0;
  /// Scratch needed for the given concrete tensor shapes.
  virtual size_t workspace_bytes(std::span<const TensorView> tensors) const { return 0; }
  /// "cpu.convolution#0".
  virtual std::string describe() const = 0;
};

/// Per-context device state.
class BackendContext {
 public:
  virtual ~BackendContext() = default;
  /// Memory for activations/workspace (host on cpu, device on cuda). Errors are kOutOfMemory.
  virtual Expected<void*> allocate(size_t bytes) = 0;
  virtual void release(void* ptr) = 0;
  /// Runs `kernels` in order. `shape_key` changes whenever shapes (and so the memory plan) change;
  /// the CUDA backend keys its captured graphs on it.
  virtual Status execute(std::span<const Kernel* const> kernels, const RunContext& ctx,
                         uint64_t shape_key) = 0;
  /// Runs `kernels` one at a time, timing each (per-layer profiling).
  virtual Status execute_profiled(std::span<const Kernel* const> kernels, const RunContext& ctx,
                                  std::vector<double>& milliseconds) = 0;
  virtual Status synchronize(void* stream) = 0;
  /// Copies `bytes` of engine memory (host on cpu, device on cuda) to host memory once the work on
  /// `stream` has finished (reads back what the engine learned at run time, e.g. nonzero counts).
  virtual Status copy_to_host(void* dst, const void* src, size_t bytes, void* stream) = 0;
  virtual void* state() { return nullptr; }
  /// Whether runs may be captured and replayed as CUDA graphs (ignored where meaningless).
  virtual void set_graphs_enabled(bool) {}
};

/// The loaded form of a plan for one backend.
class BackendEngine {
 public:
  virtual ~BackendEngine() = default;
  /// Kernels in plan order (one per KernelRecord).
  virtual std::span<const Kernel* const> kernels() const = 0;
  /// Where constant tensor `tensor` lives (host pointer on cpu, device pointer on cuda).
  virtual void* constant_data(int32_t tensor) const = 0;
  virtual Expected<std::unique_ptr<BackendContext>> create_context() const = 0;
};

struct BuildOptions {
  const BuilderConfig* config = nullptr;
  Logger* logger = nullptr;
  /// Layers that execute on the device (others exist only for shape computation or were folded).
  std::vector<int32_t> device_layers;
  /// Profiles' opt shapes resolved to concrete tensor types, per profile (for tactic timing).
  std::vector<std::vector<TensorType>> opt_types;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string_view name() const = 0;
  /// OK if this backend can run here (e.g. a GPU is present); else why not.
  virtual Status available() const = 0;
  /// OK if layer `layer` of `g` can run on this backend; kUnsupported with the reason otherwise.
  virtual Status supports(const ir::Graph& g, int32_t layer) const = 0;
  virtual Expected<std::vector<KernelRecord>> lower(const ir::Graph& g,
                                                    const BuildOptions& options) = 0;
  virtual Expected<std::unique_ptr<BackendEngine>> load(const serial::PlanContents& plan,
                                                        Logger& logger) = 0;
};

/// The registry: every backend compiled in, registered explicitly in backend_registry.cpp.
Backend* find_backend(std::string_view name);
std::vector<Backend*> all_backends();

}  // namespace kiln::backend
