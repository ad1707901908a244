// Helpers for torch-bridge tests: TorchScript modules from source, random inputs, comparisons
// against libtorch eager.
#pragma once

#include <gtest/gtest.h>
#include <torch/script.h>

#include <string>
#include <vector>

#include "api/compile_spec.h"

namespace kiln::testing {

/// A scripted module whose forward is `source` (a TorchScript function body with "def forward(self,
/// ...)").
torch::jit::Module module_from_source(const std::string& source);

/// Flattens tensors out of an IValue (tensor, tuple, list, dict values).
std::vector<at::Tensor> flatten_tensors(const c10::IValue& v);

/// Compares every tensor of `got` and `want` (relative error ||g - w|| / ||w|| <= rel and
/// elementwise |g - w| <= atol + rtol |w|).
::testing::AssertionResult outputs_match(const c10::IValue& got, const c10::IValue& want,
                                         double rtol = 1e-4, double atol = 1e-5);

/// A CPU compile spec with static inputs of the given shapes/dtypes, min_block_size 1.
torchscript::CompileSpec cpu_spec(
    const std::vector<std::pair<std::vector<int64_t>, at::ScalarType>>& inputs, bool full = true);

/// Compiles `m` with `spec`, runs eager and compiled on `inputs`, expects matching outputs.
/// Returns the compiled module (or an empty optional after a test failure).
std::optional<torch::jit::Module> expect_compiles_and_matches(
    const torch::jit::Module& m, const torchscript::CompileSpec& spec,
    const std::vector<c10::IValue>& inputs, double rtol = 1e-4, double atol = 1e-5);

/// Number of kiln::execute_engine calls in the compiled forward graph.
int count_engines(const torch::jit::Module& m);
/// Number of nodes of a given kind in the compiled forward graph.
int count_nodes(const torch::jit::Module& m, const std::string& kind);

std::string models_dir();

}  // namespace kiln::testing
