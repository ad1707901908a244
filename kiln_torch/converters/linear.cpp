// Linear algebra: linear, matmul, mm, bmm, addmm, t, einsum (one or two operands, as permutes,
// reductions and one batched matmul).
#include <algorithm>
#include <map>
#include <set>

#include "converters/families.h"

namespace kiln::bridge {
namespace {

Status linear(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  KILN_ASSIGN_OR_RETURN(auto w, ctx.tensor(n, 1));
  KILN_ASSIGN_OR_RETURN(auto b, ctx.optional_tensor(n, 2));
  KILN_ASSIGN_OR_RETURN(auto wc, ctx.cast(w, ctx.dtype(x)));
  kiln::Tensor bias = b;
  if (bias.valid()) {
    KILN_ASSIGN_OR_RETURN(auto bc, ctx.cast(bias, ctx.dtype(x)));
    bias = bc;
  }
  return set_output_tensor(ctx, n, ctx.net.add_linear(x, wc, bias));
}

Status matmul(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto ab, ctx.promoted(n, 0, 1));
  return set_output_tensor(ctx, n, ctx.net.add_matmul(ab.first, ab.second));
}

// addmm(bias, a, b, beta, alpha) = beta * bias + alpha * (a @ b)
Status addmm(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto a, ctx.tensor(n, 1));
  KILN_ASSIGN_OR_RETURN(auto b, ctx.tensor(n, 2));
  KILN_ASSIGN_OR_RETURN(auto c, ctx.tensor(n, 0));
  double beta = 1, alpha = 1;
  if (n.inputs.size() > 3) {
    KILN_ASSIGN_OR_RETURN(auto v, ctx.const_double(n, 3));
    beta = v;
  }
  if (n.inputs.size() > 4) {
    KILN_ASSIGN_OR_RETURN(auto v, ctx.const_double(n, 4));
    alpha = v;
  }
  KILN_ASSIGN_OR_RETURN(auto mm, ctx.net.add_matmul(a, b));
  KILN_ASSIGN_OR_RETURN(auto sa, scale(ctx, n, mm, alpha));
  KILN_ASSIGN_OR_RETURN(auto cc, ctx.cast(c, ctx.dtype(sa)));
  KILN_ASSIGN_OR_RETURN(auto sb, scale(ctx, n, cc, beta));
  return set_output_tensor(ctx, n, ctx.net.add_elementwise(sa, sb, BinaryOp::kAdd));
}

Status t(ConversionCtx& ctx, const Node& n) {
  KILN_ASSIGN_OR_RETURN(auto x, ctx.tensor(n, 0));
  if (ctx.rank(x) < 2) return set_output_tensor(ctx, n, ctx.net.add_identity(x));
  return set_output_tensor(ctx, n, ctx.net.add_transpose(x, {1, 0}));
}

// ---- einsum ----

struct EinsumSpec {
  std::vector<std::string> inputs;  ///< one label string per operand (ellipsis expanded)
  std::string output;
};

/// Parses "ab,bc->ac" (spaces ignored, "..." expanded to fresh labels by operand rank; implicit
/// output = labels seen once, sorted, after the ellipsis labels as torch does).
std::optional<EinsumSpec> parse_einsum(std::string eq, const std::vector<int>& ranks,
                                       std::string* why) {
  eq.erase(std::remove(eq.begin(), eq.end(), ' '), eq.end());
  size_t arrow = eq.find("->");
  std::string lhs = eq.substr(0, arrow);
  std::optional<std::string> rhs;
  if (arrow != std::string::npos) rhs = eq.substr(arrow + 2);
  std::vector<std::string> terms;
  size_t pos = 0;
  while (true) {
    size_t c = lhs.find(',', pos);
    terms.push_back(lhs.substr(pos, c == std::string::npos ? std::string::npos : c - pos));
    if (c == std::string::npos) break;
    pos = c + 1;
  }
  if (terms.size() != ranks.size()) {
    *why = "einsum equation has " + std::to_string(terms.size()) + " operands, got " +
           std::to_string(ranks.size());
    return std::nullopt;
  }
  // Ellipsis labels: '0'.. (never letters), right-aligned across operands.
  int ell = 0;
  EinsumSpec spec;
  for (size_t i = 0; i < terms.size(); ++i) {
    std::string t = terms[i];
    size_t e = t.find("...");
    if (e != std::string::npos) {
      int named = static_cast<int>(t.size()) - 3;
      int n = ranks[i] - named;
      if (n < 0) {
        *why = "einsum operand rank too small";
        return std::nullopt;
      }
      ell = std::max(ell, n);
      std::string dots;
      for (int k = 0; k < n; ++k) dots.push_back(static_cast<char>('0' + (ell - n) + k));
      t = t.substr(0, e) + dots + t.substr(e + 3);
    }
    if (static_cast<int>(t.size()) != ranks[i]) {
      *why = "einsum operand " + std::to_string(i) + " has rank " + std::to_string(ranks[i]) +
             " but " + std::to_string(t.size()) + " labels";
      return std::nullopt;
    }
    std::set<char> seen(t.begin(), t.end());
    if (seen.size() != t.size()) {
      *why = "einsum with a repeated label in one operand (diagonal)";
      return std::nullopt;
    }
    spec.inputs.push_back(t);
  }
  std::string dots;
  for (int k = 0; k < ell; ++k) dots.push_back(static_cast<char>('0' + k));
  if (rhs) {
    std::string o = *rhs;
    size_t e = o.find("...");
    if (e != std::string::npos) o = o.substr(0, e) + dots + o.substr(e + 3);
    spec.output = o;
  } else {
    std::map<char, int> count;
    for (const std::string& t : spec.inputs)
      for (char c : t) count[c]++;
    spec.output = dots;
    for (const auto& [c, k] : count)
      if (k == 1 && !(c >= '0' && c <= '9')) spec.output.push_back(c);
  }
  for (char c : spec.output) {
    bool found = false;
    for (const std::string& t : spec.inputs) found |= t.find(c) != std::string::npos;
    if (!found) {
      *why = std::string("einsum output label '") + c + "' is not in any operand";
      return std::nullopt;
    }
  }
  return spec;
}

/// Sums away the labels of `t` (tensor x) that `keep` does not contain.
Expected<kiln::Tensor> sum_labels(ConversionCtx& ctx, kiln::Tensor x, std::string& t,
                                  const std::string& keep) {
  ReduceParams p;
  p.op = ReduceOp::kSum;
  std::string rest;
  for (size_t i = 0; i < t.size(); ++i) {
    if (keep.find(t[i]) == std::string::npos)
      p.axes.push_back(static_cast<int64_t>(i));
    else
      rest.push_back(t[i]);
  }
  if (p.axes.empty()) return x;
  t = rest;
  return ctx.net.add_reduce(x, p);
}

/// Permutes x (labels t) to the label order `order`.
Expected<kiln::Tensor> permute_to(ConversionCtx& ctx, kiln::Tensor x, const std::string& t,
                                  const std::string& order) {
  std::vector<int64_t> perm;
  bool identity = true;
  for (size_t i = 0; i < order.size(); ++i) {
    auto k = static_cast<int64_t>(t.find(order[i]));
    perm.push_back(k);
    identity &= k == static_cast<int64_t>(i);
  }
  if (identity) return x;
  return ctx.net.add_transpose(x, perm);
}

/// Merges dims [first, first + count) of x into one (count 0: inserts a dim of 1).
Expected<kiln::Tensor> merge(ConversionCtx& ctx, kiln::Tensor x, int64_t first, size_t count) {
  if (count == 1) return x;
  if (count == 0) return ctx.net.add_unsqueeze(x, {first});
  return ctx.net.add_flatten(x, first, first + static_cast<int64_t>(count) - 1);
}

Status einsum(ConversionCtx& ctx, const Node& n) {
  const Arg& eq = ctx.arg(n, 0);
  if (!(eq.is_constant() && eq.ivalue().isString()))
    return ctx.error(n, "equation must be a constant");
  const Arg& list = ctx.arg(n, 1);
  std::vector<kiln::Tensor> ops;
  if (list.is_list()) {
    for (const Arg& a : list.items()) {
      if (a.is_tensor()) {
        ops.push_back(a.tensor());
      } else if (a.is_constant() && a.ivalue().isTensor()) {
        KILN_ASSIGN_OR_RETURN(auto c, ctx.constant_tensor(a.ivalue().toTensor()));
        ops.push_back(c);
      } else {
        return ctx.error(n, "operand is not a tensor");
      }
    }
  } else if (list.is_constant() && list.ivalue().isTensorList()) {
    for (const at::Tensor& t : list.ivalue().toTensorVector()) {
      KILN_ASSIGN_OR_RETURN(auto c, ctx.constant_tensor(t));
      ops.push_back(c);
    }
  } else {
    return ctx.error(n, "operands must be a list");
  }
  if (ops.empty() || ops.size() > 2)
    return ctx.error(n, "einsum with " + std::to_string(ops.size()) + " operands");
  std::vector<int> ranks;
  for (kiln::Tensor t : ops) ranks.push_back(ctx.rank(t));
  std::string why;
  auto spec = parse_einsum(eq.ivalue().toStringRef(), ranks, &why);
  if (!spec) return ctx.error(n, why);
  // torch promotes the operands to a common dtype
  at::ScalarType common = to_torch_dtype(ctx.dtype(ops[0]));
  for (kiln::Tensor t : ops) common = at::promoteTypes(common, to_torch_dtype(ctx.dtype(t)));
  for (kiln::Tensor& t : ops) {
    KILN_ASSIGN_OR_RETURN(auto c, ctx.cast(t, *to_kiln_dtype(common)));
    t = c;
  }
  const std::string& out = spec->output;
  if (ops.size() == 1) {
    std::string t = spec->inputs[0];
    KILN_ASSIGN_OR_RETURN(auto r, sum_labels(ctx, ops[0], t, out));
    KILN_ASSIGN_OR_RETURN(auto p, permute_to(ctx, r, t, out));
    return set_output_tensor(ctx, n,
                             p == ops[0] ? ctx.net.add_identity(p) : Expected<kiln::Tensor>(p));
  }
  std::string ta = spec->inputs[0], tb = spec->inputs[1];
  // Labels only in one operand and not in the output are summed there first.
  KILN_ASSIGN_OR_RETURN(auto a, sum_labels(ctx, ops[0], ta, out + tb));
  KILN_ASSIGN_OR_RETURN(auto b, sum_labels(ctx, ops[1], tb, out + ta));
  std::string batch, ka, kb, contract;
  for (char c : out) {
    bool in_a = ta.find(c) != std::string::npos, in_b = tb.find(c) != std::string::npos;
    if (in_a && in_b)
      batch.push_back(c);
    else if (in_a)
      ka.push_back(c);
    else
      kb.push_back(c);
  }
  for (char c : ta)
    if (tb.find(c) != std::string::npos && out.find(c) == std::string::npos) contract.push_back(c);
  // Static extents of the kept groups (needed to split them again after the matmul).
  Dims da = ctx.dims(a), db = ctx.dims(b);
  KILN_ASSIGN_OR_RETURN(auto pa, permute_to(ctx, a, ta, batch + ka + contract));
  KILN_ASSIGN_OR_RETURN(auto pb, permute_to(ctx, b, tb, batch + contract + kb));
  auto nb = static_cast<int64_t>(batch.size());
  KILN_ASSIGN_OR_RETURN(auto ma, merge(ctx, pa, nb, ka.size()));
  KILN_ASSIGN_OR_RETURN(auto mc, merge(ctx, ma, nb + 1, contract.size()));
  KILN_ASSIGN_OR_RETURN(auto mb, merge(ctx, pb, nb, contract.size()));
  KILN_ASSIGN_OR_RETURN(auto mb2, merge(ctx, mb, nb + 1, kb.size()));
  KILN_ASSIGN_OR_RETURN(auto mm, ctx.net.add_matmul(mc, mb2));  // [batch..., M, N]
  kiln::Tensor y = mm;
  std::string have = batch;
  if (ka.size() != 1 || kb.size() != 1) {
    // Split M and N back into their labels (static extents), dropping inserted unit dims.
    std::vector<int64_t> shape;
    Dims dy = ctx.dims(y);
    for (int64_t i = 0; i < nb; ++i)
      shape.push_back(std::max<int64_t>(dy[static_cast<int>(i)], -1));
    auto extent = [&](char c, const std::string& t, const Dims& d) {
      return d[static_cast<int>(t.find(c))];
    };
    for (char c : ka) {
      int64_t e = extent(c, ta, da);
      if (e < 0) return ctx.error(n, "einsum needs static extents for merged output labels");
      shape.push_back(e);
    }
    for (char c : kb) {
      int64_t e = extent(c, tb, db);
      if (e < 0) return ctx.error(n, "einsum needs static extents for merged output labels");
      shape.push_back(e);
    }
    int dynamic_batch = 0;
    for (int64_t i = 0; i < nb; ++i) dynamic_batch += dy[static_cast<int>(i)] < 0;
    if (dynamic_batch > 1)
      return ctx.error(n, "einsum with several dynamic batch labels and merged groups");
    KILN_ASSIGN_OR_RETURN(auto r, ctx.net.add_reshape(y, shape));
    y = r;
  }
  have += ka + kb;
  return set_output_tensor(ctx, n, permute_to(ctx, y, have, out));
}

}  // namespace

void register_linear_converters(ConverterRegistry& r) {
  add_converter(r, {"aten::linear"}, linear);
  add_converter(r,
                {"aten::matmul", "aten::mm", "aten::bmm", "aten::mm.default", "aten::bmm.default"},
                matmul);
  add_converter(r, {"aten::addmm"}, addmm);
  add_converter(r, {"aten::t", "aten::numpy_T"}, t);
  add_converter(r, {"aten::einsum"}, einsum);
}

}  // namespace kiln::bridge
