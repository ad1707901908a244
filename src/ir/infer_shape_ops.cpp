// Inference for shape-manipulating ops: reshape, transpose, concat, split, slice, expand, squeeze,
// unsqueeze, flatten, shape, fill, arange (and constant, typed by its weight).
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "ir/dim_math.h"
#include "ir/infer_fns.h"

namespace kiln::ir {
namespace {

int64_t value_or_dynamic(int64_t v) { return v == kUnknownValue ? kDynamic : v; }

// Reads a 1-D int shape operand: its length from the type, entries from the tracked value
// (kUnknownValue where not known).
Expected<ShapeValue> shape_operand(const InferInput& in, const char* what) {
  const TensorType& t = *in.type;
  if (!is_integer(t.dtype)) return type_error(std::string(what) + " tensor must be int32/int64");
  if (t.dims.rank() > 1) return shape_error(std::string(what) + " tensor must be 1-D");
  int64_t n = t.dims.rank() == 0 ? 1 : t.dims[0];
  if (n < 0) return shape_error(std::string(what) + " tensor must have a static length");
  if (n > kMaxRank && std::string(what) != "starts" && std::string(what) != "ends")
    return shape_error(std::string(what) + " tensor has " + s(n) + " entries; max rank is " +
                       s(kMaxRank));
  if (in.value) return *in.value;
  return ShapeValue(static_cast<size_t>(n), kUnknownValue);
}

// Scalar operand (rank 0 or 1 element) of arange.
Expected<int64_t> scalar_operand(const InferInput& in, const char* what) {
  const TensorType& t = *in.type;
  if (t.dims.volume() != 1)
    return shape_error(std::string(what) + " must hold exactly one element");
  if (!in.value) return kUnknownValue;
  return (*in.value)[0];
}

}  // namespace

SliceRange slice_range(int64_t n, int64_t start, int64_t end, int64_t step) {
  SliceRange r;
  // Written so no intermediate overflows for any int64 start/end/step (n >= 0).
  if (step > 0) {
    int64_t b = start < 0 ? std::max<int64_t>(0, start + n) : std::min(start, n);
    int64_t e = end < 0 ? std::max<int64_t>(0, end + n) : std::min(end, n);
    r.start = b;
    r.count = e > b ? (e - b - 1) / step + 1 : 0;
  } else {
    int64_t b = start < 0 ? std::max<int64_t>(-1, start + n) : std::min(start, n - 1);
    int64_t e = end < 0 ? std::max<int64_t>(-1, end + n) : std::min(end, n - 1);
    r.start = b;
    if (b <= e) {
      r.count = 0;
    } else if (step == INT64_MIN) {
      r.count = 1;
    } else {
      r.count = (b - e - 1) / (-step) + 1;
    }
  }
  return r;
}

Status infer_constant(const Layer&, std::span<const InferInput>, InferResult&) {
  return {StatusCode::kInternal, "constant layers are typed by their weight"};
}

Status infer_reshape(const Layer& layer, std::span<const InferInput> in, InferResult& out) {
  const TensorType& x = *in[0].type;
  ShapeValue shape;
  if (in.size() > 1 && in[1].present()) {
    KILN_ASSIGN_OR_RETURN(auto v, shape_operand(in[1], "shape"));
    shape = v;
  } else {
    shape = std::get<ReshapeParams>(layer.params).shape;
  }
  if (shape.size() > static_cast<size_t>(kMaxRank))
    return shape_error("target rank exceeds " + s(kMaxRank));
  int infer_at = -1;
  bool unknown = false;
  int64_t known_product = 1;
  Dims o;
  for (size_t i = 0; i < shape.size(); ++i) {
    int64_t d = shape[i];
    if (d == -1) {
      if (infer_at >= 0) return shape_error("more than one -1 in target shape");
      infer_at = static_cast<int>(i);
    } else if (d == kUnknownValue) {
      unknown = true;
    } else if (d < 0) {
      return shape_error("target dim " + s(d) + " is negative");
    } else {
      known_product = sat_mul(known_product, d);
    }
    o.push_back(d == kUnknownValue ? kDynamic : d);
  }
  int64_t volume = x.dims.volume();
  if (infer_at >= 0) {
    if (volume >= 0 && !unknown) {
      if (known_product == 0 || volume % known_product != 0) {
        return shape_error("cannot reshape " + x.dims.to_string() + " (" + s(volume) +
                           " elements) to " + o.to_string());
      }
      o[infer_at] = volume / known_product;
    } else {
      o[infer_at] = kDynamic;
    }
  } else if (volume >= 0 && !unknown && volume != known_product) {
    return shape_error("cannot reshape " + x.dims.to_string() + " (" + s(volume) +
                       " elements) to " + o.to_string() + " (" + s(known_product) + " elements)");
  }
  out.types = {TensorType{x.dtype, o}};
  return {};
}

Status infer_transpose(const Layer& layer, std::span<const InferInput> in, InferResult& out) {
  const auto& perm = std::get<TransposeParams>(layer.params).perm;
  const TensorType& x = *in[0].type;
  int r = x.dims.rank();
  if (perm.size() != static_cast<size_t>(r))
    return shape_error("perm has " + s(static_cast<int64_t>(perm.size())) + " entries for rank " +
                       s(r));
  std::vector<bool> seen(static_cast<size_t>(r), false);
  Dims o;
  for (int64_t p : perm) {
    if (p < 0 || p >= r || seen[static_cast<size_t>(p)])
      return shape_error("perm is not a permutation of 0.." + s(r - 1));
    seen[static_cast<size_t>(p)] = true;
    o.push_back(x.dims[static_cast<int>(p)]);
  }
  out.types = {TensorType{x.dtype, o}};
  return {};
}

Status infer_concat(const Layer& layer, std::span<const InferInput> in, InferResult& out) {
  const TensorType& x0 = *in[0].type;
  int r = x0.dims.rank();
  KILN_ASSIGN_OR_RETURN(auto ax,
                        normalize_axis(std::get<ConcatParams>(layer.params).axis, r, "axis"));
  Dims o = x0.dims;
  for (size_t i = 1; i < in.size(); ++i) {
    if (!in[i].present()) return shape_error("input " + s(static_cast<int64_t>(i)) + " is missing");
    const TensorType& t = *in[i].type;
    if (t.dtype != x0.dtype)
      return type_error("input " + s(static_cast<int64_t>(i)) + " dtype differs");
    if (t.dims.rank() != r)
      return shape_error("input " + s(static_cast<int64_t>(i)) + " rank differs");
    for (int d = 0; d < r; ++d) {
      if (d == ax) {
        o[d] = (o[d] < 0 || t.dims[d] < 0) ? kDynamic : sat_add(o[d], t.dims[d]);
      } else if (known_and_differ(o[d], t.dims[d])) {
        return shape_error("input " + s(static_cast<int64_t>(i)) + " " + t.dims.to_string() +
                           " differs from " + x0.dims.to_string() + " outside the concat axis");
      } else if (o[d] < 0) {
        o[d] = t.dims[d];
      }
    }
  }
  out.types = {TensorType{x0.dtype, o}};
  return {};
}

void value_concat(const Layer&, std::span<const InferInput> in, InferResult& out) {
  ShapeValue r;
  for (const InferInput& i : in) {
    if (!i.value) return;
    r.insert(r.end(), i.value->begin(), i.value->end());
  }
  out.values[0] = std::move(r);
}

Status infer_split(const Layer& layer, std::span<const InferInput> in, InferResult& out) {
  const auto& p = std::get<SplitParams>(layer.params);
  const TensorType& x = *in[0].type;
  KILN_ASSIGN_OR_RETURN(auto ax, normalize_axis(p.axis, x.dims.rank(), "axis"));
  if (p.sizes.empty()) return shape_error("split needs at least one size");
  int rest = -1;
  int64_t sum = 0;
  for (size_t i = 0; i < p.sizes.size(); ++i) {
    if (p.sizes[i] == -1) {
      if (rest >= 0) return shape_error("more than one -1 size");
      rest = static_cast<int>(i);
    } else if (p.sizes[i] < 0) {
      return shape_error("split size " + s(p.sizes[i]) + " is negative");
    } else {
      sum = sat_add(sum, p.sizes[i]);
    }
  }
  int64_t d = x.dims[ax];
  if (d >= 0 && (rest < 0 ? sum != d : sum > d))
    return shape_error("split sizes sum to " + s(sum) + " but the axis has " + s(d));
  for (size_t i = 0; i < p.sizes.size(); ++i) {
    Dims o = x.dims;
    o[ax] = static_cast<int>(i) == rest ? (d < 0 ? kDynamic : d - sum) : p.sizes[i];
    out.types.push_back(TensorType{x.dtype, o});
  }
  return {};
}

void value_split(const Layer&, std::span<const InferInput> in, InferResult& out) {
  if (!in[0].value || in[0].type->dims.rank() != 1) return;
  size_t pos = 0;
  for (size_t i = 0; i < out.types.size(); ++i) {
    auto n = static_cast<size_t>(out.types[i].dims.volume());
    if (pos + n > in[0].value->size()) return;
    out.values[i] = ShapeValue(in[0].value->begin() + static_cast<long>(pos),
                               in[0].value->begin() + static_cast<long>(pos + n));
    pos += n;
  }
}

namespace {
struct SliceSpec {
  std::vector<int> axes;
  ShapeValue starts, ends, steps;
  bool starts_from_tensor = false, ends_from_tensor = false;  // only then may entries be unknown
};

Expected<SliceSpec> slice_spec(const Layer& layer, std::span<const InferInput> in) {
  const auto& p = std::get<SliceParams>(layer.params);
  const TensorType& x = *in[0].type;
  SliceSpec sp;
  size_t n = p.axes.size();
  sp.starts = p.starts;
  sp.ends = p.ends;
  sp.steps = p.steps.empty() ? ShapeValue(n, 1) : p.steps;
  if (in.size() > 1 && in[1].present()) {
    KILN_ASSIGN_OR_RETURN(auto v, shape_operand(in[1], "starts"));
    sp.starts = v;
    sp.starts_from_tensor = true;
  }
  if (in.size() > 2 && in[2].present()) {
    KILN_ASSIGN_OR_RETURN(auto v, shape_operand(in[2], "ends"));
    sp.ends = v;
    sp.ends_from_tensor = true;
  }
  if (sp.starts.size() != n || sp.ends.size() != n || sp.steps.size() != n)
    return shape_error("axes, starts, ends and steps must have the same length");
  std::vector<bool> seen(static_cast<size_t>(x.dims.rank()), false);
  for (size_t i = 0; i < n; ++i) {
    KILN_ASSIGN_OR_RETURN(auto ax, normalize_axis(p.axes[i], x.dims.rank(), "axis"));
    if (seen[static_cast<size_t>(ax)]) return shape_error("axis " + s(p.axes[i]) + " sliced twice");
    seen[static_cast<size_t>(ax)] = true;
    if (sp.steps[i] == 0) return shape_error("slice step must not be 0");
    sp.axes.push_back(ax);
  }
  return sp;
}
}  // namespace

Status infer_slice(const Layer& layer, std::span<const InferInput> in, InferResult& out) {
  KILN_ASSIGN_OR_RETURN(auto sp, slice_spec(layer, in));
  const TensorType& x = *in[0].type;
  Dims o = x.dims;
  for (size_t i = 0; i < sp.axes.size(); ++i) {
    int a = sp.axes[i];
    int64_t d = x.dims[a];
    bool unknown = (sp.starts_from_tensor && sp.starts[i] == kUnknownValue) ||
                   (sp.ends_from_tensor && sp.ends[i] == kUnknownValue);
    if (d < 0 || unknown) {
      o[a] = kDynamic;
    } else {
      o[a] = slice_range(d, sp.starts[i], sp.ends[i], sp.steps[i]).count;
    }
  }
  out.types = {TensorType{x.dtype, o}};
  return {};
}

void value_slice(const Layer& layer, std::span<const InferInput> in, InferResult& out) {
  if (!in[0].value || in[0].type->dims.rank() != 1) return;
  auto sp = slice_spec(layer, in);
  if (!sp || sp->axes.size() != 1) return;
  auto n = static_cast<int64_t>(in[0].value->size());
  if ((sp->starts_from_tensor && sp->starts[0] == kUnknownValue) ||
      (sp->ends_from_tensor && sp->ends[0] == kUnknownValue))
    return;
  SliceRange r = slice_range(n, sp->starts[0], sp->ends[0], sp->steps[0]);
  ShapeValue v;
  for (int64_t k = 0; k < r.count; ++k)
    v.push_back((*in[0].value)[static_cast<size_t>(r.start + k * sp->steps[0])]);
  out.values[0] = std::move(v);
}

Status infer_expand(const Layer& layer, std::span<const InferInput> in, InferResult& out) {
  const TensorType& x = *in[0].type;
  ShapeValue shape;
  if (in.size() > 1 && in[1].present()) {
    KILN_ASSIGN_OR_RETURN(auto v, shape_operand(in[1], "shape"));
    shape = v;
  } else {
    shape = std::get<ExpandParams>(layer.params).shape;
  }
  int r = static_cast<int>(shape.size());
  if (r < x.dims.rank())
    return shape_error("target rank " + s(r) + " is smaller than input rank " + s(x.dims.rank()));
  if (r > kMaxRank) return shape_error("target rank exceeds " + s(kMaxRank));
  Dims o;
  int lead = r - x.dims.rank();
  for (int i = 0; i < r; ++i) {
    int64_t want = shape[static_cast<size_t>(i)];
    int64_t have = i >= lead ? x.dims[i - lead] : 1;
    if (want == -1) {
      if (i < lead) return shape_error("-1 is not allowed for a new leading dim");
      o.push_back(have);
    } else if (want == kUnknownValue) {
      o.push_back(have >= 0 && have != 1 ? have : kDynamic);
    } else if (want < 0) {
      return shape_error("target dim " + s(want) + " is negative");
    } else {
      if (have >= 0 && have != 1 && have != want) {
        return shape_error("cannot expand " + x.dims.to_string() + " to target dim " + s(i) +
                           " = " + s(want) + " (input dim is " + s(have) + ")");
      }
      o.push_back(want);
    }
  }
  out.types = {TensorType{x.dtype, o}};
  return {};
}

void value_expand(const Layer&, std::span<const InferInput> in, InferResult& out) {
  if (!in[0].value) return;
  auto n = static_cast<size_t>(out.types[0].dims.volume());
  if (in[0].value->size() == n) {
    out.values[0] = *in[0].value;
  } else if (in[0].value->size() == 1) {
    out.values[0] = ShapeValue(n, (*in[0].value)[0]);
  }
}

Status infer_squeeze(const Layer& layer, std::span<const InferInput> in, InferResult& out) {
  const auto& axes = std::get<SqueezeParams>(layer.params).axes;
  const TensorType& x = *in[0].type;
  int r = x.dims.rank();
  std::vector<bool> drop(static_cast<size_t>(r), false);
  if (axes.empty()) {
    for (int i = 0; i < r; ++i) drop[static_cast<size_t>(i)] = x.dims[i] == 1;
  }
  for (int64_t a : axes) {
    KILN_ASSIGN_OR_RETURN(auto ax, normalize_axis(a, r, "axis"));
    int64_t d = x.dims[ax];
    if (d != 1 && d != kDynamic)
      return shape_error("cannot squeeze axis " + s(a) + " of size " + s(d) + " in " +
                         x.dims.to_string());
    drop[static_cast<size_t>(ax)] = true;
  }
  Dims o;
  for (int i = 0; i < r; ++i)
    if (!drop[static_cast<size_t>(i)]) o.push_back(x.dims[i]);
  out.types = {TensorType{x.dtype, o}};
  return {};
}

Status infer_unsqueeze(const Layer& layer, std::span<const InferInput> in, InferResult& out) {
  const auto& axes = std::get<UnsqueezeParams>(layer.params).axes;
  const TensorType& x = *in[0].type;
  int r = x.dims.rank() + static_cast<int>(axes.size());
  if (r > kMaxRank) return shape_error("output rank exceeds " + s(kMaxRank));
  std::vector<bool> ins(static_cast<size_t>(r), false);
  for (int64_t a : axes) {
    KILN_ASSIGN_OR_RETURN(auto ax, normalize_axis(a, r, "axis"));
    if (ins[static_cast<size_t>(ax)]) return shape_error("axis " + s(a) + " listed twice");
    ins[static_cast<size_t>(ax)] = true;
  }
  Dims o;
  int j = 0;
  for (int i = 0; i < r; ++i) o.push_back(ins[static_cast<size_t>(i)] ? 1 : x.dims[j++]);
  out.types = {TensorType{x.dtype, o}};
  return {};
}

Status infer_flatten(const Layer& layer, std::span<const InferInput> in, InferResult& out) {
  const auto& p = std::get<FlattenParams>(layer.params);
  const TensorType& x = *in[0].type;
  int r = x.dims.rank();
  if (r == 0) {
    out.types = {TensorType{x.dtype, Dims{1}}};
    return {};
  }
  KILN_ASSIGN_OR_RETURN(auto a, normalize_axis(p.start_axis, r, "start_axis"));
  KILN_ASSIGN_OR_RETURN(auto b, normalize_axis(p.end_axis, r, "end_axis"));
  if (a > b) return shape_error("start_axis is after end_axis");
  Dims o;
  for (int i = 0; i < a; ++i) o.push_back(x.dims[i]);
  o.push_back(dim_product(x.dims, a, b + 1));
  for (int i = b + 1; i < r; ++i) o.push_back(x.dims[i]);
  out.types = {TensorType{x.dtype, o}};
  return {};
}

Status infer_shape(const Layer&, std::span<const InferInput> in, InferResult& out) {
  out.types = {TensorType{DataType::kInt64, Dims{in[0].type->dims.rank()}}};
  return {};
}

void value_shape(const Layer&, std::span<const InferInput> in, InferResult& out) {
  ShapeValue v;
  for (int64_t d : in[0].type->dims) v.push_back(d < 0 ? kUnknownValue : d);
  out.values[0] = std::move(v);
}

Status infer_fill(const Layer& layer, std::span<const InferInput> in, InferResult& out) {
  const auto& p = std::get<FillParams>(layer.params);
  ShapeValue shape = p.shape;
  if (!in.empty() && in[0].present()) {
    KILN_ASSIGN_OR_RETURN(auto v, shape_operand(in[0], "shape"));
    shape = v;
  }
  if (shape.size() > static_cast<size_t>(kMaxRank))
    return shape_error("fill rank exceeds " + s(kMaxRank));
  if ((p.mode == FillMode::kUniform || p.mode == FillMode::kNormal) && !is_floating(p.dtype))
    return type_error("random fill needs a float dtype, got " + std::string(dtype_name(p.dtype)));
  if (p.mode == FillMode::kInteger &&
      (!(p.high > p.value) || !(is_floating(p.dtype) || is_integer(p.dtype))))
    return type_error("random integers need low < high and a numeric dtype");
  Dims o;
  for (int64_t d : shape) {
    if (d < 0 && d != kUnknownValue) return shape_error("fill dim " + s(d) + " is negative");
    o.push_back(value_or_dynamic(d));
  }
  out.types = {TensorType{p.dtype, o}};
  return {};
}

void value_fill(const Layer& layer, std::span<const InferInput>, InferResult& out) {
  const auto& p = std::get<FillParams>(layer.params);
  if ((!is_integer(p.dtype) && p.dtype != DataType::kBool) || p.mode != FillMode::kConstant) return;
  out.values[0] =
      ShapeValue(static_cast<size_t>(out.types[0].dims.volume()),
                 p.dtype == DataType::kBool ? (p.value != 0.0) : static_cast<int64_t>(p.value));
}

namespace {
struct ArangeBounds {
  double start, end, step;
  bool known;
};
Expected<ArangeBounds> arange_bounds(const Layer& layer, std::span<const InferInput> in) {
  const auto& p = std::get<ArangeParams>(layer.params);
  ArangeBounds b{p.start, p.end, p.step, true};
  double* fields[3] = {&b.start, &b.end, &b.step};
  const char* names[3] = {"start", "end", "step"};
  for (size_t i = 0; i < 3 && i < in.size(); ++i) {
    if (!in[i].present()) continue;
    KILN_ASSIGN_OR_RETURN(auto v, scalar_operand(in[i], names[i]));
    if (v == kUnknownValue) {
      b.known = false;
    } else {
      *fields[i] = static_cast<double>(v);
    }
  }
  return b;
}
}  // namespace

Status infer_arange(const Layer& layer, std::span<const InferInput> in, InferResult& out) {
  KILN_ASSIGN_OR_RETURN(auto b, arange_bounds(layer, in));
  DataType dt = std::get<ArangeParams>(layer.params).dtype;
  if (dt == DataType::kBool) return type_error("arange cannot produce bool");
  int64_t n = kDynamic;
  if (b.known) {
    if (b.step == 0) return shape_error("arange step must not be 0");
    double len = std::ceil((b.end - b.start) / b.step);
    if (!(len >= 0)) len = 0;
    if (len > 1e12) return shape_error("arange would produce " + std::to_string(len) + " elements");
    n = static_cast<int64_t>(len);
  }
  out.types = {TensorType{dt, Dims{n}}};
  return {};
}

void value_arange(const Layer& layer, std::span<const InferInput> in, InferResult& out) {
  auto b = arange_bounds(layer, in);
  if (!b || !b->known) return;
  ShapeValue v;
  for (int64_t i = 0; i < out.types[0].dims.volume(); ++i)
    v.push_back(static_cast<int64_t>(b->start + static_cast<double>(i) * b->step));
  out.values[0] = std::move(v);
}

}  // namespace kiln::ir
