// CBLAS for the reference kernels: the system's (OpenBLAS) when found at build time, else a small
// built-in sgemm (blas_fallback.cpp) so the engine also builds where no BLAS is installed.
#pragma once

#ifdef KILN_HAVE_CBLAS
#include <cblas.h>
#else
enum CBLAS_ORDER { CblasRowMajor = 101, CblasColMajor = 102 };
enum CBLAS_TRANSPOSE { CblasNoTrans = 111, CblasTrans = 112 };
using blasint = int;
extern "C" void cblas_sgemm(CBLAS_ORDER order, CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n,
                            int k, float alpha, const float* a, int lda, const float* b, int ldb,
                            float beta, float* c, int ldc);
#endif
