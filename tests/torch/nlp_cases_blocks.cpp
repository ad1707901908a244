// Converter cases of the reduction, normalization and attention families (run by
// test_converters_nlp.cpp).
#include "nlp_cases.h"

namespace kiln::nlp_cases {

std::vector<Case> reduction_cases() {
  std::vector<Case> c;
  const In xi = I({3, 4, 5});
  c.push_back(C("sum_dim", {"aten::sum.dim_IntList"}, "x.sum(1)", {kXd}));
  c.push_back(
      C("sum_dims_keepdim", {"aten::sum.dim_IntList"}, "x.sum([0, 2], keepdim=True)", {kX}));
  c.push_back(C("sum_int32_is_int64", {"aten::sum.dim_IntList"}, "x.sum(1)",
                {I({3, 4, 5}, -5, 5, at::kInt)}));
  c.push_back(C("sum_bool_is_int64", {"aten::sum.dim_IntList"}, "x.sum(-1)", {B({3, 4})}));
  c.push_back(C("sum_dtype", {"aten::sum.dim_IntList"}, "x.sum(1, dtype=6)", {xi}));
  c.push_back(C("sum_all", {"aten::sum"}, "x.sum()", {kX}));
  c.push_back(C("sum_all_int", {"aten::sum"}, "x.sum()", {xi}));
  c.push_back(C("mean_dim", {"aten::mean.dim"}, "x.mean(-1, keepdim=True)", {kXd}));
  c.push_back(C("mean_all", {"aten::mean"}, "x.mean()", {kX}));
  c.push_back(C("prod_dim", {"aten::prod.dim_int"}, "x.prod(1)", {F({3, 4, 5}, Gen::kUnit)}));
  c.push_back(
      C("prod_int_is_int64", {"aten::prod.dim_int"}, "x.prod(2)", {I({3, 4, 5}, -3, 3, at::kInt)}));
  c.push_back(C("prod_all", {"aten::prod"}, "x.prod()", {F({3, 4}, Gen::kUnit)}));
  c.push_back(C("prod_all_int", {"aten::prod"}, "x.prod()", {I({2, 3}, -2, 3, at::kInt)}));
  c.push_back(C("amax", {"aten::amax"}, "x.amax([1, 2])", {kX}));
  c.push_back(C("amin", {"aten::amin"}, "x.amin(1, keepdim=True)", {kXd}));
  c.push_back(C("max_dim", {"aten::max.dim"}, "torch.max(x, 1)", {kX}));
  c.push_back(S("max_dim_values_only", {"aten::max.dim"},
                "v, i = torch.max(x, -1, True); return v * 2.0", {kXd}));
  c.push_back(C("max_all", {"aten::max"}, "x.max()", {kX}));
  c.push_back(C("min_dim", {"aten::min.dim"}, "torch.min(x, 2, True)", {kX}));
  c.push_back(C("min_all", {"aten::min"}, "x.min()", {xi}));
  c.push_back(C("argmax", {"aten::argmax"}, "x.argmax(1)", {kXd}));
  c.push_back(C("argmax_flat", {"aten::argmax"}, "x.argmax()", {kX}));
  c.push_back(C("argmin_keepdim", {"aten::argmin"}, "x.argmin(1, True)", {kX}));
  c.push_back(
      C("var_correction", {"aten::var.correction"}, "torch.var(x, [1], correction=2)", {kX}));
  c.push_back(C("var_dim", {"aten::var.dim"}, "x.var(1)", {kXd}));
  c.push_back(C("var_all", {"aten::var"}, "x.var()", {kX}));
  c.push_back(C("std_correction", {"aten::std.correction"},
                "torch.std(x, [1], correction=0, keepdim=True)", {kX}));
  c.push_back(C("std_dim", {"aten::std.dim"}, "x.std(1, True, True)", {kX}));
  c.push_back(C("std_all_biased", {"aten::std"}, "x.std(False)", {kX}));
  c.push_back(C("any_all", {"aten::any"}, "x.any()", {B({3, 4})}));
  c.push_back(C("any_dim_float", {"aten::any.dim"}, "x.any(1)", {F({3, 4}, Gen::kTies)}));
  c.push_back(C("any_dims", {"aten::any.dims"}, "torch.any(x, [0, 1])", {B({3, 4, 2})}));
  c.push_back(C("all_all_uint8", {"aten::all"}, "x.all()", {I({3, 4}, 0, 3, at::kByte)}));
  c.push_back(C("all_dim", {"aten::all.dim"}, "x.all(1, True)", {B({3, 4}, Gen::kMask)}));
  c.push_back(C("all_dims", {"aten::all.dims"}, "torch.all(x, [0, 1], True)", {B({3, 4, 2})}));
  c.push_back(C("softmax", {"aten::softmax.int"}, "torch.softmax(x, -1)", {kXd}));
  c.push_back(C("softmax_dtype", {"aten::softmax.int"}, "torch.softmax(x, 1, dtype=6)", {H({3, 4})},
                1e-3, 1e-3));
  c.push_back(C("softmax_private", {"aten::_softmax"}, "torch._softmax(x, 1, False)", {kX}));
  c.push_back(C("log_softmax", {"aten::log_softmax.int"}, "torch.log_softmax(x, 1)", {kX}));
  c.push_back(
      C("log_softmax_private", {"aten::_log_softmax"}, "torch._log_softmax(x, -1, False)", {kX}));
  c.push_back(C("cumsum", {"aten::cumsum"}, "torch.cumsum(x, 1)", {kXd}));
  c.push_back(C("cumsum_int_is_int64", {"aten::cumsum"}, "torch.cumsum(x, 0)",
                {I({3, 4}, -5, 5, at::kInt)}));
  c.push_back(C("topk", {"aten::topk"}, "torch.topk(x, 3, 1)", {kX}));
  c.push_back(C("topk_smallest", {"aten::topk"}, "torch.topk(x, 2, -1, False, True)", {kX}));
  c.push_back(C("norm_2", {"aten::norm.ScalarOpt_dim"}, "torch.norm(x, 2, [1], False)", {kX}));
  c.push_back(
      C("norm_1_keepdim", {"aten::norm.ScalarOpt_dim"}, "torch.norm(x, 1, [1], True)", {kX}));
  c.push_back(C("vector_norm_2", {"aten::linalg_vector_norm"},
                "torch.linalg_vector_norm(x, 2.0, [-1], False)", {kXd}));
  c.push_back(C("vector_norm_inf", {"aten::linalg_vector_norm"},
                "torch.linalg_vector_norm(x, float('inf'), [1], True)", {kX}));
  c.push_back(C("vector_norm_3", {"aten::linalg_vector_norm"},
                "torch.linalg_vector_norm(x, 3.0, [1, 2], False)", {kX}));
  c.push_back(C("vector_norm_0_all", {"aten::linalg_vector_norm"},
                "torch.linalg_vector_norm(x, 0.0, None, False)", {F({3, 4}, Gen::kTies)}));
  return c;
}

std::vector<Case> normalization_cases() {
  std::vector<Case> c;
  const In x4 = F({2, 4, 3, 3}), ch = F({4}), pch = P({4});
  c.push_back(C("batch_norm", {"aten::batch_norm"},
                "torch.batch_norm(x, y, z, w, v, False, 0.1, 1e-5, False)", {x4, ch, ch, ch, pch}));
  c.push_back(C("batch_norm_no_affine", {"aten::batch_norm"},
                "torch.batch_norm(x, None, None, y, z, False, 0.1, 1e-3, False)",
                {D({1, 4, 3}, {2, 4, 3}, {5, 4, 3}), ch, pch}));
  c.push_back(C("native_batch_norm_no_training", {"aten::_native_batch_norm_legit_no_training"},
                "torch._native_batch_norm_legit_no_training(x, y, z, w, v, 0.1, 1e-5)[0]",
                {x4, ch, ch, ch, pch}));
  c.push_back(C("layer_norm", {"aten::layer_norm"}, "torch.layer_norm(x, [5], y, z, 1e-12)",
                {kXd, F({5}), F({5})}));
  c.push_back(C("layer_norm_2d_no_affine", {"aten::layer_norm"},
                "torch.layer_norm(x, [4, 5], None, None, 1e-5)", {kX}));
  c.push_back(C("native_layer_norm", {"aten::native_layer_norm"},
                "torch.native_layer_norm(x, [5], y, z, 1e-5)", {kX, F({5}), F({5})}));
  c.push_back(
      C("group_norm", {"aten::group_norm"}, "torch.group_norm(x, 2, y, z, 1e-5)", {x4, ch, ch}));
  c.push_back(C("native_group_norm", {"aten::native_group_norm"},
                "torch.native_group_norm(x, y, z, 2, 4, 9, 2, 1e-5)", {x4, ch, ch}));
  c.push_back(C("native_group_norm_dynamic_batch", {"aten::native_group_norm"},
                "torch.native_group_norm(x, y, z, x.size(0), 4, 9, 2, 1e-5)",
                {D({1, 4, 3, 3}, {2, 4, 3, 3}, {3, 4, 3, 3}), ch, ch}));
  c.push_back(C("instance_norm", {"aten::instance_norm"},
                "torch.instance_norm(x, y, z, None, None, True, 0.1, 1e-5, False)", {x4, ch, ch}));
  c.push_back(C("rms_norm", {"aten::rms_norm"}, "torch.rms_norm(x, [5], y, 1e-6)", {kXd, F({5})}));
  c.push_back(
      C("rms_norm_default_eps", {"aten::rms_norm"}, "torch.rms_norm(x, [4, 5], None, None)", {kX}));
  // T5 / Llama RMSNorm as traced: x * rsqrt(mean(x^2) + eps) * w.
  c.push_back(C("rms_norm_decomposed", {"aten::pow.Tensor_Scalar", "aten::mean.dim", "aten::rsqrt"},
                "y * (x * torch.rsqrt((x ** 2).mean(-1, keepdim=True) + 1e-6))", {kXd, F({5})}));
  return c;
}

std::vector<Case> attention_cases() {
  std::vector<Case> c;
  const In q = F({2, 4, 6, 8}), k = F({2, 4, 7, 8}), v = F({2, 4, 7, 5});
  const std::string sdpa = "aten::scaled_dot_product_attention";
  c.push_back(C("sdpa", {sdpa}, "torch.scaled_dot_product_attention(x, y, z)", {q, k, v}));
  c.push_back(C("sdpa_3d", {sdpa}, "torch.scaled_dot_product_attention(x, y, z)",
                {F({3, 6, 8}), F({3, 7, 8}), F({3, 7, 5})}));
  c.push_back(C("sdpa_bool_mask", {sdpa}, "torch.scaled_dot_product_attention(x, y, z, w)",
                {q, k, v, B({2, 1, 6, 7}, Gen::kMask)}));
  c.push_back(C("sdpa_float_mask", {sdpa}, "torch.scaled_dot_product_attention(x, y, z, w)",
                {q, k, v, F({1, 4, 6, 7})}));
  c.push_back(C("sdpa_float_mask_fully_masked_rows", {sdpa},
                "torch.scaled_dot_product_attention(x, y, z, torch.where(w, 0.0, float('-inf')))",
                {q, k, v, B({2, 1, 6, 7}, Gen::kMask)}));
  c.push_back(C("sdpa_key_padding_mask", {sdpa}, "torch.scaled_dot_product_attention(x, y, z, w)",
                {q, k, v, B({2, 1, 1, 7})}));
  c.push_back(C("sdpa_causal", {sdpa},
                "torch.scaled_dot_product_attention(x, y, z, is_causal=True)", {q, k, v}));
  c.push_back(
      C("sdpa_scale", {sdpa}, "torch.scaled_dot_product_attention(x, y, z, scale=0.3)", {q, k, v}));
  c.push_back(C("sdpa_gqa", {sdpa}, "torch.scaled_dot_product_attention(x, y, z, enable_gqa=True)",
                {F({2, 6, 5, 8}), F({2, 2, 7, 8}), F({2, 2, 7, 8})}));
  c.push_back(
      C("sdpa_gqa_causal_mask_dynamic", {sdpa},
        "torch.scaled_dot_product_attention(x, y, z, w, enable_gqa=True)",
        {D({1, 4, 1, 8}, {2, 4, 5, 8}, {3, 4, 9, 8}), D({1, 2, 1, 8}, {2, 2, 5, 8}, {3, 2, 9, 8}),
         D({1, 2, 1, 8}, {2, 2, 5, 8}, {3, 2, 9, 8}),
         D({1, 1, 1, 1}, {2, 1, 5, 5}, {3, 1, 9, 9}, at::kBool, Gen::kMask)}));
  // enable_gqa with dynamic dims and as many query heads as key/value heads (a group of 1).
  c.push_back(
      C("sdpa_gqa_equal_heads_dynamic", {sdpa},
        "torch.scaled_dot_product_attention(x, y, z, enable_gqa=True)",
        {D({1, 2, 1, 8}, {2, 2, 5, 8}, {3, 2, 9, 8}), D({1, 2, 1, 8}, {2, 2, 5, 8}, {3, 2, 9, 8}),
         D({1, 2, 1, 8}, {2, 2, 5, 8}, {3, 2, 9, 8})}));
  c.push_back(
      C("sdpa_dynamic_seq_causal", {sdpa},
        "torch.scaled_dot_product_attention(x, y, z, is_causal=True)",
        {D({1, 2, 1, 8}, {2, 2, 6, 8}, {3, 2, 12, 8}), D({1, 2, 1, 8}, {2, 2, 6, 8}, {3, 2, 12, 8}),
         D({1, 2, 1, 8}, {2, 2, 6, 8}, {3, 2, 12, 8})}));
  // torch.export's CPU spelling of SDPA (the output is element 0 of its tuple).
  const std::string sdpa_cpu = "aten::_scaled_dot_product_flash_attention_for_cpu";
  const In kv = F({2, 4, 7, 8});
  c.push_back(C("sdpa_flash_for_cpu", {sdpa_cpu},
                "torch._scaled_dot_product_flash_attention_for_cpu(x, y, z, 0.0, False)[0]",
                {q, k, kv}));
  c.push_back(
      C("sdpa_flash_for_cpu_causal_scale", {sdpa_cpu},
        "torch._scaled_dot_product_flash_attention_for_cpu(x, y, z, 0.0, True, scale=0.2)[0]",
        {q, k, kv}));
  c.push_back(
      C("sdpa_flash_for_cpu_float_mask", {sdpa_cpu},
        "torch._scaled_dot_product_flash_attention_for_cpu(x, y, z, 0.0, False, attn_mask=w)[0]",
        {q, k, kv, F({2, 4, 6, 7})}));
  // BERT-style eager attention: scores, additive mask, softmax, context.
  c.push_back(
      C("eager_attention_pattern", {"aten::matmul", "aten::softmax.int"},
        "torch.matmul(torch.softmax(torch.matmul(x, y.transpose(-1, -2)) * 0.125 + w, -1), z)",
        {q, k, v, F({2, 1, 1, 7})}));
  c.push_back(C("baddbmm", {"aten::baddbmm"}, "torch.baddbmm(x, y, z, beta=0.5, alpha=2.0)",
                {F({3, 4, 6}), F({3, 4, 5}), F({3, 5, 6})}));
  c.push_back(C("baddbmm_broadcast_self", {"aten::baddbmm"}, "torch.baddbmm(x, y, z)",
                {F({6}), F({3, 4, 5}), F({3, 5, 6})}));
  c.push_back(C("baddbmm_beta0_ignores_nan", {"aten::baddbmm"},
                "torch.baddbmm(torch.log(x - 5.0), y, z, beta=0.0, alpha=0.5)",
                {P({3, 4, 6}), F({3, 4, 5}), F({3, 5, 6})}));
  return c;
}

}  // namespace kiln::nlp_cases
