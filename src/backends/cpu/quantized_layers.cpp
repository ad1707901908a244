// CPU reference of the quantized convolution and linear layers (QuantizedEpilogue in
// kiln/layers.h): the products accumulate exactly (in double: integer sums stay exact far past
// int32's range, float8 products are exact), then the epilogue runs in float32 step by step as the
// unfused DQ -> op -> (bias, residual, activation) -> Q layers do.
#include <array>
#include <vector>

#include "backends/cpu/cpu_kernels.h"
#include "backends/cpu/quantize_math.h"
#include "common/element_access.h"

namespace kiln::cpu {
namespace {

// Operand values as doubles: (q - zero_point) for integers, the float8 value for e4m3.
std::vector<double> operand_values(const TensorView& t, int64_t zero_point) {
  std::vector<double> v(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i)
    v[static_cast<size_t>(i)] =
        load_as_double(t.data, t.dtype, i) - static_cast<double>(zero_point);
  return v;
}

float scalar_f32(const TensorView& t, int64_t i) {
  return static_cast<float>(load_as_double(t.data, t.dtype, i));
}

// Writes out[i] from acc for output channel c.
class Epilogue {
 public:
  Epilogue(const CpuArgs& a, const QuantizedEpilogue& p) : a_(a), p_(p) {
    x_scale_ = scalar_f32(a.in[2], 0);
    act_.op = p.activation;
    act_.alpha = p.activation_alpha;
    act_.beta = p.activation_beta;
    if (has(6)) inv_out_ = 1.0f / scalar_f32(a.in[6], 0);
  }
  void store(int64_t i, int64_t c, double acc) const {
    const TensorView& ws = a_.in[3];
    const float alpha = x_scale_ * scalar_f32(ws, ws.numel() == 1 ? 0 : c);
    float y = static_cast<float>(acc) * alpha;
    if (has(4)) y += scalar_f32(a_.in[4], c);
    if (has(5)) y += scalar_f32(a_.in[5], i);
    if (p_.activation != UnaryOp::kIdentity)
      y = static_cast<float>(unary_value(act_, static_cast<double>(y)));
    const TensorView& o = a_.out[0];
    if (!has(6)) {
      store_from_double(o.data, o.dtype, i, static_cast<double>(y));
      return;
    }
    store_quantized(o, i, y, inv_out_, static_cast<float>(p_.out_zero_point),
                    static_cast<float>(p_.quant_min), static_cast<float>(p_.quant_max));
  }

 private:
  bool has(size_t k) const { return a_.in.size() > k && a_.in[k].data != nullptr; }
  const CpuArgs& a_;
  const QuantizedEpilogue& p_;
  UnaryParams act_;
  float x_scale_ = 1.0f, inv_out_ = 1.0f;
};

using Vec3 = std::array<int64_t, 3>;

}  // namespace

Status run_quantized_convolution(const CpuArgs& a) {
  const auto& p = std::get<QuantizedConvolutionParams>(a.layer.params);
  const TensorView &xt = a.in[0], &wt = a.in[1], &o = a.out[0];
  const int rank = xt.dims.rank(), spatial = rank - 2;
  if (spatial < 1 || spatial > 3 || wt.dims.rank() != rank || p.groups < 1 ||
      (p.channels_last && rank != 4))
    return cpu_error(a, StatusCode::kInvalidArgument, "malformed quantized convolution");
  const std::vector<double> x = operand_values(xt, p.x_zero_point), w = operand_values(wt, 0);
  // channels_last: x [N, H, W, C], w [K, R, S, C/groups], out [N, OH, OW, K]; the channel dim
  // moves last and the spatial dims start at 1.
  const bool cl = p.channels_last;
  const int first = cl ? 1 : 2, cdim = cl ? rank - 1 : 1;
  // Spatial dims right-aligned to 3 (leading extents 1).
  Vec3 in{1, 1, 1}, out{1, 1, 1}, k{1, 1, 1}, st{1, 1, 1}, pad{0, 0, 0}, dil{1, 1, 1};
  for (int i = 0; i < spatial; ++i) {
    auto d = static_cast<size_t>(3 - spatial + i);
    auto pi = static_cast<size_t>(i);
    in[d] = xt.dims[i + first];
    out[d] = o.dims[i + first];
    k[d] = wt.dims[i + first];
    st[d] = p.strides[pi];
    pad[d] = p.pads_begin[pi];
    dil[d] = p.dilations[pi];
  }
  const int64_t batch = xt.dims[0], cin = xt.dims[cdim], cout = o.dims[cdim];
  const int64_t cin_g = cin / p.groups, cout_g = cout / p.groups;
  const int64_t in_vol = in[0] * in[1] * in[2], out_vol = out[0] * out[1] * out[2];
  const int64_t k_vol = k[0] * k[1] * k[2];
  // Element strides of a channel and of a spatial position, per tensor.
  const int64_t x_c = cl ? 1 : in_vol, x_p = cl ? cin : 1;
  const int64_t w_c = cl ? 1 : k_vol, w_p = cl ? cin_g : 1;
  const int64_t o_c = cl ? 1 : out_vol, o_p = cl ? cout : 1;
  Epilogue ep(a, p);
  for (int64_t n = 0; n < batch; ++n) {
    for (int64_t oc = 0; oc < cout; ++oc) {
      const int64_t grp = oc / cout_g;
      const double* wc = w.data() + oc * cin_g * k_vol;
      for (int64_t oz = 0; oz < out[0]; ++oz) {
        for (int64_t oy = 0; oy < out[1]; ++oy) {
          for (int64_t ox = 0; ox < out[2]; ++ox) {
            double acc = 0;
            for (int64_t ic = 0; ic < cin_g; ++ic) {
              const double* xc = x.data() + n * cin * in_vol + (grp * cin_g + ic) * x_c;
              for (int64_t kz = 0; kz < k[0]; ++kz) {
                const int64_t iz = oz * st[0] - pad[0] + kz * dil[0];
                if (iz < 0 || iz >= in[0]) continue;
                for (int64_t ky = 0; ky < k[1]; ++ky) {
                  const int64_t iy = oy * st[1] - pad[1] + ky * dil[1];
                  if (iy < 0 || iy >= in[1]) continue;
                  for (int64_t kx = 0; kx < k[2]; ++kx) {
                    const int64_t ix = ox * st[2] - pad[2] + kx * dil[2];
                    if (ix < 0 || ix >= in[2]) continue;
                    acc += xc[((iz * in[1] + iy) * in[2] + ix) * x_p] *
                           wc[ic * w_c + ((kz * k[1] + ky) * k[2] + kx) * w_p];
                  }
                }
              }
            }
            const int64_t pos = (oz * out[1] + oy) * out[2] + ox;
            ep.store(n * cout * out_vol + oc * o_c + pos * o_p, oc, acc);
          }
        }
      }
    }
  }
  return {};
}

Status run_quantized_linear(const CpuArgs& a) {
  const auto& p = std::get<QuantizedLinearParams>(a.layer.params);
  const TensorView &xt = a.in[0], &wt = a.in[1];
  const int64_t kk = wt.dims[1], nn = wt.dims[0];
  const int64_t m = kk == 0 ? a.out[0].numel() / (nn == 0 ? 1 : nn) : xt.numel() / kk;
  const std::vector<double> x = operand_values(xt, p.x_zero_point), w = operand_values(wt, 0);
  Epilogue ep(a, p);
  for (int64_t r = 0; r < m; ++r) {
    for (int64_t c = 0; c < nn; ++c) {
      double acc = 0;
      for (int64_t j = 0; j < kk; ++j)
        acc += x[static_cast<size_t>(r * kk + j)] * w[static_cast<size_t>(c * kk + j)];
      ep.store(r * nn + c, c, acc);
    }
  }
  return {};
}

}  // namespace kiln::cpu
