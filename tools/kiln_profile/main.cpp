// kiln_profile: per-kernel timings of a plan on random inputs at the profile's opt shapes.
//   kiln_profile PLAN [runs]
#include <algorithm>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "kiln/kiln.h"
#ifdef KILN_WITH_CUDA
#include <cuda_runtime.h>
#endif

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: %s PLAN [runs] [order]\n  order: also list every kernel of the last run "
                 "in execution order\n",
                 argv[0]);
    return 2;
  }
  int runs = argc > 2 ? std::atoi(argv[2]) : 20;
  auto engine = kiln::Runtime::load_file(argv[1]);
  if (!engine.ok()) {
    std::fprintf(stderr, "%s\n", engine.status().to_string().c_str());
    return 1;
  }
  std::printf("build settings:");
  for (const auto& [name, value] : (*engine)->build_settings())
    std::printf(" %s=%s;", name.c_str(), value.c_str());
  std::printf("\n");
  auto ctx = (*engine)->create_context();
  if (!ctx.ok()) return 1;
  bool cuda = (*engine)->backend() == "cuda";
  std::vector<void*> buffers;
  std::mt19937 rng(1);
  for (int i = 0; i < (*engine)->num_io_tensors(); ++i) {
    const auto& io = (*engine)->io_tensor(i);
    kiln::Dims d = io.dims;
    if (io.is_input) {
      auto r = (*engine)->profile_range(0, io.name);
      d = r->opt;
      (void)(*ctx)->set_input_shape(io.name, d);
    } else {
      d = *(*ctx)->tensor_shape(io.name);
    }
    size_t bytes = static_cast<size_t>(d.volume()) * kiln::dtype_size(io.dtype);
    std::vector<uint8_t> host(bytes);
    for (auto& b : host)
      b = io.dtype == kiln::DataType::kInt64 || io.dtype == kiln::DataType::kInt32
              ? 0
              : static_cast<uint8_t>(rng() % 64);
    void* p = nullptr;
#ifdef KILN_WITH_CUDA
    if (cuda) {
      cudaMalloc(&p, bytes + 16);
      cudaMemcpy(p, host.data(), bytes, cudaMemcpyHostToDevice);
    }
#endif
    if (!cuda) {
      p = std::malloc(bytes + 16);
      std::copy(host.begin(), host.end(), static_cast<uint8_t*>(p));
    }
    buffers.push_back(p);
    (void)(*ctx)->set_tensor_address(io.name, p);
  }
  (*ctx)->set_profiling(true);
  std::map<std::string, double> per_kernel;
  std::map<std::string, double> per_kind;
  double total = 0;
  for (int r = 0; r < runs + 2; ++r) {
    kiln::Status s = (*ctx)->execute();
    if (!s.ok()) {
      std::fprintf(stderr, "%s\n", s.to_string().c_str());
      return 1;
    }
    if (r < 2) continue;
    for (const auto& t : (*ctx)->last_timings()) {
      per_kernel[t.kernel + " " + t.name] += t.milliseconds / runs;
      // "cuda.gemm.cublaslt#3+add" -> cuda.gemm.cublaslt; "cuda.pointwise[mul+add]" ->
      // cuda.pointwise
      std::string kind = t.kernel.substr(0, t.kernel.find_first_of("#["));
      per_kind[kind] += t.milliseconds / runs;
      total += t.milliseconds / runs;
    }
  }
  std::printf("%zu kernels, %.3f ms per run (profiled: each kernel synchronized)\n",
              (*ctx)->last_timings().size(), total);
  std::vector<std::pair<double, std::string>> kinds;
  for (auto& [k, v] : per_kind) kinds.emplace_back(v, k);
  std::sort(kinds.rbegin(), kinds.rend());
  for (auto& [v, k] : kinds)
    std::printf("  %8.3f ms  %5.1f%%  %s\n", v, 100 * v / total, k.c_str());
  std::vector<std::pair<double, std::string>> ks;
  for (auto& [k, v] : per_kernel) ks.emplace_back(v, k);
  std::sort(ks.rbegin(), ks.rend());
  std::printf("top kernels:\n");
  for (size_t i = 0; i < ks.size() && i < 12; ++i)
    std::printf("  %8.3f ms  %s\n", ks[i].first, ks[i].second.substr(0, 110).c_str());
  if (argc > 3 && std::string(argv[3]) == "order") {
    std::printf("in order (last run):\n");
    for (const auto& t : (*ctx)->last_timings())
      std::printf("  %8.4f ms  %s %s\n", t.milliseconds, t.kernel.c_str(),
                  t.name.substr(0, 90).c_str());
  }
  return 0;
}
