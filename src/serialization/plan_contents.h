// Everything a plan holds, in memory. write_plan/read_plan convert to and from the byte format
// (version kPlanFormatVersion):
//
//   [0,64)   header: magic "KILNPLAN", u32 format version, u32 header size, u64 total size,
//            u64 checksum (XXH64 of the whole blob with this field zeroed), u32 section count
//   [64,..)  section table: {u32 kind, u32 0, u64 offset, u64 size} per section
//   sections META (producer version, backend, build settings), GRAPH (tensors, layers, weight
//            table), KERNELS (per group: layers, kernel, tactic, config), PROFILES, WEIGHTS (each
//            distinct weight once, 256-byte aligned).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "ir/graph.h"
#include "kiln/build_switches.h"
#include "kiln/engine.h"
#include "kiln/shapes.h"
#include "kiln/types.h"

namespace kiln::serial {

inline constexpr char kPlanMagic[8] = {'K', 'I', 'L', 'N', 'P', 'L', 'A', 'N'};
// 2: channels_last on conv/pooling; 3: attention zero_masked_rows; 4: build switches in META;
// 5: quantized layers and the precision report in META; pooling return_indices, random fill
//    modes, float64 and int16 dtypes, nonzero
inline constexpr uint32_t kPlanFormatVersion = 5;
inline constexpr size_t kPlanHeaderBytes = 64;
inline constexpr size_t kWeightAlignment = 256;

/// The kernel chosen for a group of layers (one layer for now; fused groups later).
struct KernelRecord {
  std::vector<int32_t> layers;  ///< indices into graph.layers, in execution order
  std::string kernel;           ///< e.g. "cpu.convolution", "cuda.cublaslt_gemm"
  int64_t tactic = 0;
  std::vector<uint8_t> config;  ///< backend-specific (algorithm blobs etc.)
};

struct PlanContents {
  std::string producer_version;
  std::string backend;
  int device = 0;
  std::vector<Precision> precisions;
  int optimization_level = 3;
  uint64_t workspace_limit = 0;
  BuildSwitches switches;                        ///< as the BuilderConfig gave them
  bool channels_last_applied = false;            ///< the layout pass rewrote convolutions to NHWC
  std::vector<LayerPrecision> precision_report;  ///< fuse_quantized_layers' decisions
  ir::Graph graph;
  std::vector<KernelRecord> kernels;
  std::vector<OptimizationProfile> profiles;
};

/// The build settings as (name, value) pairs in a fixed order, for listings (Engine::describe,
/// kiln_profile, the Python report).
std::vector<std::pair<std::string, std::string>> build_settings(const PlanContents& plan);

Expected<std::vector<uint8_t>> write_plan(const PlanContents& plan);
/// Validates header, sizes and checksum before parsing; every count and index is bounds-checked.
Expected<PlanContents> read_plan(std::span<const uint8_t> bytes);

/// The bytes of a plan file (bounded read; kIoError / kOutOfMemory naming the path). Shared by the
/// runtime's Runtime::load_file and the builder's Plan::load_file.
Expected<std::vector<uint8_t>> read_plan_file(const std::string& path);

}  // namespace kiln::serial
