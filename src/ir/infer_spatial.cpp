// Inference for pooling, adaptive pooling, resize, pad and grid sample.
#include <cmath>
#include <string>

#include "ir/dim_math.h"
#include "ir/infer_fns.h"

namespace kiln::ir {
namespace {

Status check_spatial_input(const TensorType& x, size_t n_params) {
  int spatial = x.dims.rank() - 2;
  if (spatial < 1 || spatial > 3)
    return shape_error("input must be [N, C, d1..d3] (rank 3-5), got " + x.dims.to_string());
  if (n_params != static_cast<size_t>(spatial)) {
    return shape_error("parameters have " + s(static_cast<int64_t>(n_params)) +
                       " spatial entries but the input has " + s(spatial));
  }
  return {};
}

}  // namespace

Status infer_pooling(const Layer& layer, std::span<const InferInput> in, InferResult& out) {
  const auto& p = std::get<PoolingParams>(layer.params);
  const TensorType& x = *in[0].type;
  const int first = p.channels_last ? 1 : 2;  // first spatial dim
  KILN_RETURN_IF_ERROR(check_spatial_input(x, p.kernel.size()));
  size_t n = p.kernel.size();
  if (p.strides.size() != n || p.pads_begin.size() != n || p.pads_end.size() != n ||
      p.dilations.size() != n) {
    return shape_error("kernel/strides/pads/dilations must each have " +
                       s(static_cast<int64_t>(n)) + " entries");
  }
  if (p.type == PoolingType::kAverage && !is_floating(x.dtype))
    return type_error("average pooling needs a float input");
  if (x.dtype == DataType::kBool) return type_error("pooling on bool");
  if (p.return_indices && (p.type != PoolingType::kMax || p.channels_last))
    return type_error("indices come from channels-first max pooling only");
  Dims o = x.dims;
  for (size_t i = 0; i < n; ++i) {
    if (p.kernel[i] < 1 || p.strides[i] < 1 || p.dilations[i] < 1)
      return shape_error("kernel, strides and dilations must be >= 1");
    if (p.pads_begin[i] < 0 || p.pads_end[i] < 0) return shape_error("pads must be >= 0");
    if (sat_mul(2, std::max(p.pads_begin[i], p.pads_end[i])) >
        sat_add(sat_mul(p.dilations[i], p.kernel[i] - 1), 1)) {
      return shape_error("pad " + s(std::max(p.pads_begin[i], p.pads_end[i])) +
                         " exceeds half the kernel extent");
    }
    int64_t d = x.dims[static_cast<int>(i) + first];
    if (d < 0) {
      o[static_cast<int>(i) + first] = kDynamic;
      continue;
    }
    int64_t eff = sat_add(sat_mul(p.dilations[i], p.kernel[i] - 1), 1);
    int64_t span = sat_sub(sat_add(sat_add(d, p.pads_begin[i]), p.pads_end[i]), eff);
    if (span < 0) {
      return shape_error("spatial dim " + s(static_cast<int64_t>(i)) + " of size " + s(d) +
                         " is smaller than the pooling window " + s(eff));
    }
    int64_t od = p.ceil_mode ? span / p.strides[i] + (span % p.strides[i] != 0) + 1
                             : span / p.strides[i] + 1;
    // torch: the last window must start inside the input or the left padding
    if (p.ceil_mode && sat_mul(od - 1, p.strides[i]) >= sat_add(d, p.pads_begin[i])) --od;
    o[static_cast<int>(i) + first] = od;
  }
  out.types = {TensorType{x.dtype, o}};
  if (p.return_indices) out.types.push_back(TensorType{DataType::kInt64, o});
  return {};
}

Status infer_adaptive_pooling(const Layer& layer, std::span<const InferInput> in,
                              InferResult& out) {
  const auto& p = std::get<AdaptivePoolingParams>(layer.params);
  const TensorType& x = *in[0].type;
  KILN_RETURN_IF_ERROR(check_spatial_input(x, p.output_size.size()));
  if (p.type == PoolingType::kAverage && !is_floating(x.dtype))
    return type_error("adaptive average pooling needs a float input");
  const int first = p.channels_last ? 1 : 2;
  Dims o = x.dims;
  for (size_t i = 0; i < p.output_size.size(); ++i) {
    int64_t od = p.output_size[i];
    if (od == 0 || od < kDynamic) return shape_error("output size must be >= 1 (or -1 to keep)");
    if (od != kDynamic) o[static_cast<int>(i) + first] = od;
  }
  out.types = {TensorType{x.dtype, o}};
  return {};
}

Status infer_resize(const Layer& layer, std::span<const InferInput> in, InferResult& out) {
  const auto& p = std::get<ResizeParams>(layer.params);
  const TensorType& x = *in[0].type;
  int spatial = x.dims.rank() - 2;
  if (spatial < 1 || spatial > 3)
    return shape_error("input must be [N, C, d1..d3] (rank 3-5), got " + x.dims.to_string());
  if (!is_floating(x.dtype) && p.mode != ResizeMode::kNearest &&
      p.mode != ResizeMode::kNearestExact)
    return type_error("linear/cubic resize needs a float input");
  if (p.mode == ResizeMode::kCubic && spatial != 2)
    return shape_error("cubic resize needs 2 spatial dims");
  bool sizes_tensor = in.size() > 1 && in[1].present();
  auto ns = static_cast<size_t>(spatial);
  if (!sizes_tensor && p.sizes.size() != ns && p.scales.size() != ns)
    return shape_error("need " + s(spatial) + " output sizes or scales");
  if (!p.scales.empty() && p.scales.size() != ns)
    return shape_error("scales must have " + s(spatial) + " entries");
  if (sizes_tensor) {
    const TensorType& st = *in[1].type;
    if (st.dims.rank() != 1 || st.dims[0] != spatial || !is_integer(st.dtype))
      return shape_error("sizes tensor must be int [" + s(spatial) + "], got " +
                         st.dims.to_string());
  }
  Dims o;
  o.push_back(x.dims[0]);
  o.push_back(x.dims[1]);
  for (size_t i = 0; i < ns; ++i) {
    int64_t d = x.dims[static_cast<int>(i) + 2];
    int64_t od;
    if (sizes_tensor) {
      od = in[1].value ? (*in[1].value)[i] : kDynamic;
      if (od == kUnknownValue) od = kDynamic;
    } else if (p.sizes.size() == ns) {
      od = p.sizes[i];
    } else {
      if (!(p.scales[i] > 0)) return shape_error("scales must be > 0");
      od =
          d < 0 ? kDynamic : static_cast<int64_t>(std::floor(static_cast<double>(d) * p.scales[i]));
    }
    if (od == 0 || od < kDynamic) return shape_error("output size " + s(od) + " must be >= 1");
    o.push_back(od);
  }
  out.types = {TensorType{x.dtype, o}};
  return {};
}

Status infer_pad(const Layer& layer, std::span<const InferInput> in, InferResult& out) {
  const auto& p = std::get<PadParams>(layer.params);
  const TensorType& x = *in[0].type;
  int r = x.dims.rank();
  if (p.pads_begin.size() != static_cast<size_t>(r) || p.pads_end.size() != static_cast<size_t>(r))
    return shape_error("pads must have one begin and one end entry per dim (" + s(r) + ")");
  Dims o;
  for (int i = 0; i < r; ++i) {
    int64_t b = p.pads_begin[static_cast<size_t>(i)], e = p.pads_end[static_cast<size_t>(i)];
    int64_t d = x.dims[i];
    if (p.mode != PadMode::kConstant && (b < 0 || e < 0))
      return shape_error("negative pads are only allowed in constant mode");
    if (d >= 0 && p.mode == PadMode::kReflect && (b >= d || e >= d) && (b > 0 || e > 0)) {
      return shape_error("reflect pad (" + s(b) + ", " + s(e) + ") must be smaller than dim " +
                         s(i) + " of size " + s(d));
    }
    if (d >= 0 && p.mode == PadMode::kCircular && (b > d || e > d))
      return shape_error("circular pad larger than dim " + s(i));
    if (d >= 0 && p.mode == PadMode::kReplicate && d == 0 && (b > 0 || e > 0))
      return shape_error("replicate pad of an empty dim " + s(i));
    int64_t od = d < 0 ? kDynamic : sat_add(sat_add(d, b), e);
    if (d >= 0 && od < 0)
      return shape_error("negative pads remove more than dim " + s(i) + " holds");
    o.push_back(od);
  }
  out.types = {TensorType{x.dtype, o}};
  return {};
}

Status infer_grid_sample(const Layer&, std::span<const InferInput> in, InferResult& out) {
  const TensorType& x = *in[0].type;
  const TensorType& grid = *in[1].type;
  if (x.dims.rank() != 4)
    return shape_error("input must be [N, C, H, W], got " + x.dims.to_string());
  if (grid.dims.rank() != 4 || (grid.dims[3] >= 0 && grid.dims[3] != 2))
    return shape_error("grid must be [N, Ho, Wo, 2], got " + grid.dims.to_string());
  if (!is_floating(x.dtype) || grid.dtype != x.dtype)
    return type_error("grid sample needs a float input and a grid of the same dtype");
  int64_t n = x.dims[0], gn = grid.dims[0];
  if (n >= 0 && gn >= 0 && n != gn)
    return shape_error("input batch " + s(n) + " differs from grid batch " + s(gn));
  Dims o;
  o.push_back(n >= 0 ? n : gn);
  o.push_back(x.dims[1]);
  o.push_back(grid.dims[1]);
  o.push_back(grid.dims[2]);
  out.types = {TensorType{x.dtype, o}};
  return {};
}

}  // namespace kiln::ir
