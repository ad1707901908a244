// CPU convolution (1-3 spatial dims, groups, dilation, asymmetric pads, optional bias) and
// transposed convolution, PyTorch semantics. Both run per (batch, group) as one float32 GEMM
// (OpenBLAS):
//   convolution:  y[Cout_g, O] = W[Cout_g, Cin_g*K] x im2col(x)[Cin_g*K, O]
//   transposed:   col[Cout_g*K, I] = W[Cin_g, Cout_g*K]^T x x[Cin_g, I], then col2im scatter-adds
//   col
//                 into y (the adjoint of im2col).
// 16-bit float tensors are widened to float32 and the result rounded back.
#include <algorithm>
#include <array>
#include <climits>
#include <cstring>
#include <string>

#include "backends/cpu/blas.h"
#include "backends/cpu/cpu_kernels.h"
#include "backends/cpu/dtype_dispatch.h"

namespace kiln::cpu {
namespace {

using Vec3 = std::array<int64_t, 3>;

/// The sliding-window geometry shared by im2col and col2im, with spatial dims right-aligned to 3
/// (leading dims of extent 1, kernel 1, stride 1, pad 0, dilation 1). `image` is the padded-over
/// tensor (conv input; transposed-conv output), `grid` the window positions (conv output;
/// transposed-conv input).
struct WindowGeom {
  Vec3 image{1, 1, 1}, grid{1, 1, 1}, kernel{1, 1, 1}, stride{1, 1, 1}, pad{0, 0, 0}, dil{1, 1, 1};
  int64_t image_volume() const { return image[0] * image[1] * image[2]; }
  int64_t grid_volume() const { return grid[0] * grid[1] * grid[2]; }
  int64_t kernel_volume() const { return kernel[0] * kernel[1] * kernel[2]; }
  /// True when im2col would be the identity (1x1 kernel, stride 1, no padding).
  bool is_pointwise() const {
    for (size_t i = 0; i < 3; ++i)
      if (kernel[i] != 1 || stride[i] != 1 || pad[i] != 0 || image[i] != grid[i]) return false;
    return true;
  }
};

struct ConvShape {
  int64_t batch = 0, cin = 0, cout = 0, groups = 1;
  WindowGeom geom;
};

int64_t ceil_div(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

/// Grid positions g in [lo, hi) whose image coordinate g * stride + offset lies in [0, size).
std::pair<int64_t, int64_t> valid_range(int64_t offset, int64_t stride, int64_t size,
                                        int64_t grid) {
  int64_t lo = offset >= 0 ? 0 : ceil_div(-offset, stride);
  int64_t hi = ceil_div(size - offset, stride);
  lo = std::clamp<int64_t>(lo, 0, grid);
  hi = std::clamp<int64_t>(hi, lo, grid);
  return {lo, hi};
}

/// For every column-matrix row (channel, kz, ky, kx) and grid line (gz, gy), calls
/// line_fn(image_line_offset or -1 when the line lies in the padding, column_line_offset,
/// x_offset), where grid x position gx reads image x coordinate gx * stride + x_offset.
template <class LineFn>
void for_each_window_line(const WindowGeom& g, int64_t channels, LineFn&& line_fn) {
  int64_t grid_vol = g.grid_volume();
  int64_t row = 0;
  for (int64_t c = 0; c < channels; ++c) {
    for (int64_t kz = 0; kz < g.kernel[0]; ++kz) {
      for (int64_t ky = 0; ky < g.kernel[1]; ++ky) {
        for (int64_t kx = 0; kx < g.kernel[2]; ++kx, ++row) {
          int64_t x_off = kx * g.dil[2] - g.pad[2];
          for (int64_t gz = 0; gz < g.grid[0]; ++gz) {
            int64_t iz = gz * g.stride[0] - g.pad[0] + kz * g.dil[0];
            for (int64_t gy = 0; gy < g.grid[1]; ++gy) {
              int64_t iy = gy * g.stride[1] - g.pad[1] + ky * g.dil[1];
              int64_t col_off = row * grid_vol + (gz * g.grid[1] + gy) * g.grid[2];
              bool inside = iz >= 0 && iz < g.image[0] && iy >= 0 && iy < g.image[1];
              int64_t img_off =
                  inside ? ((c * g.image[0] + iz) * g.image[1] + iy) * g.image[2] : -1;
              line_fn(img_off, col_off, x_off);
            }
          }
        }
      }
    }
  }
}

/// col[C*K, grid] <- windows of img[C, image] (zeros where a window reaches into the padding).
void im2col(const float* img, int64_t channels, const WindowGeom& g, float* col) {
  int64_t gw = g.grid[2], sx = g.stride[2];
  for_each_window_line(g, channels, [&](int64_t img_off, int64_t col_off, int64_t x_off) {
    float* dst = col + col_off;
    if (img_off < 0) {
      std::fill(dst, dst + gw, 0.0f);
      return;
    }
    const float* src = img + img_off;
    auto [lo, hi] = valid_range(x_off, sx, g.image[2], gw);
    std::fill(dst, dst + lo, 0.0f);
    if (sx == 1) {
      if (hi > lo)
        std::memcpy(dst + lo, src + lo + x_off, static_cast<size_t>(hi - lo) * sizeof(float));
    } else {
      for (int64_t x = lo; x < hi; ++x) dst[x] = src[x * sx + x_off];
    }
    std::fill(dst + hi, dst + gw, 0.0f);
  });
}

/// img[C, image] += scatter of col[C*K, grid] (the adjoint of im2col).
void col2im_add(const float* col, int64_t channels, const WindowGeom& g, float* img) {
  int64_t gw = g.grid[2], sx = g.stride[2];
  for_each_window_line(g, channels, [&](int64_t img_off, int64_t col_off, int64_t x_off) {
    if (img_off < 0) return;
    const float* src = col + col_off;
    float* dst = img + img_off;
    auto [lo, hi] = valid_range(x_off, sx, g.image[2], gw);
    for (int64_t x = lo; x < hi; ++x) dst[x * sx + x_off] += src[x];
  });
}

/// Float32 view of a tensor: the tensor's own memory for f32, else a widened copy in `storage`.
const float* float_data(const TensorView& t, std::vector<float>& storage) {
  if (t.data == nullptr) return nullptr;
  if (t.dtype == DataType::kFloat32) return static_cast<const float*>(t.data);
  storage = to_float_vector(t);
  return storage.data();
}

/// Fills `rows` rows of `len` floats with bias[r] (or zero without bias).
void fill_rows(float* dst, const float* bias, int64_t rows, int64_t len) {
  for (int64_t r = 0; r < rows; ++r)
    std::fill(dst + r * len, dst + (r + 1) * len, bias ? bias[r] : 0.0f);
}

/// Row-major C[m, n] = op(A) B + beta C, with op(A) = A [m, k] or A^T (A stored [k, m]).
void gemm(bool trans_a, int64_t m, int64_t n, int64_t k, const float* a, const float* b, float beta,
          float* c) {
  int lda = static_cast<int>(std::max<int64_t>(1, trans_a ? m : k));
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, CblasNoTrans, static_cast<int>(m),
              static_cast<int>(n), static_cast<int>(k), 1.0f, a, lda, b,
              static_cast<int>(std::max<int64_t>(1, n)), beta, c,
              static_cast<int>(std::max<int64_t>(1, n)));
}

/// Reads and checks the concrete shapes against the params.
Status read_shape(const CpuArgs& a, const ConvolutionParams& p, ConvShape& s) {
  const Dims &x = a.in[0].dims, &w = a.in[1].dims, &y = a.out[0].dims;
  int spatial = x.rank() - 2;
  auto ns = static_cast<size_t>(spatial);
  if (spatial < 1 || spatial > 3 || w.rank() != x.rank() || y.rank() != x.rank() ||
      p.strides.size() != ns || p.pads_begin.size() != ns || p.pads_end.size() != ns ||
      p.dilations.size() != ns || (p.transposed && p.output_padding.size() != ns) || p.groups < 1) {
    return cpu_error(a, StatusCode::kInvalidArgument, "malformed convolution parameters or ranks");
  }
  s.batch = x[0];
  s.cin = x[1];
  s.cout = y[1];
  s.groups = p.groups;
  bool channels_ok = p.transposed ? (w[0] == s.cin && w[1] * p.groups == s.cout)
                                  : (w[1] * p.groups == s.cin && w[0] == s.cout);
  if (!channels_ok || s.cin % p.groups != 0 || s.cout % p.groups != 0)
    return cpu_error(a, StatusCode::kShapeError,
                     "channels of input " + x.to_string() + ", weight " + w.to_string() +
                         " and output " + y.to_string() + " disagree");
  if (a.in.size() > 2 && a.in[2].data != nullptr && a.in[2].numel() != s.cout)
    return cpu_error(a, StatusCode::kShapeError,
                     "bias has " + std::to_string(a.in[2].numel()) + " elements");
  WindowGeom& g = s.geom;
  for (int i = 0; i < spatial; ++i) {
    auto d = static_cast<size_t>(3 - spatial + i);
    auto pi = static_cast<size_t>(i);
    g.image[d] = p.transposed ? y[i + 2] : x[i + 2];
    g.grid[d] = p.transposed ? x[i + 2] : y[i + 2];
    g.kernel[d] = w[i + 2];
    g.stride[d] = p.strides[pi];
    g.pad[d] = p.pads_begin[pi];
    g.dil[d] = p.dilations[pi];
    if (g.stride[d] < 1 || g.dil[d] < 1 || g.pad[d] < 0)
      return cpu_error(a, StatusCode::kInvalidArgument,
                       "strides/dilations must be >= 1 and pads >= 0");
  }
  int64_t rows = (p.transposed ? s.cout : s.cin) / s.groups * g.kernel_volume();
  if (rows > INT_MAX || g.grid_volume() > INT_MAX || s.cout > INT_MAX || s.cin > INT_MAX)
    return cpu_error(a, StatusCode::kUnsupported, "convolution too large for a 32-bit GEMM");
  return {};
}

void conv_forward(const ConvShape& s, const float* x, const float* w, const float* bias, float* y) {
  const WindowGeom& g = s.geom;
  int64_t cin_g = s.cin / s.groups, cout_g = s.cout / s.groups;
  int64_t k_rows = cin_g * g.kernel_volume();
  int64_t in_vol = g.image_volume(), out_vol = g.grid_volume();
  bool pointwise = g.is_pointwise();
  std::vector<float> col(pointwise ? 0 : static_cast<size_t>(k_rows * out_vol));
  for (int64_t n = 0; n < s.batch; ++n) {
    for (int64_t grp = 0; grp < s.groups; ++grp) {
      const float* xg = x + (n * s.cin + grp * cin_g) * in_vol;
      float* yg = y + (n * s.cout + grp * cout_g) * out_vol;
      const float* bg = bias ? bias + grp * cout_g : nullptr;
      fill_rows(yg, bg, cout_g, out_vol);
      if (k_rows == 0) continue;
      const float* b = xg;
      if (!pointwise) {
        im2col(xg, cin_g, g, col.data());
        b = col.data();
      }
      gemm(false, cout_g, out_vol, k_rows, w + grp * cout_g * k_rows, b, 1.0f, yg);
    }
  }
}

void conv_transposed(const ConvShape& s, const float* x, const float* w, const float* bias,
                     float* y) {
  const WindowGeom& g = s.geom;
  int64_t cin_g = s.cin / s.groups, cout_g = s.cout / s.groups;
  int64_t col_rows = cout_g * g.kernel_volume();
  int64_t in_vol = g.grid_volume(), out_vol = g.image_volume();
  std::vector<float> col(static_cast<size_t>(col_rows * in_vol));
  for (int64_t n = 0; n < s.batch; ++n) {
    for (int64_t grp = 0; grp < s.groups; ++grp) {
      const float* xg = x + (n * s.cin + grp * cin_g) * in_vol;
      float* yg = y + (n * s.cout + grp * cout_g) * out_vol;
      fill_rows(yg, bias ? bias + grp * cout_g : nullptr, cout_g, out_vol);
      if (cin_g == 0 || col_rows == 0) continue;
      gemm(true, col_rows, in_vol, cin_g, w + grp * cin_g * col_rows, xg, 0.0f, col.data());
      col2im_add(col.data(), cout_g, g, yg);
    }
  }
}

}  // namespace

Status run_convolution(const CpuArgs& a) {
  if (std::get<ConvolutionParams>(a.layer.params).channels_last)
    return run_channels_last_via_first(a, 2, run_convolution);
  const auto& p = std::get<ConvolutionParams>(a.layer.params);
  const TensorView& out = a.out[0];
  if (!is_floating(a.in[0].dtype) || a.in[1].dtype != a.in[0].dtype || out.dtype != a.in[0].dtype)
    return cpu_error(a, StatusCode::kTypeError,
                     "convolution needs matching float input, weight and output");
  ConvShape s;
  KILN_RETURN_IF_ERROR(read_shape(a, p, s));
  if (out.numel() == 0) return {};
  std::vector<float> x_store, w_store, b_store, y_store;
  const float* x = float_data(a.in[0], x_store);
  const float* w = float_data(a.in[1], w_store);
  const float* bias = a.in.size() > 2 ? float_data(a.in[2], b_store) : nullptr;
  bool direct = out.dtype == DataType::kFloat32;
  if (!direct) y_store.resize(static_cast<size_t>(out.numel()));
  float* y = direct ? static_cast<float*>(out.data) : y_store.data();
  if (p.transposed) {
    conv_transposed(s, x, w, bias, y);
  } else {
    conv_forward(s, x, w, bias, y);
  }
  if (!direct) from_float_vector(y_store, out);
  return {};
}

}  // namespace kiln::cpu
