// CPU kernels: matmul (torch.matmul semantics) and linear (y = x W^T + b).
// Float types run through cblas_sgemm in float32 (16-bit floats are widened to float32 and rounded
// back once at the end); float64 uses loops accumulating in float64; integer types use exact int64
// loops that wrap on overflow (no UB).
#include <algorithm>
#include <climits>
#include <cstring>
#include <optional>
#include <vector>

#include "backends/cpu/blas.h"
#include "backends/cpu/cpu_kernels.h"
#include "backends/cpu/dtype_dispatch.h"

namespace kiln::cpu {
namespace {

// C[m, n] = alpha * op(A) op(B) (row major, beta = 0). Handles the empty cases BLAS rejects.
void sgemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* A,
           int64_t lda, const float* B, int64_t ldb, float* C, int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    for (int64_t i = 0; i < m; ++i)
      std::memset(C + i * ldc, 0, static_cast<size_t>(n) * sizeof(float));
    return;
  }
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
              static_cast<blasint>(m), static_cast<blasint>(n), static_cast<blasint>(k), alpha, A,
              static_cast<blasint>(lda < 1 ? 1 : lda), B, static_cast<blasint>(ldb < 1 ? 1 : ldb),
              0.0f, C, static_cast<blasint>(ldc < 1 ? 1 : ldc));
}

bool fits_blas(int64_t v) { return v <= static_cast<int64_t>(INT_MAX); }

// Numpy broadcast of two batch shapes (all extents known at run time).
std::optional<Dims> broadcast2(const Dims& a, const Dims& b) {
  int r = std::max(a.rank(), b.rank());
  Dims o;
  for (int i = 0; i < r; ++i) {
    int ia = i - (r - a.rank()), ib = i - (r - b.rank());
    int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
    if (da != db && da != 1 && db != 1) return std::nullopt;
    o.push_back(da == 1 ? db : da);
  }
  return o;
}

Dims leading(const Dims& d, int count) {
  return Dims(std::span<const int64_t>(d.begin(), static_cast<size_t>(count)));
}

// Float32 view of a tensor: the data itself for f32, else a widened copy kept in `store`.
const float* float_view(const TensorView& t, std::vector<float>& store) {
  if (t.dtype == DataType::kFloat32) return static_cast<const float*>(t.data);
  store = to_float_vector(t);
  return store.data();
}

struct MatmulShape {
  bool a_vec = false, b_vec = false, ta = false, tb = false;
  int64_t m = 0, k = 0, n = 0;
  Dims batch;                   // broadcast batch dims of the output
  std::vector<int64_t> sa, sb;  // batch strides of a and b, in matrices
};

Status plan_matmul(const CpuArgs& a, MatmulShape& s) {
  const auto& p = std::get<MatMulParams>(a.layer.params);
  const Dims& A = a.in[0].dims;
  const Dims& B = a.in[1].dims;
  if (A.rank() < 1 || B.rank() < 1)
    return cpu_error(a, StatusCode::kShapeError, "operands must have rank >= 1");
  s.a_vec = A.rank() == 1;
  s.b_vec = B.rank() == 1;
  Dims ad = s.a_vec ? Dims{1, A[0]} : A;
  Dims bd = s.b_vec ? Dims{B[0], 1} : B;
  s.ta = p.transpose_a && !s.a_vec;
  s.tb = p.transpose_b && !s.b_vec;
  int ra = ad.rank(), rb = bd.rank();
  s.m = s.ta ? ad[ra - 1] : ad[ra - 2];
  s.k = s.ta ? ad[ra - 2] : ad[ra - 1];
  int64_t kb = s.tb ? bd[rb - 1] : bd[rb - 2];
  s.n = s.tb ? bd[rb - 2] : bd[rb - 1];
  if (s.k != kb) {
    return cpu_error(a, StatusCode::kShapeError,
                     "inner dims differ: a " + A.to_string() + " has K=" + std::to_string(s.k) +
                         ", b " + B.to_string() + " has K=" + std::to_string(kb));
  }
  Dims ba = leading(ad, ra - 2), bb = leading(bd, rb - 2);
  auto batch = broadcast2(ba, bb);
  if (!batch)
    return cpu_error(
        a, StatusCode::kShapeError,
        "batch dims of " + A.to_string() + " and " + B.to_string() + " do not broadcast");
  s.batch = *batch;
  Dims expect = s.batch;
  if (!s.a_vec) expect.push_back(s.m);
  if (!s.b_vec) expect.push_back(s.n);
  if (expect != a.out[0].dims) {
    return cpu_error(
        a, StatusCode::kShapeError,
        "output dims " + a.out[0].dims.to_string() + " != expected " + expect.to_string());
  }
  s.sa = broadcast_strides(ba, s.batch);
  s.sb = broadcast_strides(bb, s.batch);
  return {};
}

// Exact loops: integers wrap on overflow (no UB); float64 accumulates in float64.
template <class T>
void loop_matmul(const CpuArgs& a, const MatmulShape& s) {
  const T* A = static_cast<const T*>(a.in[0].data);
  const T* B = static_cast<const T*>(a.in[1].data);
  T* C = static_cast<T*>(a.out[0].data);
  const int64_t m = s.m, n = s.n, k = s.k;
  // Element strides inside one matrix of A (m x k logical) and B (k x n logical).
  const int64_t a_rs = s.ta ? 1 : k, a_cs = s.ta ? m : 1;
  const int64_t b_rs = s.tb ? 1 : n, b_cs = s.tb ? k : 1;
  std::vector<std::vector<int64_t>> strides = {s.sa, s.sb};
  for_each_broadcast(s.batch, strides, [&](int64_t bi, const std::vector<int64_t>& off) {
    const T* Ab = A + off[0] * m * k;
    const T* Bb = B + off[1] * k * n;
    T* Cb = C + bi * m * n;
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        if constexpr (std::is_same_v<T, double>) {
          double acc = 0.0;
          for (int64_t q = 0; q < k; ++q) acc += Ab[i * a_rs + q * a_cs] * Bb[q * b_rs + j * b_cs];
          Cb[i * n + j] = acc;
        } else {
          uint64_t acc = 0;
          for (int64_t q = 0; q < k; ++q) {
            acc += static_cast<uint64_t>(static_cast<int64_t>(Ab[i * a_rs + q * a_cs])) *
                   static_cast<uint64_t>(static_cast<int64_t>(Bb[q * b_rs + j * b_cs]));
          }
          Cb[i * n + j] = static_cast<T>(static_cast<int64_t>(acc));  // modular narrowing (C++20)
        }
      }
    }
  });
}

Status float_matmul(const CpuArgs& a, const MatmulShape& s) {
  const int64_t m = s.m, n = s.n, k = s.k;
  if (!fits_blas(m) || !fits_blas(n) || !fits_blas(k))
    return cpu_error(a, StatusCode::kUnsupported, "matrix dims exceed the BLAS index range");
  std::vector<float> sa, sb, sc;
  const float* A = float_view(a.in[0], sa);
  const float* B = float_view(a.in[1], sb);
  bool direct = a.out[0].dtype == DataType::kFloat32;
  if (!direct) sc.resize(static_cast<size_t>(a.out[0].numel()));
  float* C = direct ? static_cast<float*>(a.out[0].data) : sc.data();
  const int64_t lda = s.ta ? m : k, ldb = s.tb ? k : n;
  int64_t batch = s.batch.volume();
  int64_t a_batches = a.in[0].dims.rank() > 2 ? a.in[0].numel() / std::max<int64_t>(1, m * k) : 1;
  bool b_shared = true;
  for (int64_t v : s.sb) b_shared = b_shared && v == 0;
  if (batch > 1 && b_shared && !s.ta && a_batches == batch && fits_blas(batch * m)) {
    // B is shared by every batch and A's batches are contiguous: one [batch*m, k] x [k, n] product.
    sgemm(false, s.tb, batch * m, n, k, 1.0f, A, lda, B, ldb, C, n);
  } else {
    std::vector<std::vector<int64_t>> strides = {s.sa, s.sb};
    for_each_broadcast(s.batch, strides, [&](int64_t bi, const std::vector<int64_t>& off) {
      sgemm(s.ta, s.tb, m, n, k, 1.0f, A + off[0] * m * k, lda, B + off[1] * k * n, ldb,
            C + bi * m * n, n);
    });
  }
  if (!direct) from_float_vector(sc, a.out[0]);
  return {};
}

}  // namespace

Status run_matmul(const CpuArgs& a) {
  MatmulShape s;
  KILN_RETURN_IF_ERROR(plan_matmul(a, s));
  if (a.out[0].numel() == 0) return {};
  switch (a.in[0].dtype) {
    case DataType::kFloat32:
    case DataType::kFloat16:
    case DataType::kBFloat16:
      return float_matmul(a, s);
    case DataType::kInt32:
      loop_matmul<int32_t>(a, s);
      return {};
    case DataType::kInt64:
      loop_matmul<int64_t>(a, s);
      return {};
    case DataType::kInt8:
      loop_matmul<int8_t>(a, s);
      return {};
    case DataType::kUInt8:
      loop_matmul<uint8_t>(a, s);
      return {};
    case DataType::kInt16:
      loop_matmul<int16_t>(a, s);
      return {};
    case DataType::kFloat64:
      loop_matmul<double>(a, s);
      return {};
    case DataType::kBool:
    case DataType::kFloat8E4M3:
      break;
  }
  return cpu_error(a, StatusCode::kUnsupported,
                   "matmul on " + std::string(dtype_name(a.in[0].dtype)));
}

Status run_linear(const CpuArgs& a) {
  const TensorView& x = a.in[0];
  const TensorView& w = a.in[1];
  const bool has_bias = a.in.size() > 2 && a.in[2].data != nullptr;
  if (!is_floating(x.dtype))
    return cpu_error(a, StatusCode::kUnsupported, "linear needs a float input");
  if (x.dims.rank() < 1 || w.dims.rank() != 2)
    return cpu_error(a, StatusCode::kShapeError, "expected x [..., K] and w [N, K]");
  const int64_t k = x.dims[x.dims.rank() - 1], n = w.dims[0];
  if (w.dims[1] != k) {
    return cpu_error(a, StatusCode::kShapeError,
                     "input " + x.dims.to_string() + " has K=" + std::to_string(k) +
                         " but weight is " + w.dims.to_string());
  }
  if (has_bias && (a.in[2].dims.rank() != 1 || a.in[2].dims[0] != n))
    return cpu_error(a, StatusCode::kShapeError,
                     "bias " + a.in[2].dims.to_string() + " must be [" + std::to_string(n) + "]");
  Dims expect = x.dims;
  expect[expect.rank() - 1] = n;
  if (expect != a.out[0].dims)
    return cpu_error(
        a, StatusCode::kShapeError,
        "output dims " + a.out[0].dims.to_string() + " != expected " + expect.to_string());
  int64_t m = 1;
  for (int i = 0; i + 1 < x.dims.rank(); ++i) m *= x.dims[i];
  if (m == 0 || n == 0) return {};
  if (x.dtype == DataType::kFloat64) {  // float64: a loop accumulating in float64
    if (w.dtype != x.dtype || (has_bias && a.in[2].dtype != x.dtype) || a.out[0].dtype != x.dtype)
      return cpu_error(a, StatusCode::kTypeError, "float64 linear needs float64 operands");
    const auto* X = static_cast<const double*>(x.data);
    const auto* W = static_cast<const double*>(w.data);
    const auto* bias = has_bias ? static_cast<const double*>(a.in[2].data) : nullptr;
    auto* Y = static_cast<double*>(a.out[0].data);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double acc = bias != nullptr ? bias[j] : 0.0;
        for (int64_t q = 0; q < k; ++q) acc += X[i * k + q] * W[j * k + q];
        Y[i * n + j] = acc;
      }
    return {};
  }
  if (!fits_blas(m) || !fits_blas(n) || !fits_blas(k))
    return cpu_error(a, StatusCode::kUnsupported, "matrix dims exceed the BLAS index range");
  std::vector<float> sx, sw, sb, sy;
  const float* X = float_view(x, sx);
  const float* W = float_view(w, sw);
  bool direct = a.out[0].dtype == DataType::kFloat32;
  if (!direct) sy.resize(static_cast<size_t>(m * n));
  float* Y = direct ? static_cast<float*>(a.out[0].data) : sy.data();
  sgemm(false, true, m, n, k, 1.0f, X, k, W, k, Y, n);
  if (has_bias) {
    const float* bias = float_view(a.in[2], sb);
    for (int64_t i = 0; i < m; ++i) {
      float* row = Y + i * n;
      for (int64_t j = 0; j < n; ++j) row[j] += bias[j];
    }
  }
  if (!direct) from_float_vector(sy, a.out[0]);
  return {};
}

}  // namespace kiln::cpu
