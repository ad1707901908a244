// CPU kernel: scaled dot-product attention (torch.nn.functional.scaled_dot_product_attention).
//   out = softmax(scale * q k^T + mask) v, per broadcast batch index.
// q k^T and p v run through cblas_sgemm in float32; the softmax is the stable max-subtracted form
// with a double-precision row sum. 16-bit inputs are widened to float32 and the output rounded back
// once.
//
// Masking: a bool mask is true = attend, false = masked out (score -inf); a float mask is added to
// the scores; `causal` masks key j > query i (top-left aligned, torch is_causal). Unlike torch, a
// mask and `causal` may be combined (both apply). A row whose every position is masked out gives
// NaN, as torch's math reference does (softmax of a row of -inf: exp(-inf - (-inf)) = NaN), or
// zeros with zero_masked_rows; Lk == 0 gives zeros.
#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <limits>
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

// Numpy broadcast of two shapes (all extents known at run time).
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

const float* float_view(const TensorView& t, std::vector<float>& store) {
  if (t.dtype == DataType::kFloat32) return static_cast<const float*>(t.data);
  store = to_float_vector(t);
  return store.data();
}

}  // namespace

Status run_attention(const CpuArgs& a) {
  const auto& p = std::get<AttentionParams>(a.layer.params);
  const TensorView& q = a.in[0];
  const TensorView& k = a.in[1];
  const TensorView& v = a.in[2];
  const bool has_mask = a.in.size() > 3 && a.in[3].data != nullptr;
  if (!is_floating(q.dtype) || k.dtype != q.dtype || v.dtype != q.dtype)
    return cpu_error(a, StatusCode::kTypeError, "attention needs float q/k/v of one dtype");
  const int r = q.dims.rank();
  if (r < 2 || k.dims.rank() != r || v.dims.rank() != r)
    return cpu_error(a, StatusCode::kShapeError, "q, k, v must have the same rank >= 2");
  const int64_t lq = q.dims[r - 2], e = q.dims[r - 1];
  const int64_t lk = k.dims[r - 2], ev = v.dims[r - 1];
  if (k.dims[r - 1] != e || v.dims[r - 2] != lk) {
    return cpu_error(a, StatusCode::kShapeError,
                     "q " + q.dims.to_string() + ", k " + k.dims.to_string() + ", v " +
                         v.dims.to_string() + " do not fit");
  }
  Dims bq = leading(q.dims, r - 2), bk = leading(k.dims, r - 2), bv = leading(v.dims, r - 2);
  auto b1 = broadcast2(bq, bk);
  std::optional<Dims> batch = b1 ? broadcast2(*b1, bv) : std::nullopt;
  if (!batch) return cpu_error(a, StatusCode::kShapeError, "q/k/v batch dims do not broadcast");
  Dims expect = *batch;
  expect.push_back(lq);
  expect.push_back(ev);
  if (expect != a.out[0].dims)
    return cpu_error(
        a, StatusCode::kShapeError,
        "output dims " + a.out[0].dims.to_string() + " != expected " + expect.to_string());
  for (int64_t d : {lq, lk, e, ev}) {
    if (d > static_cast<int64_t>(INT_MAX))
      return cpu_error(a, StatusCode::kUnsupported, "dims exceed the BLAS index range");
  }

  Dims scores = *batch;
  scores.push_back(lq);
  scores.push_back(lk);
  std::vector<int64_t> ms(static_cast<size_t>(r), 0);
  std::vector<float> mask_f;
  const uint8_t* mask_b = nullptr;
  if (has_mask) {
    const TensorView& m = a.in[3];
    if (m.dtype != DataType::kBool && m.dtype != q.dtype)
      return cpu_error(a, StatusCode::kTypeError, "mask must be bool or the dtype of q");
    auto mb = broadcast2(scores, m.dims);
    if (m.dims.rank() > r || !mb || *mb != scores) {
      return cpu_error(
          a, StatusCode::kShapeError,
          "mask " + m.dims.to_string() + " does not broadcast to scores " + scores.to_string());
    }
    ms = broadcast_strides(m.dims, scores);
    if (m.dtype == DataType::kBool) {
      mask_b = static_cast<const uint8_t*>(m.data);
    } else {
      mask_f = to_float_vector(m);
    }
  }
  if (a.out[0].numel() == 0) return {};

  const float scale = p.scale != 0.0 ? static_cast<float>(p.scale)
                                     : static_cast<float>(1.0 / std::sqrt(static_cast<double>(e)));
  std::vector<float> sq, sk, sv, so;
  const float* Q = float_view(q, sq);
  const float* K = float_view(k, sk);
  const float* V = float_view(v, sv);
  const bool direct = a.out[0].dtype == DataType::kFloat32;
  if (!direct) so.resize(static_cast<size_t>(a.out[0].numel()));
  float* O = direct ? static_cast<float*>(a.out[0].data) : so.data();

  std::vector<float> s(static_cast<size_t>(lq * lk));
  const int64_t msq = ms[static_cast<size_t>(r - 2)], msk = ms[static_cast<size_t>(r - 1)];
  std::vector<int64_t> mask_batch(ms.begin(), ms.begin() + (r - 2));
  std::vector<std::vector<int64_t>> strides = {broadcast_strides(bq, *batch),
                                               broadcast_strides(bk, *batch),
                                               broadcast_strides(bv, *batch), mask_batch};
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  for_each_broadcast(*batch, strides, [&](int64_t bi, const std::vector<int64_t>& off) {
    const float* Qb = Q + off[0] * lq * e;
    const float* Kb = K + off[1] * lk * e;
    const float* Vb = V + off[2] * lk * ev;
    float* Ob = O + bi * lq * ev;
    sgemm(false, true, lq, lk, e, scale, Qb, e, Kb, e, s.data(), lk);
    for (int64_t i = 0; i < lq; ++i) {
      float* row = s.data() + i * lk;
      if (has_mask) {
        int64_t mo = off[3] + i * msq;
        if (mask_b) {
          for (int64_t j = 0; j < lk; ++j)
            if (mask_b[mo + j * msk] == 0) row[j] = kNegInf;
        } else {
          const float* mf = mask_f.data() + mo;
          for (int64_t j = 0; j < lk; ++j) row[j] += mf[j * msk];
        }
      }
      if (p.causal) {
        for (int64_t j = i + 1; j < lk; ++j) row[j] = kNegInf;
      }
      float mx = kNegInf;
      for (int64_t j = 0; j < lk; ++j)
        if (row[j] > mx) mx = row[j];
      if (mx == kNegInf && p.zero_masked_rows) {  // every key masked out: a row of zeros
        std::fill(row, row + lk, 0.0f);
        continue;
      }
      double sum = 0.0;
      for (int64_t j = 0; j < lk; ++j) {
        row[j] = std::exp(row[j] - mx);  // all -inf: exp(NaN) = NaN, as torch
        sum += row[j];
      }
      const auto inv = static_cast<float>(1.0 / sum);
      for (int64_t j = 0; j < lk; ++j) row[j] *= inv;
    }
    sgemm(false, false, lq, ev, lk, 1.0f, s.data(), lk, Vb, ev, Ob, ev);
  });
  if (!direct) from_float_vector(so, a.out[0]);
  return {};
}

}  // namespace kiln::cpu
