// The C++ compile API for TorchScript modules (Torch-TensorRT's names where they exist).
#pragma once

#include <torch/script.h>

#include <set>
#include <string>
#include <vector>

#include "kiln/builder.h"
#include "kiln/logger.h"
#include "kiln/status.h"

namespace kiln::torchscript {

enum class TensorFormat { kContiguous, kChannelsLast };

/// One forward() input: a static shape, or a min/opt/max range (one dynamic profile).
struct Input {
  std::vector<int64_t> min_shape, opt_shape, max_shape;
  at::ScalarType dtype = at::kFloat;
  TensorFormat format = TensorFormat::kContiguous;

  Input() = default;
  explicit Input(std::vector<int64_t> shape, at::ScalarType dt = at::kFloat)
      : min_shape(shape), opt_shape(shape), max_shape(std::move(shape)), dtype(dt) {}
  Input(std::vector<int64_t> min, std::vector<int64_t> opt, std::vector<int64_t> max,
        at::ScalarType dt = at::kFloat)
      : min_shape(std::move(min)),
        opt_shape(std::move(opt)),
        max_shape(std::move(max)),
        dtype(dt) {}
  bool is_dynamic() const { return min_shape != max_shape; }
};

enum class DeviceType { kCUDA, kCPU };

struct Device {
  DeviceType type = DeviceType::kCUDA;
  int gpu_id = 0;
};

struct CompileSpec {
  std::vector<Input> inputs;
  std::set<Precision> enabled_precisions{Precision::kFP32};
  int min_block_size = 3;
  std::vector<std::string> torch_executed_ops;
  bool require_full_compilation = false;
  Device device;
  uint64_t workspace_size = 0;
  int optimization_level = 3;
  std::string timing_cache_path;
  /// Directory of compiled generated kernels (NVRTC cubins) reused across builds; empty: none.
  std::string kernel_cache_dir;
  /// Layout, fusion, convolution implementation, disabled passes (BuilderConfig::switches).
  BuildSwitches switches;
  /// Text IR after each builder pass into this directory; empty: none.
  std::string dump_ir_dir;
  Severity log_level = Severity::kWarning;
  /// Where compile messages at or above log_level go; null: stderr (the engine's default logger).
  Logger* logger = nullptr;
  /// Called as engines build: (index, count, name).
  std::function<void(int, int, const std::string&)> progress;

  CompileSpec() = default;
  explicit CompileSpec(std::vector<Input> in) : inputs(std::move(in)) {}
};

/// Compiles `module.forward`: supported parts become Kiln engines (kiln::execute_engine calls), the
/// rest stays TorchScript. The result saves with torch::jit::save and runs wherever libkiln_runtime
/// is loaded.
Expected<torch::jit::Module> compile(const torch::jit::Module& module, const CompileSpec& spec);
/// compile(), also writing the compile report's data (JSON: which ops run where and why, and with
/// `report_engines` each engine's kernels, read from its plan; kiln_torch/report/README.md) into
/// `report_json` when it is not null.
Expected<torch::jit::Module> compile(const torch::jit::Module& module, const CompileSpec& spec,
                                     std::string* report_json, bool report_engines = true);

/// Which ops of `method` would run in Kiln and which in PyTorch, with reasons (no engines built).
Expected<std::string> check_method_support(const torch::jit::Module& module,
                                           const std::string& method, const CompileSpec& spec);

/// Builds one engine for the whole method (require_full_compilation implied) and returns its plan.
Expected<std::vector<uint8_t>> convert_method_to_plan(const torch::jit::Module& module,
                                                      const std::string& method,
                                                      const CompileSpec& spec);

}  // namespace kiln::torchscript
