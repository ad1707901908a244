// Helpers shared by the CPU kernels.
#include <cstring>
#include <string>

#include "backends/cpu/cpu_kernels.h"
#include "backends/cpu/dtype_dispatch.h"

namespace kiln::cpu {

Status cpu_error(const CpuArgs& a, StatusCode code, const std::string& msg) {
  return make_error(
      code, "backends.cpu",
      "layer '" + a.layer.name + "' (" + std::string(ir::op_name(a.layer.op)) + "): " + msg);
}

std::vector<int64_t> contiguous_strides(const Dims& d) {
  std::vector<int64_t> s(static_cast<size_t>(d.rank()), 1);
  for (int i = d.rank() - 2; i >= 0; --i)
    s[static_cast<size_t>(i)] = s[static_cast<size_t>(i) + 1] * d[i + 1];
  return s;
}

std::vector<int64_t> broadcast_strides(const Dims& in, const Dims& out) {
  std::vector<int64_t> s(static_cast<size_t>(out.rank()), 0);
  std::vector<int64_t> cs = contiguous_strides(in);
  int lead = out.rank() - in.rank();
  for (int i = 0; i < in.rank(); ++i) {
    s[static_cast<size_t>(i + lead)] =
        (in[i] == 1 && out[i + lead] != 1) ? 0 : cs[static_cast<size_t>(i)];
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

namespace kiln::cpu {

namespace {

// Copies src into dst with dst dim i = src dim perm[i] (byte copies, any dtype).
void permute_into(const TensorView& src, const TensorView& dst, const std::vector<int64_t>& perm) {
  size_t es = dtype_size(src.dtype);
  std::vector<int64_t> ss = contiguous_strides(src.dims);
  int r = dst.dims.rank();
  std::vector<int64_t> idx(static_cast<size_t>(r), 0);
  const auto* s = static_cast<const uint8_t*>(src.data);
  auto* d = static_cast<uint8_t*>(dst.data);
  for (int64_t i = 0; i < dst.numel(); ++i) {
    int64_t off = 0;
    for (int k = 0; k < r; ++k)
      off += idx[static_cast<size_t>(k)] * ss[static_cast<size_t>(perm[static_cast<size_t>(k)])];
    std::memcpy(d + i * static_cast<int64_t>(es), s + off * static_cast<int64_t>(es), es);
    for (int k = r - 1; k >= 0; --k) {
      if (++idx[static_cast<size_t>(k)] < dst.dims[k]) break;
      idx[static_cast<size_t>(k)] = 0;
    }
  }
}

Dims permuted(const Dims& d, const std::vector<int64_t>& perm) {
  Dims o;
  for (int64_t p : perm) o.push_back(d[static_cast<int>(p)]);
  return o;
}

}  // namespace

Status run_channels_last_via_first(const CpuArgs& a, size_t num_layout_inputs, CpuKernelFn fn) {
  int r = a.in[0].dims.rank();
  std::vector<int64_t> to_first{0, r - 1}, to_last{0};
  for (int i = 1; i < r - 1; ++i) to_first.push_back(i);
  for (int i = 2; i < r; ++i) to_last.push_back(i);
  to_last.push_back(1);
  std::vector<std::vector<uint8_t>> storage;
  std::vector<TensorView> in(a.in.begin(), a.in.end());
  for (size_t i = 0; i < num_layout_inputs && i < in.size(); ++i) {
    TensorView v{nullptr, in[i].dtype, permuted(in[i].dims, to_first)};
    storage.emplace_back(v.bytes());
    v.data = storage.back().data();
    permute_into(in[i], v, to_first);
    in[i] = v;
  }
  TensorView out{nullptr, a.out[0].dtype, permuted(a.out[0].dims, to_first)};
  storage.emplace_back(out.bytes());
  out.data = storage.back().data();
  ir::Layer layer = a.layer;
  std::visit(
      [](auto& p) {
        if constexpr (requires { p.channels_last; }) p.channels_last = false;
      },
      layer.params);
  std::vector<TensorView> outs{out};
  CpuArgs args{layer, in, outs};
  KILN_RETURN_IF_ERROR(fn(args));
  permute_into(out, a.out[0], to_last);
  return {};
}

}  // namespace kiln::cpu
