// Kiln DataType <-> torch ScalarType.
#pragma once

#include <c10/core/ScalarType.h>

#include <optional>

#include "kiln/types.h"

namespace kiln::bridge {

/// nullopt where Kiln has no such type (complex, uint16, ...). float64 and int16 map to engine
/// types that only the CPU backend computes (the partitioner refuses them for other backends).
std::optional<DataType> to_kiln_dtype(at::ScalarType t);
at::ScalarType to_torch_dtype(DataType t);

}  // namespace kiln::bridge
