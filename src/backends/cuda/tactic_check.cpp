// Build-time checks of a kernel against a reference implementation on the same random data (a
// tactic or a generated kernel that disagrees is not used): the comparison on the host.
#include <cmath>
#include <vector>

#include "backends/cuda/tactics.h"
#include "common/element_access.h"

namespace kiln::cuda {

Status check_close(const void* got, const void* want, DataType dt, int64_t n, double rtol,
                   double atol, cudaStream_t stream, const std::string& what) {
  if (n <= 0) return {};
  const size_t bytes = static_cast<size_t>(n) * dtype_size(dt);
  std::vector<uint8_t> g(bytes), w(bytes);
  KILN_CUDA_RETURN(cudaMemcpyAsync(g.data(), got, bytes, cudaMemcpyDeviceToHost, stream));
  KILN_CUDA_RETURN(cudaMemcpyAsync(w.data(), want, bytes, cudaMemcpyDeviceToHost, stream));
  KILN_CUDA_RETURN(cudaStreamSynchronize(stream));
  int64_t bad = 0, worst = -1;
  double worst_err = -1;
  for (int64_t i = 0; i < n; ++i) {
    const double a = load_as_double(g.data(), dt, i), b = load_as_double(w.data(), dt, i);
    bool ok;
    if (std::isnan(a) || std::isnan(b)) {
      ok = std::isnan(a) && std::isnan(b);
    } else if (std::isinf(a) || std::isinf(b)) {
      ok = a == b;
    } else {
      ok = std::fabs(a - b) <= atol + rtol * std::fabs(b);
    }
    if (ok) continue;
    ++bad;
    const double err = std::isnan(a - b) ? INFINITY : std::fabs(a - b);
    if (err > worst_err) {
      worst_err = err;
      worst = i;
    }
  }
  if (bad <= std::max<int64_t>(1, n / 10000)) return {};
  return make_error(StatusCode::kInternal, "backends.cuda",
                    what + " disagrees with its reference on " + std::to_string(bad) + " of " +
                        std::to_string(n) + " elements (worst at " + std::to_string(worst) + ": " +
                        std::to_string(load_as_double(g.data(), dt, worst)) + " vs " +
                        std::to_string(load_as_double(w.data(), dt, worst)) + ")");
}

}  // namespace kiln::cuda
