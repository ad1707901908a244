// GPU test harness implementation.
#include "gpu_test_util.h"

#include <cuda_runtime.h>

namespace kiln::testing {
namespace {

struct DeviceBuffer {
  void* p = nullptr;
  explicit DeviceBuffer(size_t n) { cudaMalloc(&p, n == 0 ? 256 : n); }
  ~DeviceBuffer() { cudaFree(p); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
};

}  // namespace

std::string describe_on_cuda(const Network& net, BuilderConfig cfg) {
  cfg.backend = "cuda";
  auto plan = Builder::build(net, cfg);
  EXPECT_TRUE(plan.ok()) << plan.status().to_string();
  if (!plan.ok()) return {};
  auto e = Runtime::load(plan->bytes);
  EXPECT_TRUE(e.ok()) << e.status().to_string();
  return e.ok() ? (*e)->describe() : std::string();
}

bool gpu_available() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

Expected<std::vector<HostTensor>> run_cuda_engine(const Engine& engine,
                                                  const std::vector<HostTensor>& inputs,
                                                  int profile, bool cuda_graphs, int runs,
                                                  void* stream) {
  auto ctx = engine.create_context();
  if (!ctx) return ctx.status();
  (*ctx)->set_cuda_graphs(cuda_graphs);
  KILN_RETURN_IF_ERROR((*ctx)->set_optimization_profile(profile));
  std::vector<std::unique_ptr<DeviceBuffer>> bufs;
  size_t k = 0;
  for (int i = 0; i < engine.num_io_tensors(); ++i) {
    const IOTensorInfo& io = engine.io_tensor(i);
    if (!io.is_input) continue;
    if (k >= inputs.size())
      return make_error(StatusCode::kInvalidArgument, "test", "too few inputs");
    const HostTensor& t = inputs[k++];
    bufs.push_back(std::make_unique<DeviceBuffer>(t.bytes.size()));
    if (!t.bytes.empty() &&
        cudaMemcpy(bufs.back()->p, t.data(), t.bytes.size(), cudaMemcpyHostToDevice) != cudaSuccess)
      return make_error(StatusCode::kBackendError, "test", "upload failed");
    KILN_RETURN_IF_ERROR((*ctx)->bind(io.name, bufs.back()->p, t.type.dtype, t.type.dims));
  }
  std::vector<HostTensor> outs;
  std::vector<void*> out_ptrs;
  for (int i = 0; i < engine.num_io_tensors(); ++i) {
    const IOTensorInfo& io = engine.io_tensor(i);
    if (io.is_input) continue;
    auto dims = (*ctx)->tensor_shape(io.name);
    if (!dims) return dims.status();
    outs.emplace_back(TensorType{io.dtype, *dims});
    bufs.push_back(std::make_unique<DeviceBuffer>(outs.back().bytes.size()));
    cudaMemset(bufs.back()->p, 0xA5, outs.back().bytes.size());  // poison
    out_ptrs.push_back(bufs.back()->p);
    KILN_RETURN_IF_ERROR((*ctx)->bind(io.name, bufs.back()->p, io.dtype, *dims));
  }
  for (int r = 0; r < runs; ++r) {
    KILN_RETURN_IF_ERROR((*ctx)->enqueue(stream));
    if (stream != nullptr) {
      if (cudaStreamSynchronize(static_cast<cudaStream_t>(stream)) != cudaSuccess)
        return make_error(StatusCode::kBackendError, "test", "stream sync failed");
    } else {
      KILN_RETURN_IF_ERROR((*ctx)->execute());
    }
  }
  for (size_t i = 0; i < outs.size(); ++i) {
    if (!outs[i].bytes.empty() && cudaMemcpy(outs[i].data(), out_ptrs[i], outs[i].bytes.size(),
                                             cudaMemcpyDeviceToHost) != cudaSuccess)
      return make_error(StatusCode::kBackendError, "test", "download failed");
  }
  return outs;
}

Expected<std::vector<HostTensor>> run_on_cuda(const Network& net,
                                              const std::vector<HostTensor>& inputs,
                                              BuilderConfig cfg, bool cuda_graphs, int runs) {
  cfg.backend = "cuda";
  auto plan = Builder::build(net, cfg);
  if (!plan) return plan.status();
  auto engine = Runtime::load(plan->bytes);
  if (!engine) return engine.status();
  return run_cuda_engine(**engine, inputs, 0, cuda_graphs, runs);
}

std::vector<HostTensor> expect_cuda_matches_cpu(const Network& net,
                                                const std::vector<HostTensor>& inputs,
                                                BuilderConfig cfg, GpuCompareOptions opt) {
  auto gpu = run_on_cuda(net, inputs, cfg, opt.cuda_graphs, opt.runs);
  EXPECT_TRUE(gpu.ok()) << gpu.status().to_string();
  if (!gpu.ok()) return {};
  BuilderConfig ccfg = cfg;
  ccfg.backend = "cpu";
  auto cpu = try_build_and_run(net, inputs, ccfg);
  EXPECT_TRUE(cpu.ok()) << cpu.status().to_string();
  if (!cpu.ok()) return {};
  EXPECT_EQ(gpu->size(), cpu->size());
  for (size_t i = 0; i < gpu->size() && i < cpu->size(); ++i) {
    const HostTensor &g = (*gpu)[i], &c = (*cpu)[i];
    EXPECT_TRUE(has_type(g, c.type.dtype, c.type.dims)) << "output " << i;
    double tol = default_tolerance(g.type.dtype);
    if (g.type.dtype == DataType::kFloat16 || g.type.dtype == DataType::kBFloat16) tol *= 4;
    double rtol = opt.rtol >= 0 ? opt.rtol : tol, atol = opt.atol >= 0 ? opt.atol : tol;
    EXPECT_TRUE(all_close(g, to_doubles(c), rtol, atol)) << "output " << i;
  }
  return std::move(*gpu);
}

}  // namespace kiln::testing
