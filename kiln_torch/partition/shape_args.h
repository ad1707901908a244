// Partition-time checks that hold for every converter, so a node an engine cannot be built for is
// refused before conversion (and falls back to PyTorch when full compilation is not required)
// instead of failing the build: size and bound arguments read from tensor data, ranks above
// kiln::kMaxRank.
#pragma once

#include <string>
#include <vector>

#include "converters/converter.h"
#include "graph/op_graph.h"

namespace kiln::bridge {

/// Answers, per value of one graph, whether an int (or int list) is computed from tensor data: an
/// item() / _local_scalar_dense / int(tensor) of a tensor that is neither a constant nor made from
/// shapes alone, directly or through scalar arithmetic. Shape reads (size, sym_size, dim, numel)
/// end the walk: their results are known from shapes. Memoized.
class DataDerivedInts {
 public:
  DataDerivedInts(const OpGraph& g, const ConverterRegistry& reg);
  bool from_data(int v);

 private:
  const OpGraph& g_;
  const ConverterRegistry& reg_;
  std::vector<int8_t> memo_;  // -1 unknown, 0 no, 1 yes (0 while being visited: cycles end there)
};

/// Why node `n` cannot be converted whatever its converter's capability check says, or "": a size
/// or bound argument (schema type int / SymInt / int[] / SymInt[], and arange's bounds) computed
/// from tensor data (engine shapes are resolved on the host from input shapes, never from data).
std::string shape_arg_problem(const OpGraph& g, const Node& n, DataDerivedInts& ints);

/// Why tensor value `v` cannot be an engine tensor because of its rank (above kiln::kMaxRank), or
/// "".
std::string rank_problem(const Value& v);

}  // namespace kiln::bridge
