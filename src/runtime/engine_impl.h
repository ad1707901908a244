// EngineImpl: a verified plan bound to its backend, plus the static execution layout every context
// shares (which layers run, which kernel runs them, which tensors share memory).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "kiln/engine.h"
#include "serialization/plan_contents.h"

namespace kiln {

class EngineImpl {
 public:
  static Expected<std::shared_ptr<EngineImpl>> create(serial::PlanContents plan, Logger& logger);

  const serial::PlanContents& plan() const { return plan_; }
  const ir::Graph& graph() const { return plan_.graph; }
  const backend::BackendEngine& backend_engine() const { return *backend_; }
  Logger& logger() const { return *logger_; }

  std::vector<IOTensorInfo> io;    ///< inputs first, then outputs
  std::vector<int32_t> io_tensor;  ///< graph tensor id per io index
  int num_inputs = 0;
  std::vector<bool> executed;         ///< per layer
  std::vector<int32_t> storage_root;  ///< per tensor
  std::vector<int32_t>
      first_kernel;                  ///< per root tensor: kernel writing it (-1: not an activation)
  std::vector<int32_t> last_kernel;  ///< per root tensor: last kernel reading any alias of it
  std::vector<bool> is_arena;        ///< per tensor: lives in the activation arena (roots only)
  std::vector<uint8_t> input_written;  ///< per input: a layer writes into it in place
  /// Per io index: the int64 rank-0 tensor holding a data-dependent output's leading extent (the
  /// nonzero layer's count), else -1. Kept alive to the end of the run so it can be read back.
  std::vector<int32_t> rows_tensor;

 private:
  EngineImpl() = default;
  Status build_layout();

  serial::PlanContents plan_;
  std::unique_ptr<backend::BackendEngine> backend_;
  Logger* logger_ = nullptr;
};

class ExecutionContextImpl {
 public:
  ExecutionContextImpl(std::shared_ptr<const EngineImpl> engine,
                       std::unique_ptr<backend::BackendContext> bctx);
  ~ExecutionContextImpl();

  Status set_optimization_profile(int profile);
  int profile() const { return profile_; }
  Status set_input_shape(std::string_view name, const Dims& dims);
  Expected<Dims> tensor_shape(std::string_view name);
  Expected<Dims> output_shape(std::string_view name);
  Status set_tensor_address(std::string_view name, void* data);
  Status bind(std::string_view name, void* data, DataType dtype, const Dims& dims);
  Status enqueue(void* stream);
  Status synchronize(void* stream) { return bctx_->synchronize(stream); }
  void set_profiling(bool enabled) { profiling_ = enabled; }
  void set_cuda_graphs(bool enabled) { bctx_->set_graphs_enabled(enabled); }
  std::vector<LayerTiming> last_timings() const { return timings_; }
  uint64_t activation_bytes() const { return arena_bytes_ + workspace_bytes_; }

 private:
  Expected<int> io_index(std::string_view name) const;
  Status prepare();         // shapes + memory (enqueue)
  Status prepare_shapes();  // shapes only (tensor_shape)
  bool memory_dirty_ = true;
  Status check_in_profile(int input, const Dims& dims) const;

  std::shared_ptr<const EngineImpl> engine_;
  std::unique_ptr<backend::BackendContext> bctx_;
  int profile_ = 0;
  std::vector<std::optional<Dims>> input_dims_;
  std::vector<void*> bindings_;
  bool shapes_dirty_ = true;
  std::vector<TensorType> types_;
  std::vector<std::optional<ir::ShapeValue>> values_;
  std::vector<size_t> offsets_;
  std::vector<backend::TensorView> views_;
  void* arena_ = nullptr;
  size_t arena_bytes_ = 0;
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
  size_t need_arena_ = 0, need_workspace_ = 0;
  uint64_t shape_key_ = 1;
  void* last_stream_ = nullptr;  ///< stream of the last enqueue (data-dependent shapes read on it)
  bool profiling_ = false;
  std::vector<LayerTiming> timings_;
};

}  // namespace kiln
