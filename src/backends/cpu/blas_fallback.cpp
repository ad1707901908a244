// Built-in sgemm used when no CBLAS is available: cache-blocked, row-major, float32 accumulation.
#ifndef KILN_HAVE_CBLAS
#include <algorithm>
#include <vector>

#include "backends/cpu/blas.h"

namespace {

inline float at(const float* p, int ld, bool trans, int r, int c) {
  return trans ? p[c * ld + r] : p[r * ld + c];
}

}  // namespace

extern "C" void cblas_sgemm(CBLAS_ORDER order, CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n,
                            int k, float alpha, const float* a, int lda, const float* b, int ldb,
                            float beta, float* c, int ldc) {
  if (order == CblasColMajor) {  // C^T = B^T A^T in row-major terms
    cblas_sgemm(CblasRowMajor, tb, ta, n, m, k, alpha, b, ldb, a, lda, beta, c, ldc);
    return;
  }
  bool tra = ta == CblasTrans, trb = tb == CblasTrans;
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
  // Pack B (k x n) row-major once so the inner loop is contiguous.
  std::vector<float> bp(static_cast<size_t>(k) * static_cast<size_t>(n));
  for (int p = 0; p < k; ++p)
    for (int j = 0; j < n; ++j)
      bp[static_cast<size_t>(p) * static_cast<size_t>(n) + static_cast<size_t>(j)] =
          at(b, ldb, trb, p, j);
  constexpr int kBlockK = 256, kBlockN = 512;
  for (int p0 = 0; p0 < k; p0 += kBlockK) {
    int p1 = std::min(k, p0 + kBlockK);
    for (int j0 = 0; j0 < n; j0 += kBlockN) {
      int j1 = std::min(n, j0 + kBlockN);
      for (int i = 0; i < m; ++i) {
        float* crow = c + static_cast<size_t>(i) * static_cast<size_t>(ldc);
        for (int p = p0; p < p1; ++p) {
          float av = alpha * at(a, lda, tra, i, p);
          if (av == 0.0f) continue;
          const float* brow = bp.data() + static_cast<size_t>(p) * static_cast<size_t>(n);
          for (int j = j0; j < j1; ++j) crow[j] += av * brow[j];
        }
      }
    }
  }
}
#endif
