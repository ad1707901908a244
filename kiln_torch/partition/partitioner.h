// Partitioning: which nodes run in Kiln engines and which stay in PyTorch, then conversion of each
// Kiln segment into an engine. Frontend-neutral: the TorchScript stitcher (C++) and the FX stitcher
// (Python) both consume the PartitionResult.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "graph/op_graph.h"
#include "kiln/builder.h"

namespace kiln::bridge {

struct PartitionOptions {
  int min_block_size = 3;
  std::set<std::string> torch_executed_ops;  ///< overload names ("aten::relu") or bare names
                                             ///< ("aten::relu" matches all overloads)
  bool require_full_compilation = false;
  BuilderConfig builder;  ///< backend, precisions, workspace, level, timing cache (profiles are set
                          ///< per segment)
  /// Called with (segment index, segment count) while engines build.
  std::function<void(int, int, const std::string&)> progress;
};

/// Why a node runs where it runs.
struct NodeSupport {
  int node = -1;
  std::string op;
  bool kiln = false;
  bool evaluator = false;
  std::string reason;  ///< for PyTorch nodes: why not Kiln
};

struct Segment {
  bool kiln = false;
  std::vector<int> nodes;    ///< compute nodes (kiln segments: in execution order)
  std::vector<int> inputs;   ///< tensor values read from outside (kiln segments)
  std::vector<int> outputs;  ///< tensor values used outside (kiln segments)
  std::vector<uint8_t> plan;
  std::vector<std::string> input_names, output_names;
  std::string name;
};

struct PartitionResult {
  std::vector<Segment> segments;     ///< in execution order
  std::vector<NodeSupport> support;  ///< per node
  /// Values needed on the PyTorch side (by PyTorch nodes or graph outputs), evaluators included.
  std::vector<bool> torch_needed;
  int num_engines() const;
};

/// Decides placement only (the dry run / check_method_support).
Expected<PartitionResult> plan_partition(const OpGraph& g, const PartitionOptions& options);

/// Decides placement and builds one engine per Kiln segment.
Expected<PartitionResult> partition_and_build(const OpGraph& g, const PartitionOptions& options);

/// A printable report: per op, how many nodes run in Kiln / PyTorch, and the reasons.
std::string support_report(const OpGraph& g, const PartitionResult& r);

}  // namespace kiln::bridge
