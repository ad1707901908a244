// Builds the compiled TorchScript module from an imported graph and its partition.
#pragma once

#include <torch/script.h>

#include "graph/torchscript_import.h"
#include "partition/partitioner.h"

namespace kiln::bridge {

Expected<torch::jit::Module> stitch_torchscript(const ImportedGraph& ig, const PartitionResult& r,
                                                const std::string& method);

}  // namespace kiln::bridge
