// The compile report: one self-contained HTML page (inline CSS, JavaScript and SVG; no network)
// that shows the partitioned graph (which ops run in Kiln engines, which in PyTorch, and why), each
// engine's kernels after fusion with tactic and layer precisions, and per-kernel times when
// profiled. The page is report.html (embedded at build time) with its data as JSON; kiln.report
// (Python) and kilnc --report (C++) both render through report_html. The schema is in README.md.
#pragma once

#include <string>
#include <string_view>

#include "graph/op_graph.h"
#include "partition/partitioner.h"

namespace kiln::bridge {

/// The page with `data_json` (an object of the schema in README.md) as its data.
std::string report_html(std::string_view data_json);

/// `s` as a JSON string literal (quotes included); '<', '>' and '&' are escaped so that the JSON
/// can sit inside a <script> element.
std::string json_string(std::string_view s);

/// The report data of a partition as JSON: `nodes` (with where each sits, node_origin, and why it
/// is not in Kiln), `segments`, and with `with_engines` the `engines` read from the built plans
/// (kiln.report adds them from the live engines instead, with their times when profiled).
std::string report_json(const OpGraph& g, const PartitionResult& r, std::string_view title,
                        std::string_view frontend, std::string_view backend, bool with_engines);

}  // namespace kiln::bridge
