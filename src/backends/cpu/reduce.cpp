// CPU kernels: reductions, cumsum and top-k. Float inputs compute in double, integer and bool
// inputs in int64 with wrap-around (no UB). Single-axis (and contiguous multi-axis) work views the
// tensor as [outer, n, inner] and walks it slab by slab with `inner` accumulators, so memory is
// read in order; other multi-axis reductions first gather the input into [kept..., reduced...]
// order.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "backends/cpu/cpu_kernels.h"
#include "backends/cpu/dtype_dispatch.h"

namespace kiln::cpu {
namespace {

int64_t wrap_add(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
}
int64_t wrap_mul(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
}

// ---- element conversion into / out of the compute domain (double or int64) ----

template <class D, class T>
D to_domain(T v) {
  if constexpr (std::is_same_v<D, double>) {
    return to_double(v);
  } else {
    return to_int64(v);
  }
}

template <class T, class D>
T from_domain(D v) {
  if constexpr (std::is_same_v<D, double>) {
    return from_double<T>(v);
  } else {
    return from_int64<T>(v);
  }
}

/// dst[i] = t[off + i] for i < n, converted to D.
template <class D>
void load(const TensorView& t, int64_t off, int64_t n, D* dst) {
  if (n <= 0) return;
  visit_dtype(t.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* p = static_cast<const T*>(t.data) + off;
    for (int64_t i = 0; i < n; ++i) dst[i] = to_domain<D>(p[i]);
  });
}

/// t[off + i] = src[i] for i < n, converted to t's dtype.
template <class D>
void store(const TensorView& t, int64_t off, int64_t n, const D* src) {
  if (n <= 0) return;
  visit_dtype(t.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* p = static_cast<T*>(t.data) + off;
    for (int64_t i = 0; i < n; ++i) p[i] = from_domain<T>(src[i]);
  });
}

/// The whole tensor, converted to D, with its dims reordered by `perm` (output dim i = input dim
/// perm[i]).
template <class D>
std::vector<D> load_permuted(const TensorView& t, const std::vector<int>& perm) {
  int r = t.dims.rank();
  int64_t n = t.numel();
  std::vector<D> out(static_cast<size_t>(std::max<int64_t>(n, 0)));
  if (n <= 0) return out;
  std::vector<int64_t> cs = contiguous_strides(t.dims);
  std::vector<int64_t> ext(static_cast<size_t>(r)), st(static_cast<size_t>(r));
  for (int i = 0; i < r; ++i) {
    ext[static_cast<size_t>(i)] = t.dims[perm[static_cast<size_t>(i)]];
    st[static_cast<size_t>(i)] = cs[static_cast<size_t>(perm[static_cast<size_t>(i)])];
  }
  visit_dtype(t.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* p = static_cast<const T*>(t.data);
    std::vector<int64_t> idx(static_cast<size_t>(r), 0);
    int64_t off = 0;
    for (int64_t i = 0; i < n; ++i) {
      out[static_cast<size_t>(i)] = to_domain<D>(p[off]);
      for (int d = r - 1; d >= 0; --d) {
        auto ud = static_cast<size_t>(d);
        off += st[ud];
        if (++idx[ud] < ext[ud]) break;
        off -= st[ud] * ext[ud];
        idx[ud] = 0;
      }
    }
  });
  return out;
}

/// [outer, n, inner] view of dims around `axis`.
struct Slabs {
  int64_t outer = 1, n = 1, inner = 1;
};

Slabs slabs_around(const Dims& d, int axis) {
  Slabs s;
  if (d.rank() == 0) return s;
  for (int i = 0; i < axis; ++i) s.outer *= d[i];
  s.n = d[axis];
  for (int i = axis + 1; i < d.rank(); ++i) s.inner *= d[i];
  return s;
}

int norm_axis(int64_t axis, int rank) {
  int r = std::max(rank, 1);
  int64_t a = axis < 0 ? axis + r : axis;
  return static_cast<int>(std::clamp<int64_t>(a, 0, r - 1));
}

// ---- reduction of one slab [n, inner] to inner results ----

template <class D>
constexpr bool kFloatDomain = std::is_same_v<D, double>;

template <class D>
bool is_nan(D v) {
  if constexpr (kFloatDomain<D>) {
    return std::isnan(v);
  } else {
    return false;
  }
}

/// Reduces slab[j * inner + i] over j for each i. Results go to vals[i] (value ops, in D) or
/// idxs[i] (arg ops, any/all). `acc` is scratch.
template <class D>
void reduce_slab(const D* slab, int64_t n, int64_t inner, ReduceOp op, int64_t correction, D* vals,
                 int64_t* idxs, std::vector<D>& acc) {
  auto row = [&](int64_t j) { return slab + j * inner; };
  switch (op) {
    case ReduceOp::kSum:
    case ReduceOp::kMean: {
      std::fill(vals, vals + inner, D(0));
      for (int64_t j = 0; j < n; ++j) {
        const D* x = row(j);
        for (int64_t i = 0; i < inner; ++i) {
          if constexpr (kFloatDomain<D>) {
            vals[i] += x[i];
          } else {
            vals[i] = wrap_add(vals[i], x[i]);
          }
        }
      }
      if constexpr (kFloatDomain<D>) {
        if (op == ReduceOp::kMean)
          for (int64_t i = 0; i < inner; ++i) vals[i] /= static_cast<double>(n);  // n == 0: nan
      }
      return;
    }
    case ReduceOp::kProd: {
      std::fill(vals, vals + inner, D(1));
      for (int64_t j = 0; j < n; ++j) {
        const D* x = row(j);
        for (int64_t i = 0; i < inner; ++i) {
          if constexpr (kFloatDomain<D>) {
            vals[i] *= x[i];
          } else {
            vals[i] = wrap_mul(vals[i], x[i]);
          }
        }
      }
      return;
    }
    case ReduceOp::kMax:
    case ReduceOp::kMin: {
      bool mx = op == ReduceOp::kMax;
      if (n == 0) {  // refused by inference; defined anyway
        if constexpr (kFloatDomain<D>) {
          std::fill(vals, vals + inner, std::numeric_limits<double>::quiet_NaN());
        } else {
          std::fill(vals, vals + inner, D(0));
        }
        return;
      }
      std::copy(row(0), row(0) + inner, vals);
      for (int64_t j = 1; j < n; ++j) {
        const D* x = row(j);
        for (int64_t i = 0; i < inner; ++i) {
          D v = x[i];
          if (is_nan(vals[i])) continue;  // NaN wins (torch)
          if (is_nan(v) || (mx ? v > vals[i] : v < vals[i])) vals[i] = v;
        }
      }
      return;
    }
    case ReduceOp::kArgMax:
    case ReduceOp::kArgMin: {
      bool mx = op == ReduceOp::kArgMax;
      std::fill(idxs, idxs + inner, int64_t(0));
      if (n == 0) return;
      acc.assign(row(0), row(0) + inner);  // best values
      for (int64_t j = 1; j < n; ++j) {
        const D* x = row(j);
        for (int64_t i = 0; i < inner; ++i) {
          D v = x[i];
          if (is_nan(acc[static_cast<size_t>(i)])) continue;  // first NaN wins
          if (is_nan(v) ||
              (mx ? v > acc[static_cast<size_t>(i)] : v < acc[static_cast<size_t>(i)])) {
            acc[static_cast<size_t>(i)] = v;
            idxs[i] = j;
          }
        }
      }
      return;
    }
    case ReduceOp::kVar:
    case ReduceOp::kStd: {
      if constexpr (kFloatDomain<D>) {
        // Two passes: mean, then the sum of squared deviations.
        acc.assign(static_cast<size_t>(inner), 0.0);
        for (int64_t j = 0; j < n; ++j) {
          const D* x = row(j);
          for (int64_t i = 0; i < inner; ++i) acc[static_cast<size_t>(i)] += x[i];
        }
        for (int64_t i = 0; i < inner; ++i) acc[static_cast<size_t>(i)] /= static_cast<double>(n);
        std::fill(vals, vals + inner, 0.0);
        for (int64_t j = 0; j < n; ++j) {
          const D* x = row(j);
          for (int64_t i = 0; i < inner; ++i) {
            double d = x[i] - acc[static_cast<size_t>(i)];
            vals[i] += d * d;
          }
        }
        // torch: divisor max(0, N - correction); 0 gives inf (or nan for 0/0).
        double div = std::max(0.0, static_cast<double>(n) - static_cast<double>(correction));
        for (int64_t i = 0; i < inner; ++i) {
          if (n == 0) {
            vals[i] = std::numeric_limits<double>::quiet_NaN();
            continue;
          }
          vals[i] /= div;
          if (op == ReduceOp::kStd) vals[i] = std::sqrt(vals[i]);
        }
      } else {
        std::fill(vals, vals + inner, D(0));  // refused by inference for ints
      }
      return;
    }
    case ReduceOp::kAny: {
      std::fill(idxs, idxs + inner, int64_t(0));
      for (int64_t j = 0; j < n; ++j) {
        const D* x = row(j);
        for (int64_t i = 0; i < inner; ++i)
          if (x[i] != D(0)) idxs[i] = 1;  // NaN counts as true, as torch
      }
      return;
    }
    case ReduceOp::kAll: {
      std::fill(idxs, idxs + inner, int64_t(1));
      for (int64_t j = 0; j < n; ++j) {
        const D* x = row(j);
        for (int64_t i = 0; i < inner; ++i)
          if (x[i] == D(0)) idxs[i] = 0;
      }
      return;
    }
  }
}

bool index_result(ReduceOp op) {
  return op == ReduceOp::kArgMax || op == ReduceOp::kArgMin || op == ReduceOp::kAny ||
         op == ReduceOp::kAll;
}

template <class D>
Status reduce_impl(const CpuArgs& a, const ReduceParams& p) {
  const TensorView &x = a.in[0], &o = a.out[0];
  int r = x.dims.rank();
  std::vector<bool> reduced(static_cast<size_t>(r), p.axes.empty());
  for (int64_t ax : p.axes) {
    if (r == 0) break;
    if (ax < -r || ax >= r)
      return cpu_error(a, StatusCode::kInvalidArgument,
                       "axis " + std::to_string(ax) + " out of range");
    reduced[static_cast<size_t>(ax < 0 ? ax + r : ax)] = true;
  }
  // Are the reduced dims (ignoring extent-1 dims) one contiguous block?
  int first = -1, last = -1;
  bool contiguous = true;
  for (int i = 0; i < r; ++i) {
    if (x.dims[i] == 1 || !reduced[static_cast<size_t>(i)]) continue;
    if (first < 0)
      first = i;
    else if (last != i - 1) {
      // a non-reduced dim of extent != 1 between two reduced dims?
      for (int k = last + 1; k < i; ++k)
        if (x.dims[k] != 1 && !reduced[static_cast<size_t>(k)]) contiguous = false;
    }
    last = i;
  }
  int64_t outer = 1, n = 1, inner = 1;
  std::vector<D> permuted;
  if (contiguous) {
    for (int i = 0; i < r; ++i) {
      bool red = reduced[static_cast<size_t>(i)];
      if (red)
        n *= x.dims[i];
      else if (first < 0 || i < first)
        outer *= x.dims[i];
      else
        inner *= x.dims[i];
    }
  } else {
    std::vector<int> perm;
    for (int i = 0; i < r; ++i)
      if (!reduced[static_cast<size_t>(i)]) perm.push_back(i);
    for (int i = 0; i < r; ++i)
      if (reduced[static_cast<size_t>(i)]) perm.push_back(i);
    for (int i = 0; i < r; ++i) (reduced[static_cast<size_t>(i)] ? n : outer) *= x.dims[i];
    permuted = load_permuted<D>(x, perm);
  }
  if (outer * inner != o.numel())
    return cpu_error(a, StatusCode::kInternal,
                     "output has " + std::to_string(o.numel()) + " elements, expected " +
                         std::to_string(outer * inner));
  bool idx_out = index_result(p.op);
  std::vector<D> slab(contiguous ? static_cast<size_t>(n * inner) : 0);
  std::vector<D> vals(static_cast<size_t>(inner)), acc;
  std::vector<int64_t> idxs(static_cast<size_t>(inner));
  for (int64_t b = 0; b < outer; ++b) {
    const D* src;
    if (contiguous) {
      load<D>(x, b * n * inner, n * inner, slab.data());
      src = slab.data();
    } else {
      src = permuted.data() + b * n;
    }
    reduce_slab<D>(src, n, inner, p.op, p.correction, vals.data(), idxs.data(), acc);
    if (idx_out) {
      store<int64_t>(o, b * inner, inner, idxs.data());
    } else {
      store<D>(o, b * inner, inner, vals.data());
    }
  }
  return {};
}

// ---- top-k ordering ----

template <class D>
struct KeyIdx {
  D v;
  int64_t i;
};

/// Strict weak order: `largest` puts larger first, NaN counts as larger than everything (torch);
/// ties by lower index.
template <class D>
struct TopKLess {
  bool largest;
  bool operator()(const KeyIdx<D>& a, const KeyIdx<D>& b) const {
    bool an = is_nan(a.v), bn = is_nan(b.v);
    if (an != bn) return largest ? an : bn;
    if (!an && a.v != b.v) return largest ? a.v > b.v : a.v < b.v;
    return a.i < b.i;
  }
};

template <class D>
Status topk_impl(const CpuArgs& a, const TopKParams& p) {
  const TensorView &x = a.in[0], &ov = a.out[0], &oi = a.out[1];
  int axis = norm_axis(p.axis, x.dims.rank());
  Slabs s = slabs_around(x.dims, axis);
  int64_t k = p.k < 0 ? s.n : p.k;  // -1: the whole axis (a sort)
  if (k < 0 || k > s.n) return cpu_error(a, StatusCode::kInvalidArgument, "k out of range");
  if (ov.numel() != s.outer * k * s.inner || oi.numel() != ov.numel())
    return cpu_error(a, StatusCode::kInternal, "unexpected output size");
  if (oi.dtype != DataType::kInt64)
    return cpu_error(a, StatusCode::kInternal, "indices must be int64");
  auto* pi = static_cast<int64_t*>(oi.data);
  std::vector<D> slab(static_cast<size_t>(s.n * s.inner)), res(static_cast<size_t>(k * s.inner));
  std::vector<KeyIdx<D>> lane(static_cast<size_t>(s.n));
  TopKLess<D> less{p.largest};
  for (int64_t b = 0; b < s.outer; ++b) {
    load<D>(x, b * s.n * s.inner, s.n * s.inner, slab.data());
    for (int64_t i = 0; i < s.inner; ++i) {
      for (int64_t j = 0; j < s.n; ++j)
        lane[static_cast<size_t>(j)] = {slab[static_cast<size_t>(j * s.inner + i)], j};
      std::partial_sort(lane.begin(), lane.begin() + k, lane.end(), less);
      for (int64_t j = 0; j < k; ++j) {
        res[static_cast<size_t>(j * s.inner + i)] = lane[static_cast<size_t>(j)].v;
        pi[(b * k + j) * s.inner + i] = lane[static_cast<size_t>(j)].i;
      }
    }
    store<D>(ov, b * k * s.inner, k * s.inner, res.data());
  }
  return {};
}

template <class D>
Status cumsum_impl(const CpuArgs& a, const CumSumParams& p) {
  const TensorView &x = a.in[0], &o = a.out[0];
  Slabs s = slabs_around(x.dims, norm_axis(p.axis, x.dims.rank()));
  if (o.numel() != x.numel()) return cpu_error(a, StatusCode::kInternal, "unexpected output size");
  std::vector<D> slab(static_cast<size_t>(s.n * s.inner)), acc(static_cast<size_t>(s.inner));
  for (int64_t b = 0; b < s.outer; ++b) {
    load<D>(x, b * s.n * s.inner, s.n * s.inner, slab.data());
    std::fill(acc.begin(), acc.end(), D(0));
    for (int64_t t = 0; t < s.n; ++t) {
      int64_t j = p.reverse ? s.n - 1 - t : t;
      D* row = slab.data() + j * s.inner;
      for (int64_t i = 0; i < s.inner; ++i) {
        D v = row[i];
        D& c = acc[static_cast<size_t>(i)];
        D next;
        if constexpr (kFloatDomain<D>) {
          next = c + v;
        } else {
          next = wrap_add(c, v);
        }
        row[i] = p.exclusive ? c : next;
        c = next;
      }
    }
    store<D>(o, b * s.n * s.inner, s.n * s.inner, slab.data());
  }
  return {};
}

}  // namespace

Status run_reduce(const CpuArgs& a) {
  const auto& p = std::get<ReduceParams>(a.layer.params);
  if (is_floating(a.in[0].dtype)) return reduce_impl<double>(a, p);
  return reduce_impl<int64_t>(a, p);
}

Status run_cumsum(const CpuArgs& a) {
  const auto& p = std::get<CumSumParams>(a.layer.params);
  if (is_floating(a.in[0].dtype)) return cumsum_impl<double>(a, p);
  return cumsum_impl<int64_t>(a, p);
}

Status run_topk(const CpuArgs& a) {
  const auto& p = std::get<TopKParams>(a.layer.params);
  if (a.in[0].dims.rank() < 1)
    return cpu_error(a, StatusCode::kInvalidArgument, "topk needs rank >= 1");
  if (is_floating(a.in[0].dtype)) return topk_impl<double>(a, p);
  return topk_impl<int64_t>(a, p);
}

}  // namespace kiln::cpu
