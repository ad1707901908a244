// CPU kernels that create data: fill (constant or seeded random), arange, shape (and constant,
// which is never executed).
#include <cmath>

#include "backends/cpu/cpu_kernels.h"
#include "backends/cpu/dtype_dispatch.h"
#include "common/counter_rng.h"
#include "common/element_access.h"

namespace kiln::cpu {

Status run_fill(const CpuArgs& a) {
  const auto& p = std::get<FillParams>(a.layer.params);
  const TensorView& o = a.out[0];
  if (p.mode != FillMode::kConstant) {
    if (!is_floating(o.dtype) && p.mode != FillMode::kInteger)
      return cpu_error(a, StatusCode::kTypeError, "random fill needs a float output");
    const auto seed = static_cast<uint64_t>(p.seed);
    const int bits =
        rng::uniform_bits(static_cast<int>(dtype_size(o.dtype)), o.dtype == DataType::kBFloat16);
    const int mode = static_cast<int>(p.mode);
    visit_dtype(o.dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      T* po = static_cast<T*>(o.data);
      for (int64_t i = 0; i < o.numel(); ++i)
        po[i] =
            from_double<T>(rng::draw(mode, seed, static_cast<uint64_t>(i), bits, p.value, p.high));
    });
    return {};
  }
  visit_dtype(o.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T v = from_double<T>(p.value);
    T* po = static_cast<T*>(o.data);
    for (int64_t i = 0; i < o.numel(); ++i) po[i] = v;
  });
  return {};
}

Status run_arange(const CpuArgs& a) {
  const auto& p = std::get<ArangeParams>(a.layer.params);
  double bounds[3] = {p.start, p.end, p.step};
  for (size_t i = 0; i < 3 && i < a.in.size(); ++i) {
    if (a.in[i].values != nullptr) {
      bounds[i] = static_cast<double>(a.in[i].values[0]);
    } else if (a.in[i].data != nullptr) {
      bounds[i] = load_as_double(a.in[i].data, a.in[i].dtype, 0);
    }
  }
  const TensorView& o = a.out[0];
  visit_dtype(o.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* po = static_cast<T*>(o.data);
    for (int64_t i = 0; i < o.numel(); ++i)
      po[i] = from_double<T>(bounds[0] + static_cast<double>(i) * bounds[2]);
  });
  return {};
}

Status run_shape(const CpuArgs& a) {
  auto* po = static_cast<int64_t*>(a.out[0].data);
  for (int i = 0; i < a.in[0].dims.rank(); ++i) po[i] = a.in[0].dims[i];
  return {};
}

Status run_constant(const CpuArgs& a) {
  return cpu_error(a, StatusCode::kInternal,
                   "constant layers are bound to their weights, not executed");
}

}  // namespace kiln::cpu
