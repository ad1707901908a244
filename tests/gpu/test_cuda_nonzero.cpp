// CUDA data-dependent outputs (nonzero) against the CPU reference: the rows the engine reports
// after the run (ExecutionContext::output_shape) and their coordinates, for several dtypes, a
// dynamic input at several sizes, replayed CUDA graphs, and an input past one CUB tile. Also the
// CUDA backend's refusal of float64 / int16 layers.
#include <cuda_runtime.h>

#include <vector>

#include "common/element_access.h"
#include "gpu_test_util.h"

namespace kiln {
namespace {

std::shared_ptr<Engine> nonzero_engine(const std::string& backend, DataType dt, const Dims& dims,
                                       const std::vector<OptimizationProfile>& profiles = {}) {
  Network net;
  auto x = net.add_input("x", dt, dims);
  EXPECT_TRUE(net.mark_output(*net.add_nonzero(*x), "idx").ok());
  BuilderConfig cfg;
  cfg.backend = backend;
  cfg.profiles = profiles;
  auto plan = Builder::build(net, cfg);
  EXPECT_TRUE(plan.ok()) << plan.status().to_string();
  auto e = Runtime::load(plan->bytes);
  EXPECT_TRUE(e.ok()) << e.status().to_string();
  return *e;
}

// Rows the engine wrote: {row count, coordinates}. Runs `runs` times (graph replays after the
// first); device buffers on cuda.
std::pair<int64_t, std::vector<int64_t>> run(const Engine& engine, const HostTensor& x, bool cuda,
                                             int runs, bool graphs = true) {
  auto ctx = *engine.create_context();
  ctx->set_cuda_graphs(graphs);
  EXPECT_TRUE(ctx->set_input_shape("x", x.type.dims).ok());
  Dims bound = *ctx->tensor_shape("idx");
  size_t out_bytes = static_cast<size_t>(std::max<int64_t>(bound.volume(), 1)) * 8;
  std::vector<int64_t> host(out_bytes / 8, -1);
  void* in = const_cast<uint8_t*>(x.bytes.data());
  void* out = host.data();
  if (cuda) {
    cudaMalloc(&in, std::max<size_t>(x.bytes.size(), 1));
    cudaMemcpy(in, x.bytes.data(), x.bytes.size(), cudaMemcpyHostToDevice);
    cudaMalloc(&out, out_bytes);
  }
  EXPECT_TRUE(ctx->set_tensor_address("x", in).ok());
  EXPECT_TRUE(ctx->set_tensor_address("idx", out).ok());
  for (int r = 0; r < runs; ++r) {
    Status s = ctx->execute();
    EXPECT_TRUE(s.ok()) << s.to_string();
  }
  auto shape = ctx->output_shape("idx");
  EXPECT_TRUE(shape.ok()) << shape.status().to_string();
  int64_t rows = shape.ok() ? (*shape)[0] : -1;
  if (cuda) {
    cudaMemcpy(host.data(), out, out_bytes, cudaMemcpyDeviceToHost);
    cudaFree(in);
    cudaFree(out);
  }
  host.resize(static_cast<size_t>(std::max<int64_t>(rows, 0) * x.type.dims.rank()));
  return {rows, host};
}

HostTensor sparse(DataType dt, const Dims& dims) {
  HostTensor t = testing::random_tensor(dt, dims, -1, 2);
  for (int64_t i = 0; i < t.numel(); i += 3) store_from_double(t.data(), dt, i, 0.0);
  return t;
}

TEST(CudaNonZero, MatchesCpuForDtypesAndGraphs) {
  KILN_REQUIRE_GPU();
  for (DataType dt : {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16, DataType::kInt64,
                      DataType::kInt8, DataType::kBool}) {
    SCOPED_TRACE(std::string(dtype_name(dt)));
    HostTensor x = sparse(dt, {5, 7, 3});
    auto want = run(*nonzero_engine("cpu", dt, x.type.dims), x, false, 1);
    auto cuda = nonzero_engine("cuda", dt, x.type.dims);
    for (bool graphs : {true, false}) {
      auto got = run(*cuda, x, true, 3, graphs);
      EXPECT_EQ(got.first, want.first);
      EXPECT_EQ(got.second, want.second);
    }
  }
}

TEST(CudaNonZero, DynamicInputAndLargeInput) {
  KILN_REQUIRE_GPU();
  auto profile = OptimizationProfile().set("x", {1, 1}, {64, 64}, {1024, 1200});
  auto cpu = nonzero_engine("cpu", DataType::kFloat32, {-1, -1}, {profile});
  auto cuda = nonzero_engine("cuda", DataType::kFloat32, {-1, -1}, {profile});
  for (Dims d : {Dims{1, 1}, Dims{3, 5}, Dims{1024, 1200}, Dims{7, 9}}) {
    SCOPED_TRACE(d.to_string());
    HostTensor x = sparse(DataType::kFloat32, d);
    auto want = run(*cpu, x, false, 1);
    auto got = run(*cuda, x, true, 2);
    EXPECT_EQ(got.first, want.first);
    EXPECT_EQ(got.second, want.second);
  }
  HostTensor zeros(TensorType{DataType::kFloat32, Dims{4, 4}});
  EXPECT_EQ(run(*cuda, zeros, true, 1).first, 0);
}

TEST(CudaBackend, RefusesFloat64AndInt16Layers) {
  KILN_REQUIRE_GPU();
  for (DataType dt : {DataType::kFloat64, DataType::kInt16}) {
    Network net;
    auto x = net.add_input("x", dt, {4});
    ASSERT_TRUE(net.mark_output(*net.add_unary(*x, UnaryOp::kNeg), "y").ok());
    BuilderConfig cfg;
    cfg.backend = "cuda";
    auto plan = Builder::build(net, cfg);
    ASSERT_FALSE(plan.ok());
    EXPECT_NE(plan.status().message().find("run on the CPU backend only"), std::string::npos)
        << plan.status().to_string();
  }
}

}  // namespace
}  // namespace kiln
