// Inference for convolution, matmul, linear and attention.
#include <string>

#include "ir/dim_math.h"
#include "ir/infer_fns.h"

namespace kiln::ir {
namespace {

Status same_float_dtype(const TensorType& a, const TensorType& b, const char* what) {
  if (a.dtype != b.dtype) {
    return type_error(std::string(what) + " dtype " + std::string(dtype_name(b.dtype)) +
                      " differs from input dtype " + std::string(dtype_name(a.dtype)));
  }
  return {};
}

}  // namespace

Status infer_convolution(const Layer& layer, std::span<const InferInput> in, InferResult& out) {
  const auto& p = std::get<ConvolutionParams>(layer.params);
  const TensorType& x = *in[0].type;
  const TensorType& w = *in[1].type;
  int rank = x.dims.rank();
  int spatial = rank - 2;
  if (spatial < 1 || spatial > 3)
    return shape_error("input must be [N, C, d1..d3] (rank 3-5), got " + x.dims.to_string());
  if (w.dims.rank() != rank)
    return shape_error("weight rank " + s(w.dims.rank()) + " != input rank " + s(rank));
  if (p.channels_last && p.transposed)
    return shape_error("channels_last transposed convolution is not supported");
  // Positions of the channel and spatial dims in x (and of Cin/groups and the kernel dims in w).
  const bool cl = p.channels_last;
  auto sp = [&](size_t i) { return static_cast<int>(i) + (cl ? 1 : 2); };
  const int cdim = cl ? rank - 1 : 1;
  auto n = static_cast<size_t>(spatial);
  if (p.strides.size() != n || p.pads_begin.size() != n || p.pads_end.size() != n ||
      p.dilations.size() != n || (p.transposed && p.output_padding.size() != n)) {
    return shape_error("strides/pads/dilations must each have " + s(spatial) + " entries");
  }
  if (!is_floating(x.dtype)) return type_error("convolution needs a float input");
  KILN_RETURN_IF_ERROR(same_float_dtype(x, w, "weight"));
  if (p.groups < 1) return shape_error("groups must be >= 1");
  for (size_t i = 0; i < n; ++i) {
    if (p.strides[i] < 1 || p.dilations[i] < 1)
      return shape_error("strides and dilations must be >= 1");
    if (p.pads_begin[i] < 0 || p.pads_end[i] < 0) return shape_error("pads must be >= 0");
  }
  int64_t cin = x.dims[cdim];
  int64_t cout;
  if (!p.transposed) {
    int64_t per_group = w.dims[cdim];
    if (known_and_differ(cin, sat_mul(per_group, p.groups))) {
      return shape_error("input has " + s(cin) + " channels but weight " + w.dims.to_string() +
                         " with groups=" + s(p.groups) + " expects " +
                         s(sat_mul(per_group, p.groups)));
    }
    cout = w.dims[0];
    if (cout >= 0 && cout % p.groups != 0)
      return shape_error("output channels " + s(cout) + " not divisible by groups " + s(p.groups));
  } else {
    if (known_and_differ(cin, w.dims[0])) {
      return shape_error("input has " + s(cin) + " channels but transposed weight " +
                         w.dims.to_string() + " expects " + s(w.dims[0]));
    }
    cout = w.dims[1] < 0 ? kDynamic : sat_mul(w.dims[1], p.groups);
    if (cin >= 0 && cin % p.groups != 0)
      return shape_error("input channels " + s(cin) + " not divisible by groups " + s(p.groups));
  }
  if (in.size() > 2 && in[2].present()) {
    const TensorType& b = *in[2].type;
    KILN_RETURN_IF_ERROR(same_float_dtype(x, b, "bias"));
    if (b.dims.rank() != 1 || known_and_differ(b.dims[0], cout))
      return shape_error("bias must be [" + s(cout) + "], got " + b.dims.to_string());
  }
  Dims o = x.dims;
  o[cdim] = cout;
  for (size_t i = 0; i < n; ++i) {
    int64_t d = x.dims[sp(i)];
    int64_t k = w.dims[sp(i)];
    if (d < 0 || k < 0) {
      o[sp(i)] = kDynamic;
      continue;
    }
    int64_t eff = sat_add(sat_mul(p.dilations[i], k - 1), 1);
    int64_t od;
    if (!p.transposed) {
      int64_t padded = sat_add(sat_add(d, p.pads_begin[i]), p.pads_end[i]);
      if (padded < eff) {
        return shape_error("spatial dim " + s(static_cast<int64_t>(i)) + " of size " + s(d) +
                           " (padded " + s(padded) + ") is smaller than the kernel extent " +
                           s(eff));
      }
      od = (padded - eff) / p.strides[i] + 1;
    } else {
      od = sat_add(
          sat_add(sat_sub(sat_sub(sat_mul(d - 1, p.strides[i]), p.pads_begin[i]), p.pads_end[i]),
                  eff),
          p.output_padding[i]);
      if (od < 1) return shape_error("transposed convolution output dim " + s(od) + " < 1");
    }
    o[sp(i)] = od;
  }
  out.types = {TensorType{x.dtype, o}};
  return {};
}

Status infer_matmul(const Layer& layer, std::span<const InferInput> in, InferResult& out) {
  const auto& p = std::get<MatMulParams>(layer.params);
  const TensorType& a = *in[0].type;
  const TensorType& b = *in[1].type;
  if (a.dtype != b.dtype) {
    return type_error("operand dtypes differ: " + std::string(dtype_name(a.dtype)) + " vs " +
                      std::string(dtype_name(b.dtype)));
  }
  if (a.dtype == DataType::kBool) return type_error("matmul on bool");
  if (a.dims.rank() < 1 || b.dims.rank() < 1)
    return shape_error("matmul operands must have rank >= 1");
  // Promote 1-D operands as torch.matmul does.
  Dims ad = a.dims, bd = b.dims;
  bool a_vec = ad.rank() == 1, b_vec = bd.rank() == 1;
  if (a_vec) ad = Dims{1, a.dims[0]};
  if (b_vec) bd = Dims{b.dims[0], 1};
  int ra = ad.rank(), rb = bd.rank();
  int64_t m = (p.transpose_a && !a_vec) ? ad[ra - 1] : ad[ra - 2];
  int64_t ka = (p.transpose_a && !a_vec) ? ad[ra - 2] : ad[ra - 1];
  int64_t kb = (p.transpose_b && !b_vec) ? bd[rb - 1] : bd[rb - 2];
  int64_t nn = (p.transpose_b && !b_vec) ? bd[rb - 2] : bd[rb - 1];
  if (known_and_differ(ka, kb)) {
    return shape_error("inner dims differ: a " + a.dims.to_string() + " has K=" + s(ka) + ", b " +
                       b.dims.to_string() + " has K=" + s(kb));
  }
  Dims batch_a(std::span<const int64_t>(ad.begin(), static_cast<size_t>(ra - 2)));
  Dims batch_b(std::span<const int64_t>(bd.begin(), static_cast<size_t>(rb - 2)));
  auto batch = broadcast_dims(batch_a, batch_b);
  if (!batch) return shape_error("batch dims: " + batch.status().message());
  Dims o = *batch;
  if (!a_vec) o.push_back(m);
  if (!b_vec) o.push_back(nn);
  out.types = {TensorType{a.dtype, o}};
  return {};
}

Status infer_linear(const Layer&, std::span<const InferInput> in, InferResult& out) {
  const TensorType& x = *in[0].type;
  const TensorType& w = *in[1].type;
  if (!is_floating(x.dtype)) return type_error("linear needs a float input");
  KILN_RETURN_IF_ERROR(same_float_dtype(x, w, "weight"));
  if (x.dims.rank() < 1) return shape_error("input must have rank >= 1");
  if (w.dims.rank() != 2) return shape_error("weight must be [N, K], got " + w.dims.to_string());
  int64_t k = x.dims[x.dims.rank() - 1];
  if (known_and_differ(k, w.dims[1])) {
    return shape_error("input " + x.dims.to_string() + " has K=" + s(k) + " but weight " +
                       w.dims.to_string() + " expects K=" + s(w.dims[1]));
  }
  if (in.size() > 2 && in[2].present()) {
    const TensorType& b = *in[2].type;
    KILN_RETURN_IF_ERROR(same_float_dtype(x, b, "bias"));
    if (b.dims.rank() != 1 || known_and_differ(b.dims[0], w.dims[0]))
      return shape_error("bias must be [" + s(w.dims[0]) + "], got " + b.dims.to_string());
  }
  Dims o = x.dims;
  o[o.rank() - 1] = w.dims[0];
  out.types = {TensorType{x.dtype, o}};
  return {};
}

Status infer_attention(const Layer&, std::span<const InferInput> in, InferResult& out) {
  const TensorType& q = *in[0].type;
  const TensorType& k = *in[1].type;
  const TensorType& v = *in[2].type;
  if (!is_floating(q.dtype)) return type_error("attention needs float q/k/v");
  KILN_RETURN_IF_ERROR(same_float_dtype(q, k, "key"));
  KILN_RETURN_IF_ERROR(same_float_dtype(q, v, "value"));
  int r = q.dims.rank();
  if (r < 2 || k.dims.rank() != r || v.dims.rank() != r)
    return shape_error("q, k, v must have the same rank >= 2");
  if (known_and_differ(q.dims[r - 1], k.dims[r - 1])) {
    return shape_error("query head dim " + s(q.dims[r - 1]) + " != key head dim " +
                       s(k.dims[r - 1]));
  }
  if (known_and_differ(k.dims[r - 2], v.dims[r - 2])) {
    return shape_error("key length " + s(k.dims[r - 2]) + " != value length " + s(v.dims[r - 2]));
  }
  Dims bq(std::span<const int64_t>(q.dims.begin(), static_cast<size_t>(r - 2)));
  Dims bk(std::span<const int64_t>(k.dims.begin(), static_cast<size_t>(r - 2)));
  Dims bv(std::span<const int64_t>(v.dims.begin(), static_cast<size_t>(r - 2)));
  auto b1 = broadcast_dims(bq, bk);
  if (!b1) return shape_error("q/k batch dims: " + b1.status().message());
  auto b2 = broadcast_dims(*b1, bv);
  if (!b2) return shape_error("q/v batch dims: " + b2.status().message());
  if (in.size() > 3 && in[3].present()) {
    const TensorType& m = *in[3].type;
    if (m.dtype != DataType::kBool && m.dtype != q.dtype) {
      return type_error("mask must be bool or " + std::string(dtype_name(q.dtype)) + ", got " +
                        std::string(dtype_name(m.dtype)));
    }
    Dims scores = *b2;
    scores.push_back(q.dims[r - 2]);
    scores.push_back(k.dims[r - 2]);
    if (m.dims.rank() > scores.rank())
      return shape_error("mask rank " + s(m.dims.rank()) + " exceeds scores rank " +
                         s(scores.rank()));
    auto mb = broadcast_dims(scores, m.dims);
    if (!mb || *mb != scores) {
      if (mb.ok() && !(mb->is_static() && scores.is_static())) {
        // dynamic dims: checked again at run time
      } else {
        return shape_error("mask " + m.dims.to_string() + " does not broadcast to scores " +
                           scores.to_string());
      }
    }
  }
  Dims o = *b2;
  o.push_back(q.dims[r - 2]);
  o.push_back(v.dims[r - 1]);
  out.types = {TensorType{q.dtype, o}};
  return {};
}

}  // namespace kiln::ir
