// BuilderConfig (every build knob) and Builder (Network + config -> Plan bytes).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kiln/build_switches.h"
#include "kiln/logger.h"
#include "kiln/network.h"
#include "kiln/shapes.h"
#include "kiln/status.h"
#include "kiln/types.h"

namespace kiln {

struct BuilderConfig {
  /// Backend to build for: "cpu", "cuda", or "" for the default (cuda when a GPU is present).
  std::string backend;
  /// Device ordinal for GPU backends.
  int device = 0;
  std::vector<Precision> enabled_precisions{Precision::kFP32};
  /// Profiles for networks with dynamic inputs (at least one needed then). Fully static networks
  /// need none.
  std::vector<OptimizationProfile> profiles;
  /// Upper bound on scratch memory a kernel may use, in bytes (0: backend default).
  uint64_t workspace_limit = 0;
  /// 0: fastest build (heuristics only) ... 5: most tactics timed. Default 3.
  int optimization_level = 3;
  /// Path of a persistent timing cache; empty: none.
  std::string timing_cache_path;
  /// Directory of persistent compiled kernels (NVRTC cubins of generated kernels, keyed by source,
  /// GPU architecture and NVRTC version); empty: none.
  std::string kernel_cache_dir;
  /// Largest constant (bytes) the builder folds at build time.
  uint64_t max_folded_constant_bytes = 64ull << 20;
  /// Layout, fusion, convolution implementation, disabled passes; recorded in the plan.
  BuildSwitches switches;
  /// Directory for the text IR after each pass (0_input.txt, 1_<pass>.txt, ...); empty: none. An
  /// instrument: it does not change the engine and is not recorded.
  std::string dump_ir_dir;
  /// Receives build messages; nullptr: default_logger().
  Logger* logger = nullptr;

  bool precision_enabled(Precision p) const;
};

/// A serialized engine: the only thing that passes from build time to run time.
struct Plan {
  std::vector<uint8_t> bytes;
  Status save(const std::string& path) const;  ///< atomic: temp file + rename
  static Expected<Plan> load_file(const std::string& path);
};

class Builder {
 public:
  /// Verifies, optimizes and lowers `network` for `config`'s backend, returning plan bytes. The
  /// network is not modified.
  static Expected<Plan> build(const Network& network, const BuilderConfig& config);
};

/// Names of the backends compiled into this build ("cpu", and "cuda" when built with CUDA).
std::vector<std::string> available_backends();
/// "cuda" when that backend is compiled in and a GPU is visible, else "cpu".
std::string default_backend();

/// Library version "major.minor.patch".
const char* version();

}  // namespace kiln
