// The shared op cases (tests/backends/op_cases.h) on the CUDA backend against the CPU reference,
// every case in every dtype it lists. Perf mode: KILN_OP_CASES_PERF=DIR also builds each case at
// its perf size in f16, prints the median time per run (CUDA graphs on) and writes
// DIR/<case>_f16.plan for `kiln_profile DIR/<case>_f16.plan` (per-kernel times).
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "backends/op_cases.h"
#include "gpu_test_util.h"

namespace kiln {
namespace {

using testing::OpCase;

class CudaOpCases : public ::testing::TestWithParam<OpCase> {};

TEST_P(CudaOpCases, MatchCpuReference) {
  KILN_REQUIRE_GPU();
  const OpCase& c = GetParam();
  // Cases the CUDA backend refuses at build time for now: check the refusal names the reason, not
  // numbers. Per-channel quantize/dequantize gave NaN on an H100 (2026-12-07; issue 12); the
  // grid_sample kernel was written without a GPU (2026-12-07; issue 16) and stays refused until
  // this test has checked its numbers.
  struct Refused {
    const char* case_prefix;
    const char* reason;
  };
  for (const Refused& r : {Refused{"fake_quant_per_channel_u8", "per-channel"},
                           Refused{"grid_sample_", "grid_sample"}}) {
    if (c.name.rfind(r.case_prefix, 0) != 0) continue;
    auto net = testing::make_case_network(c, DataType::kFloat32, DataType::kFloat32, c.inputs);
    ASSERT_TRUE(net.ok()) << net.status().to_string();
    BuilderConfig cfg;
    cfg.backend = "cuda";
    auto plan = Builder::build(*net, cfg);
    ASSERT_FALSE(plan.ok());
    EXPECT_NE(plan.status().message().find(r.reason), std::string::npos)
        << plan.status().to_string();
    return;
  }
  for (DataType dt : c.dtypes) {
    SCOPED_TRACE(testing::case_label(c, dt));
    auto net = testing::make_case_network(c, dt, dt, c.inputs);
    ASSERT_TRUE(net.ok()) << net.status().to_string();
    testing::expect_cuda_matches_cpu(*net, testing::make_case_inputs(c, dt, dt, c.inputs));
  }
}

// Milliseconds per run of a loaded engine: buffers bound once, CUDA graphs replayed, timed with
// events over 50 runs after 5 warm-up runs (no copies inside the timed part).
Expected<double> ms_per_run(const Engine& engine, const std::vector<HostTensor>& inputs) {
  auto made = engine.create_context();
  if (!made) return made.status();
  auto& ctx = *made;
  std::vector<void*> bufs;
  auto free_all = [&] {
    for (void* p : bufs) cudaFree(p);
  };
  size_t k = 0;
  for (int i = 0; i < engine.num_io_tensors(); ++i) {
    const IOTensorInfo& io = engine.io_tensor(i);
    if (!io.is_input) continue;
    const HostTensor& t = inputs[k++];
    void* p = nullptr;
    cudaMalloc(&p, std::max<size_t>(t.bytes.size(), 256));
    bufs.push_back(p);
    cudaMemcpy(p, t.data(), t.bytes.size(), cudaMemcpyHostToDevice);
    Status s = ctx->bind(io.name, p, t.type.dtype, t.type.dims);
    if (!s.ok()) return free_all(), s;
  }
  for (int i = 0; i < engine.num_io_tensors(); ++i) {
    const IOTensorInfo& io = engine.io_tensor(i);
    if (io.is_input) continue;
    auto dims = ctx->tensor_shape(io.name);
    if (!dims) return free_all(), dims.status();
    void* p = nullptr;
    cudaMalloc(&p,
               std::max<size_t>(static_cast<size_t>(dims->volume()) * dtype_size(io.dtype), 256));
    bufs.push_back(p);
    Status s = ctx->set_tensor_address(io.name, p);
    if (!s.ok()) return free_all(), s;
  }
  for (int i = 0; i < 5; ++i) {
    Status s = ctx->execute();
    if (!s.ok()) return free_all(), s;
  }
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  cudaDeviceSynchronize();
  cudaEventRecord(a);
  constexpr int kRuns = 50;
  for (int i = 0; i < kRuns; ++i) (void)ctx->enqueue();
  cudaEventRecord(b);
  cudaEventSynchronize(b);
  float ms = 0;
  cudaEventElapsedTime(&ms, a, b);
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  free_all();
  return static_cast<double>(ms) / kRuns;
}

TEST_P(CudaOpCases, PerfMode) {
  const char* dir = std::getenv("KILN_OP_CASES_PERF");
  if (dir == nullptr || *dir == 0) GTEST_SKIP() << "KILN_OP_CASES_PERF not set";
  KILN_REQUIRE_GPU();
  const OpCase& c = GetParam();
  const auto& dims = c.perf_inputs.empty() ? c.inputs : c.perf_inputs;
  const DataType dt = DataType::kFloat16;
  auto net = testing::make_case_network(c, dt, dt, dims);
  ASSERT_TRUE(net.ok()) << net.status().to_string();
  BuilderConfig cfg;
  cfg.backend = "cuda";
  cfg.enabled_precisions = {Precision::kFP32, Precision::kFP16};
  auto plan = Builder::build(*net, cfg);
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  std::filesystem::create_directories(dir);
  const std::string path = std::string(dir) + "/" + c.name + "_f16.plan";
  ASSERT_TRUE(plan->save(path).ok());
  auto engine = Runtime::load(plan->bytes);
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();
  auto ms = ms_per_run(**engine, testing::make_case_inputs(c, dt, dt, dims));
  ASSERT_TRUE(ms.ok()) << ms.status().to_string();
  std::printf("[ perf     ] %-22s f16 %9.4f ms per run   kiln_profile %s\n", c.name.c_str(), *ms,
              path.c_str());
}

INSTANTIATE_TEST_SUITE_P(Shared, CudaOpCases, ::testing::ValuesIn(testing::op_cases()),
                         [](const ::testing::TestParamInfo<OpCase>& info) {
                           return info.param.name;
                         });

}  // namespace
}  // namespace kiln
