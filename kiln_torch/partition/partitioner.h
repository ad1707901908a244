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

/// Where node `n` sits in the model: the frontend's origin note when its source text has one (the
/// FX importer appends "  # self.layer1[0].conv2 (Conv2d) at model.py:42"), else the source text.
std::string node_origin(const OpGraph& g, int n);

/// Every op left to PyTorch, one line each with where it sits and why ("" when none is); at most
/// `max_lines` lines, then a count of the rest.
std::string fallback_summary(const OpGraph& g, const PartitionResult& r, size_t max_lines = 30);

}  // namespace kiln::bridge
