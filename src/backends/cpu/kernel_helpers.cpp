// Helpers shared by the CPU kernels.
#include <string>

#include "backends/cpu/cpu_kernels.h"
#include "backends/cpu/dtype_dispatch.h"

namespace kiln::cpu {

Status cpu_error(const CpuArgs& a, StatusCode code, const std::string& msg) {
  return make_error(code, "backends.cpu",
                    "layer '" + a.layer.name + "' (" + std::string(ir::op_name(a.layer.op)) + "): " + msg);
}

std::vector<int64_t> contiguous_strides(const Dims& d) {
  std::vector<int64_t> s(static_cast<size_t>(d.rank()), 1);
  for (int i = d.rank() - 2; i >= 0; --i) s[static_cast<size_t>(i)] = s[static_cast<size_t>(i) + 1] * d[i + 1];
  return s;
}

std::vector<int64_t> broadcast_strides(const Dims& in, const Dims& out) {
  std::vector<int64_t> s(static_cast<size_t>(out.rank()), 0);
  std::vector<int64_t> cs = contiguous_strides(in);
  int lead = out.rank() - in.rank();
  for (int i = 0; i < in.rank(); ++i) {
    s[static_cast<size_t>(i + lead)] = (in[i] == 1 && out[i + lead] != 1) ? 0 : cs[static_cast<size_t>(i)];
  }
  return s;
}

std::vector<float> to_float_vector(const TensorView& t) {
  auto n = static_cast<size_t>(t.numel());
  std::vector<float> v(n);
  visit_dtype(t.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* p = static_cast<const T*>(t.data);
    for (size_t i = 0; i < n; ++i) v[i] = to_float(p[i]);
  });
  return v;
}

void from_float_vector(const std::vector<float>& v, const TensorView& t) {
  auto n = static_cast<size_t>(t.numel());
  visit_dtype(t.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* p = static_cast<T*>(t.data);
    for (size_t i = 0; i < n; ++i) p[i] = from_double<T>(v[i]);
  });
}

}  // namespace kiln::cpu
