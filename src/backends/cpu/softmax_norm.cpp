// CPU kernels: softmax / log-softmax and the normalizations (layer, group, batch, RMS). Every
// kernel loads a contiguous slab of the input into doubles, computes there, and stores it converted
// to the output dtype, so accumulation is double whatever the storage type. Layer and group norm
// use the biased variance (divide by N) like torch.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "backends/cpu/cpu_kernels.h"
#include "backends/cpu/dtype_dispatch.h"

namespace kiln::cpu {
namespace {

/// dst[i] = t[off + i] as double for i < n.
void load(const TensorView& t, int64_t off, int64_t n, double* dst) {
  if (n <= 0) return;
  visit_dtype(t.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* p = static_cast<const T*>(t.data) + off;
    for (int64_t i = 0; i < n; ++i) dst[i] = to_double(p[i]);
  });
}

/// t[off + i] = src[i] converted to t's dtype, for i < n.
void store(const TensorView& t, int64_t off, int64_t n, const double* src) {
  if (n <= 0) return;
  visit_dtype(t.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* p = static_cast<T*>(t.data) + off;
    for (int64_t i = 0; i < n; ++i) p[i] = from_double<T>(src[i]);
  });
}

bool present(std::span<const TensorView> in, size_t i) {
  return in.size() > i && in[i].data != nullptr;
}

/// An optional parameter tensor as doubles; empty when omitted. `want` elements are required.
Status load_param(const CpuArgs& a, size_t i, int64_t want, const char* what,
                  std::vector<double>& out) {
  out.clear();
  if (!present(a.in, i)) return {};
  if (a.in[i].numel() != want)
    return cpu_error(a, StatusCode::kShapeError,
                     std::string(what) + " has " + std::to_string(a.in[i].numel()) +
                         " elements, expected " + std::to_string(want));
  out.resize(static_cast<size_t>(want));
  load(a.in[i], 0, want, out.data());
  return {};
}

Status check_same_size(const CpuArgs& a) {
  if (a.out[0].numel() != a.in[0].numel())
    return cpu_error(a, StatusCode::kInternal, "output size differs from input size");
  return {};
}

int norm_axis(int64_t axis, int rank) {
  int r = std::max(rank, 1);
  int64_t ax = axis < 0 ? axis + r : axis;
  return static_cast<int>(std::clamp<int64_t>(ax, 0, r - 1));
}

/// Normalizes one row in place over its n elements: y = (x - mean) * rstd, mean/var biased.
void standardize(double* x, int64_t n, double eps) {
  if (n <= 0) return;
  double mean = 0;
  for (int64_t i = 0; i < n; ++i) mean += x[i];
  mean /= static_cast<double>(n);
  double var = 0;
  for (int64_t i = 0; i < n; ++i) {
    double d = x[i] - mean;
    var += d * d;
  }
  var /= static_cast<double>(n);
  double rstd = 1.0 / std::sqrt(var + eps);
  for (int64_t i = 0; i < n; ++i) x[i] = (x[i] - mean) * rstd;
}

}  // namespace

Status run_softmax(const CpuArgs& a) {
  const auto& p = std::get<SoftmaxParams>(a.layer.params);
  const TensorView &x = a.in[0], &o = a.out[0];
  KILN_RETURN_IF_ERROR(check_same_size(a));
  int r = x.dims.rank();
  int axis = norm_axis(p.axis, r);
  int64_t outer = 1, n = 1, inner = 1;
  if (r > 0) {
    for (int i = 0; i < axis; ++i) outer *= x.dims[i];
    n = x.dims[axis];
    for (int i = axis + 1; i < r; ++i) inner *= x.dims[i];
  }
  int64_t slab_n = n * inner;
  std::vector<double> slab(static_cast<size_t>(slab_n)), mx(static_cast<size_t>(inner)),
      sum(static_cast<size_t>(inner));
  for (int64_t b = 0; b < outer; ++b) {
    double* s = slab.data();
    load(x, b * slab_n, slab_n, s);
    std::fill(mx.begin(), mx.end(), -INFINITY);
    for (int64_t j = 0; j < n; ++j)
      for (int64_t i = 0; i < inner; ++i) {
        double v = s[j * inner + i];
        double& m = mx[static_cast<size_t>(i)];
        if (std::isnan(v) || v > m) m = std::isnan(m) ? m : v;
      }
    // A row of all -inf has max -inf: use 0 as the shift so exp(-inf) = 0 (sum 0 -> nan, as torch).
    for (auto& m : mx)
      if (std::isinf(m)) m = m > 0 ? m : 0.0;
    std::fill(sum.begin(), sum.end(), 0.0);
    if (p.log) {
      // x - max - log(sum(exp(x - max)))
      for (int64_t j = 0; j < n; ++j)
        for (int64_t i = 0; i < inner; ++i) {
          double& v = s[j * inner + i];
          v -= mx[static_cast<size_t>(i)];
          sum[static_cast<size_t>(i)] += std::exp(v);
        }
      for (auto& t : sum) t = std::log(t);
      for (int64_t j = 0; j < n; ++j)
        for (int64_t i = 0; i < inner; ++i) s[j * inner + i] -= sum[static_cast<size_t>(i)];
    } else {
      for (int64_t j = 0; j < n; ++j)
        for (int64_t i = 0; i < inner; ++i) {
          double& v = s[j * inner + i];
          v = std::exp(v - mx[static_cast<size_t>(i)]);
          sum[static_cast<size_t>(i)] += v;
        }
      for (auto& t : sum) t = 1.0 / t;
      for (int64_t j = 0; j < n; ++j)
        for (int64_t i = 0; i < inner; ++i) s[j * inner + i] *= sum[static_cast<size_t>(i)];
    }
    store(o, b * slab_n, slab_n, s);
  }
  return {};
}

Status run_layer_norm(const CpuArgs& a) {
  const auto& p = std::get<LayerNormParams>(a.layer.params);
  const TensorView &x = a.in[0], &o = a.out[0];
  KILN_RETURN_IF_ERROR(check_same_size(a));
  int r = x.dims.rank();
  if (r == 0) return cpu_error(a, StatusCode::kShapeError, "layer_norm needs rank >= 1");
  int axis = norm_axis(p.axis, r);
  int64_t outer = 1, m = 1;
  for (int i = 0; i < axis; ++i) outer *= x.dims[i];
  for (int i = axis; i < r; ++i) m *= x.dims[i];
  std::vector<double> gamma, beta;
  KILN_RETURN_IF_ERROR(load_param(a, 1, m, "gamma", gamma));
  KILN_RETURN_IF_ERROR(load_param(a, 2, m, "beta", beta));
  std::vector<double> row(static_cast<size_t>(m));
  for (int64_t b = 0; b < outer; ++b) {
    load(x, b * m, m, row.data());
    standardize(row.data(), m, p.epsilon);
    if (!gamma.empty())
      for (int64_t i = 0; i < m; ++i) row[static_cast<size_t>(i)] *= gamma[static_cast<size_t>(i)];
    if (!beta.empty())
      for (int64_t i = 0; i < m; ++i) row[static_cast<size_t>(i)] += beta[static_cast<size_t>(i)];
    store(o, b * m, m, row.data());
  }
  return {};
}

Status run_group_norm(const CpuArgs& a) {
  const auto& p = std::get<GroupNormParams>(a.layer.params);
  const TensorView &x = a.in[0], &o = a.out[0];
  KILN_RETURN_IF_ERROR(check_same_size(a));
  int r = x.dims.rank();
  if (r < 2) return cpu_error(a, StatusCode::kShapeError, "input must be [N, C, ...]");
  int64_t n = x.dims[0], c = x.dims[1], g = p.num_groups;
  if (g < 1 || c % g != 0)
    return cpu_error(
        a, StatusCode::kShapeError,
        "channels " + std::to_string(c) + " not divisible by num_groups " + std::to_string(g));
  int64_t spatial = 1;
  for (int i = 2; i < r; ++i) spatial *= x.dims[i];
  std::vector<double> gamma, beta;
  KILN_RETURN_IF_ERROR(load_param(a, 1, c, "gamma", gamma));
  KILN_RETURN_IF_ERROR(load_param(a, 2, c, "beta", beta));
  int64_t cpg = c / g, chunk = cpg * spatial;
  std::vector<double> buf(static_cast<size_t>(chunk));
  for (int64_t b = 0; b < n * g; ++b) {
    int64_t c0 = (b % g) * cpg;
    load(x, b * chunk, chunk, buf.data());
    standardize(buf.data(), chunk, p.epsilon);
    for (int64_t ci = 0; ci < cpg; ++ci) {
      double gm = gamma.empty() ? 1.0 : gamma[static_cast<size_t>(c0 + ci)];
      double bt = beta.empty() ? 0.0 : beta[static_cast<size_t>(c0 + ci)];
      double* v = buf.data() + ci * spatial;
      for (int64_t s = 0; s < spatial; ++s) v[s] = v[s] * gm + bt;
    }
    store(o, b * chunk, chunk, buf.data());
  }
  return {};
}

Status run_batch_norm(const CpuArgs& a) {
  const auto& p = std::get<BatchNormParams>(a.layer.params);
  const TensorView &x = a.in[0], &o = a.out[0];
  KILN_RETURN_IF_ERROR(check_same_size(a));
  int r = x.dims.rank();
  if (r < 2) return cpu_error(a, StatusCode::kShapeError, "input must be [N, C, ...]");
  int64_t n = x.dims[0], c = x.dims[1];
  int64_t spatial = 1;
  for (int i = 2; i < r; ++i) spatial *= x.dims[i];
  if (!present(a.in, 1) && c > 0)
    return cpu_error(a, StatusCode::kInvalidArgument, "mean is required");
  if (!present(a.in, 2) && c > 0)
    return cpu_error(a, StatusCode::kInvalidArgument, "var is required");
  std::vector<double> mean, var, gamma, beta;
  KILN_RETURN_IF_ERROR(load_param(a, 1, c, "mean", mean));
  KILN_RETURN_IF_ERROR(load_param(a, 2, c, "var", var));
  KILN_RETURN_IF_ERROR(load_param(a, 3, c, "gamma", gamma));
  KILN_RETURN_IF_ERROR(load_param(a, 4, c, "beta", beta));
  // y = (x - mean) * (gamma / sqrt(var + eps)) + beta
  std::vector<double> scale(static_cast<size_t>(c)), shift(static_cast<size_t>(c));
  for (int64_t ci = 0; ci < c; ++ci) {
    auto u = static_cast<size_t>(ci);
    scale[u] = (gamma.empty() ? 1.0 : gamma[u]) / std::sqrt(var[u] + p.epsilon);
    shift[u] = beta.empty() ? 0.0 : beta[u];
  }
  std::vector<double> buf(static_cast<size_t>(spatial));
  for (int64_t b = 0; b < n * c; ++b) {
    auto u = static_cast<size_t>(b % c);
    load(x, b * spatial, spatial, buf.data());
    for (auto& v : buf) v = (v - mean[u]) * scale[u] + shift[u];
    store(o, b * spatial, spatial, buf.data());
  }
  return {};
}

Status run_rms_norm(const CpuArgs& a) {
  const auto& p = std::get<RmsNormParams>(a.layer.params);
  const TensorView &x = a.in[0], &o = a.out[0];
  KILN_RETURN_IF_ERROR(check_same_size(a));
  int r = x.dims.rank();
  if (r == 0) return cpu_error(a, StatusCode::kShapeError, "rms_norm needs rank >= 1");
  int axis = norm_axis(p.axis, r);
  int64_t outer = 1, m = 1;
  for (int i = 0; i < axis; ++i) outer *= x.dims[i];
  for (int i = axis; i < r; ++i) m *= x.dims[i];
  std::vector<double> gamma;
  KILN_RETURN_IF_ERROR(load_param(a, 1, m, "gamma", gamma));
  std::vector<double> row(static_cast<size_t>(m));
  for (int64_t b = 0; b < outer; ++b) {
    load(x, b * m, m, row.data());
    double ss = 0;
    for (double v : row) ss += v * v;
    double rrms = 1.0 / std::sqrt(ss / static_cast<double>(m) + p.epsilon);
    for (int64_t i = 0; i < m; ++i) {
      double v = row[static_cast<size_t>(i)] * rrms;
      row[static_cast<size_t>(i)] = gamma.empty() ? v : v * gamma[static_cast<size_t>(i)];
    }
    store(o, b * m, m, row.data());
  }
  return {};
}

}  // namespace kiln::cpu
