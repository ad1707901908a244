// GPU test harness: builds a network for the cuda and the cpu backend, runs both on the same inputs
// and compares every output (the CPU reference is the oracle).
#pragma once

#include "test_util.h"

namespace kiln::testing {

struct GpuCompareOptions {
  double rtol = -1;  ///< < 0: default_tolerance of each output's dtype (x4 for 16-bit types)
  double atol = -1;
  bool cuda_graphs = true;
  int runs = 2;  ///< runs per engine (the second replays the CUDA graph)
};

/// Runs `net` on the cuda backend (inputs uploaded, outputs downloaded) and returns its outputs.
Expected<std::vector<HostTensor>> run_on_cuda(const Network& net,
                                              const std::vector<HostTensor>& inputs,
                                              BuilderConfig cfg, bool cuda_graphs = true,
                                              int runs = 2);

/// Runs on cuda and cpu; expects matching outputs. Returns the cuda outputs.
std::vector<HostTensor> expect_cuda_matches_cpu(const Network& net,
                                                const std::vector<HostTensor>& inputs,
                                                BuilderConfig cfg = {}, GpuCompareOptions opt = {});

/// Runs an already loaded cuda engine (device buffers managed here).
Expected<std::vector<HostTensor>> run_cuda_engine(const Engine& engine,
                                                  const std::vector<HostTensor>& inputs,
                                                  int profile = 0, bool cuda_graphs = true,
                                                  int runs = 1, void* stream = nullptr);

/// Builds `net` for the cuda backend (cfg.backend is set) and returns the loaded engine's
/// describe() (kernels, tactics, fused layers); "" after a failed build or load, which it reports.
std::string describe_on_cuda(const Network& net, BuilderConfig cfg = {});

bool gpu_available();

}  // namespace kiln::testing

/// Skips (and says so) when no GPU is present; CI never builds these tests anyway.
#define KILN_REQUIRE_GPU()                                           \
  do {                                                               \
    if (!::kiln::testing::gpu_available()) GTEST_SKIP() << "no GPU"; \
  } while (0)
