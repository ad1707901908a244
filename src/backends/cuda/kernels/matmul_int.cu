// Integer matmul/linear (exact, wrapping int64 accumulation). Rare in models; a simple kernel.
#include "backends/cuda/cuda_kernels.h"
#include "backends/cuda/kernels/device_utils.cuh"

namespace kiln::cuda {
namespace {

template <class T>
__global__ void matmul_int_kernel(const T* a, const T* b, const T* bias, T* c, int64_t batch,
                                  int64_t m, int64_t n, int64_t k, const int64_t* off_a,
                                  const int64_t* off_b, int64_t sa_m, int64_t sa_k, int64_t sb_k,
                                  int64_t sb_n, DimsArg ob, StridesArg bsa, StridesArg bsb) {
  int64_t total = batch * m * n;
  KILN_GRID_STRIDE_LOOP(i, total) {
    int64_t col = i % n, row = (i / n) % m, bi = i / (m * n);
    int64_t oa = broadcast_offset(bi, ob, bsa) * m * k, obb = broadcast_offset(bi, ob, bsb) * k * n;
    uint64_t acc = bias ? static_cast<uint64_t>(static_cast<int64_t>(bias[col])) : 0;
    for (int64_t kk = 0; kk < k; ++kk) {
      acc += static_cast<uint64_t>(static_cast<int64_t>(a[oa + row * sa_m + kk * sa_k])) *
             static_cast<uint64_t>(static_cast<int64_t>(b[obb + kk * sb_k + col * sb_n]));
    }
    c[i] = static_cast<T>(static_cast<int64_t>(acc));
  }
}

}  // namespace

Status launch_matmul_int(const LaunchArgs& a) {
  const TensorView &x = a.in[0], &w = a.in[1], &o = a.out[0];
  int64_t m, n, k, sa_m, sa_k, sb_k, sb_n;
  Dims ba, bb, ob;
  if (a.layer.op == ir::OpKind::kLinear) {
    k = x.dims[x.dims.rank() - 1];
    m = 1;
    for (int i = 0; i + 1 < x.dims.rank(); ++i) m *= x.dims[i];
    n = w.dims[0];
    sa_m = k, sa_k = 1, sb_k = 1, sb_n = k;  // W is [N, K]
  } else {
    const auto& p = std::get<MatMulParams>(a.layer.params);
    Dims ad = x.dims, bd = w.dims;
    bool av = ad.rank() == 1, bv = bd.rank() == 1;
    if (av) ad = Dims{1, ad[0]};
    if (bv) bd = Dims{bd[0], 1};
    bool ta = p.transpose_a && !av, tb = p.transpose_b && !bv;
    int ra = ad.rank(), rb = bd.rank();
    m = ta ? ad[ra - 1] : ad[ra - 2];
    k = ta ? ad[ra - 2] : ad[ra - 1];
    n = tb ? bd[rb - 2] : bd[rb - 1];
    sa_m = ta ? 1 : k, sa_k = ta ? m : 1;
    sb_k = tb ? 1 : n, sb_n = tb ? k : 1;
    ba = Dims(std::span<const int64_t>(ad.begin(), static_cast<size_t>(ra - 2)));
    bb = Dims(std::span<const int64_t>(bd.begin(), static_cast<size_t>(rb - 2)));
    int r = std::max(ba.rank(), bb.rank());
    for (int i = 0; i < r; ++i) {
      int ia = i - (r - ba.rank()), ib = i - (r - bb.rank());
      ob.push_back(std::max(ia >= 0 ? ba[ia] : 1, ib >= 0 ? bb[ib] : 1));
    }
  }
  int64_t batch = ob.volume();
  int64_t total = batch * m * n;
  if (total == 0) return {};
  const void* bias = a.in.size() > 2 ? a.in[2].data : nullptr;
  visit_dtype(x.dtype, [&](auto t) {
    using T = typename decltype(t)::type;
    if constexpr (!kIsFloat<T> && !std::is_same_v<T, bool>) {
      matmul_int_kernel<T><<<grid_for(total, 256), 256, 0, a.stream>>>(
          static_cast<const T*>(x.data), static_cast<const T*>(w.data), static_cast<const T*>(bias),
          static_cast<T*>(o.data), batch, m, n, k, nullptr, nullptr, sa_m, sa_k, sb_k, sb_n,
          dims_arg(ob), broadcast_strides_arg(ba, ob), broadcast_strides_arg(bb, ob));
    }
  });
  KILN_CUDA_LAUNCH_CHECK();
  return {};
}

}  // namespace kiln::cuda
