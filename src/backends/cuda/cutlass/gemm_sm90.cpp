// Dispatch of the CUTLASS GEMMs (gemm_sm90_<dtype>.cu, built only with CUTLASS): checks, then
// dtype.
#include "backends/cuda/cutlass/gemm_sm90.h"

#include <atomic>
#include <cstdint>

namespace kiln::cuda::cutlass_gemm {

#if KILN_WITH_CUTLASS
Status run_f16(const Problem& p, int config, void* ws, size_t ws_bytes, cudaStream_t stream);
Status run_bf16(const Problem& p, int config, void* ws, size_t ws_bytes, cudaStream_t stream);
#endif

namespace {
Status unsupported(const std::string& why) {
  return make_error(StatusCode::kUnsupported, "backends.cuda.cutlass", why);
}
bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }
}  // namespace

bool available() {
#if KILN_WITH_CUTLASS
  // Per device: 0 unknown, 1 sm_90, 2 other.
  static std::atomic<int> known[64];
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess || device < 0 || device >= 64) return false;
  int v = known[device].load();
  if (v == 0) {
    int major = 0, minor = 0;
    cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device);
    cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device);
    v = (major == 9 && minor == 0) ? 1 : 2;
    known[device].store(v);
  }
  return v == 1;
#else
  return false;
#endif
}

std::string config_name(int config) {
  switch (config) {
    case 0:
      return "128x128x64_c1x2_coop";
    case 1:
      return "128x256x64_coop";
    case 2:
      return "64x128x64_pingpong";
    default:
      return "?";
  }
}

Status run(const Problem& p, int config, void* workspace, size_t workspace_bytes,
           cudaStream_t stream) {
  if (!available()) return unsupported("CUTLASS GEMMs need a build with CUTLASS and an sm_90 GPU");
  if (p.activation != UnaryOp::kGelu) return unsupported("only the exact-GELU epilogue");
  if (p.m <= 0 || p.n <= 0 || p.k <= 0 || p.n % 8 != 0 || p.k % 8 != 0)
    return unsupported("n and k must be multiples of 8");
  if (!aligned16(p.a) || !aligned16(p.b) || !aligned16(p.d) || (p.c && !aligned16(p.c)) ||
      !aligned16(p.bias))
    return unsupported("operands must be 16-byte aligned");
#if KILN_WITH_CUTLASS
  if (p.dt == DataType::kFloat16) return run_f16(p, config, workspace, workspace_bytes, stream);
  if (p.dt == DataType::kBFloat16) return run_bf16(p, config, workspace, workspace_bytes, stream);
#endif
  (void)config;
  (void)workspace;
  (void)workspace_bytes;
  (void)stream;
  return unsupported("dtype");
}

}  // namespace kiln::cuda::cutlass_gemm
