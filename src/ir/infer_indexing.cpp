// Inference for gather, gather_elements, scatter and kv_cache_write.
#include <string>

#include "ir/infer_fns.h"

namespace kiln::ir {
namespace {

Status check_indices(const TensorType& t) {
  if (t.dtype != DataType::kInt32 && t.dtype != DataType::kInt64)
    return type_error("indices must be int32/int64, got " + std::string(dtype_name(t.dtype)));
  return {};
}

}  // namespace

Status infer_gather(const Layer& layer, std::span<const InferInput> in, InferResult& out) {
  const TensorType& data = *in[0].type;
  const TensorType& idx = *in[1].type;
  KILN_RETURN_IF_ERROR(check_indices(idx));
  if (data.dims.rank() < 1) return shape_error("data must have rank >= 1");
  KILN_ASSIGN_OR_RETURN(
      auto ax, normalize_axis(std::get<GatherParams>(layer.params).axis, data.dims.rank(), "axis"));
  Dims o;
  for (int i = 0; i < ax; ++i) o.push_back(data.dims[i]);
  for (int64_t d : idx.dims)
    if (!o.push_back(d)) return shape_error("output rank exceeds " + s(kMaxRank));
  for (int i = ax + 1; i < data.dims.rank(); ++i)
    if (!o.push_back(data.dims[i])) return shape_error("output rank exceeds " + s(kMaxRank));
  out.types = {TensorType{data.dtype, o}};
  return {};
}

void value_gather(const Layer&, std::span<const InferInput> in, InferResult& out) {
  if (!in[0].value || !in[1].value || in[0].type->dims.rank() != 1) return;
  const ShapeValue& data = *in[0].value;
  auto n = static_cast<int64_t>(data.size());
  ShapeValue r;
  for (int64_t i : *in[1].value) {
    if (i == kUnknownValue) {
      r.push_back(kUnknownValue);
      continue;
    }
    int64_t j = i < 0 ? i + n : i;
    if (j < 0 || j >= n) return;  // the kernel reports the bad index
    r.push_back(data[static_cast<size_t>(j)]);
  }
  out.values[0] = std::move(r);
}

Status infer_gather_elements(const Layer& layer, std::span<const InferInput> in, InferResult& out) {
  const TensorType& data = *in[0].type;
  const TensorType& idx = *in[1].type;
  KILN_RETURN_IF_ERROR(check_indices(idx));
  if (idx.dims.rank() != data.dims.rank())
    return shape_error("indices rank " + s(idx.dims.rank()) + " != data rank " +
                       s(data.dims.rank()));
  KILN_ASSIGN_OR_RETURN(auto ax, normalize_axis(std::get<GatherElementsParams>(layer.params).axis,
                                                std::max(data.dims.rank(), 1), "axis"));
  for (int i = 0; i < data.dims.rank(); ++i) {
    if (i != ax && idx.dims[i] >= 0 && data.dims[i] >= 0 && idx.dims[i] > data.dims[i])
      return shape_error("indices dim " + s(i) + " (" + s(idx.dims[i]) + ") exceeds data dim (" +
                         s(data.dims[i]) + ")");
  }
  out.types = {TensorType{data.dtype, idx.dims}};
  return {};
}

Status infer_scatter(const Layer& layer, std::span<const InferInput> in, InferResult& out) {
  const auto& p = std::get<ScatterParams>(layer.params);
  const TensorType& data = *in[0].type;
  const TensorType& idx = *in[1].type;
  const TensorType& upd = *in[2].type;
  KILN_RETURN_IF_ERROR(check_indices(idx));
  if (upd.dtype != data.dtype) return type_error("updates dtype differs from data dtype");
  int r = data.dims.rank();
  if (idx.dims.rank() != r || upd.dims.rank() != r)
    return shape_error("data, indices and updates must have the same rank");
  KILN_ASSIGN_OR_RETURN(auto ax, normalize_axis(p.axis, std::max(r, 1), "axis"));
  for (int i = 0; i < r; ++i) {
    if (idx.dims[i] >= 0 && upd.dims[i] >= 0 && idx.dims[i] > upd.dims[i])
      return shape_error("indices dim " + s(i) + " exceeds updates dim");
    if (i != ax && idx.dims[i] >= 0 && data.dims[i] >= 0 && idx.dims[i] > data.dims[i])
      return shape_error("indices dim " + s(i) + " exceeds data dim");
  }
  if (data.dtype == DataType::kBool && p.reduce != ScatterReduce::kNone)
    return type_error("scatter reduce on bool");
  out.types = {data};
  return {};
}

Status infer_kv_cache_write(const Layer& layer, std::span<const InferInput> in, InferResult& out) {
  const TensorType& cache = *in[0].type;
  const TensorType& pos = *in[1].type;
  const TensorType& upd = *in[2].type;
  KILN_RETURN_IF_ERROR(check_indices(pos));
  if (upd.dtype != cache.dtype)
    return type_error("update is " + std::string(dtype_name(upd.dtype)) + " but the cache is " +
                      std::string(dtype_name(cache.dtype)));
  const int r = cache.dims.rank();
  if (r < 1 || upd.dims.rank() != r)
    return shape_error("cache and update must have the same rank >= 1");
  if (pos.dims.rank() != 1) return shape_error("positions must be 1-D");
  KILN_ASSIGN_OR_RETURN(auto ax,
                        normalize_axis(std::get<KvCacheWriteParams>(layer.params).axis, r, "axis"));
  for (int i = 0; i < r; ++i) {
    if (i == ax || upd.dims[i] < 0 || cache.dims[i] < 0) continue;
    if (upd.dims[i] != cache.dims[i])
      return shape_error("update dim " + s(i) + " (" + s(upd.dims[i]) +
                         ") differs from the cache's (" + s(cache.dims[i]) + ")");
  }
  if (pos.dims[0] >= 0 && upd.dims[ax] >= 0 && pos.dims[0] != upd.dims[ax])
    return shape_error(s(pos.dims[0]) + " positions for " + s(upd.dims[ax]) + " updated rows");
  if (cache.dims[ax] >= 0 && upd.dims[ax] > cache.dims[ax])
    return shape_error("update has " + s(upd.dims[ax]) + " rows along axis " + s(ax) +
                       "; the cache holds " + s(cache.dims[ax]));
  out.types = {cache};
  return {};
}

Status infer_nonzero(const Layer&, std::span<const InferInput> in, InferResult& out) {
  const TensorType& x = *in[0].type;
  if (x.dtype == DataType::kFloat8E4M3) return type_error("nonzero of float8");
  // Rows: an upper bound (every element non-zero); the count output says how many are written.
  int64_t v = x.dims.volume();
  out.types = {TensorType{DataType::kInt64, Dims{v, x.dims.rank()}},
               TensorType{DataType::kInt64, Dims{}}};
  return {};
}

}  // namespace kiln::ir
