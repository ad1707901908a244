// The pass interface: a function from graph to graph. pipeline.cpp lists them in order.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "kiln/builder.h"
#include "kiln/engine.h"
#include "kiln/status.h"

namespace kiln::passes {

/// What passes decided that the plan records (the effective side of BuilderConfig::switches).
struct PassOutcome {
  bool channels_last = false;  ///< layout_channels_last rewrote convolutions to NHWC
  std::vector<LayerPrecision> precision_report;  ///< per convolution / GEMM of a Q/DQ network
};

#ifdef NDEBUG
inline constexpr bool kVerifyEachPass = false;
#else
inline constexpr bool kVerifyEachPass = true;  // debug builds name the pass that broke the graph
#endif

/// Config and instruments for one pipeline run (TVM's PassContext is the model).
struct PassContext {
  const BuilderConfig& config;
  Logger& logger;
  std::string backend;                      ///< the backend built for (resolved, never empty)
  PassOutcome* outcome = nullptr;           ///< where passes report decisions; nullptr: nobody asks
  bool verify_each_pass = kVerifyEachPass;  ///< ir::verify_graph after every pass
};

/// Removes layers no output depends on, and weights nothing references.
Status remove_dead_layers(ir::Graph& g, const PassContext& ctx);
/// Evaluates layers whose inputs are all constants (or whose outputs' values are known from shapes)
/// with the reference kernels and replaces them by constants.
Status fold_constants(ir::Graph& g, const PassContext& ctx);
/// Chooses each layer's compute precision from the enabled precisions, inserting casts; sensitive
/// layers stay in float32. Outputs keep their dtypes.
Status assign_precision(ir::Graph& g, const PassContext& ctx);
/// Removes cast round trips that are exact (f16 -> f32 -> f16) and casts to the same type.
Status simplify_casts(ir::Graph& g, const PassContext& ctx);

/// Explicit quantization: Q/DQ move through data movement and max pooling and cancel in pairs;
/// DQ -> convolution / linear / matmul -> (bias, residual, activation) -> Q become one
/// quantized_convolution / quantized_linear layer where the backend runs it
/// (fuse_quantized_layers.cpp). Reports each convolution / GEMM's precision in ctx.outcome.
Status fuse_quantized_layers(ir::Graph& g, const PassContext& ctx);
/// Removes identity layers that are not network outputs (their readers use the input directly).
Status remove_identities(ir::Graph& g, const PassContext& ctx);
/// Replaces GELU written out in pointwise ops (tanh form of GPT-2's gelu_new, erf form) by one
/// unary gelu_tanh / gelu layer; the rest of each chain is left dead.
Status recognize_gelu(ir::Graph& g, const PassContext& ctx);
/// where(any(mask, -1, keepdim), attention(q, k, v, mask), 0) becomes attention with
/// zero_masked_rows.
Status fold_attention_row_guard(ir::Graph& g, const PassContext& ctx);
/// Constant attention masks that attend everywhere are dropped; causal ones become causal = true.
Status fold_constant_attention_masks(ir::Graph& g, const PassContext& ctx);
/// matmul with a constant [K, N] weight plus a constant [N] bias becomes linear (bias in the GEMM),
/// and a unary reading a reshape (its only reader) moves before it, so activations meet their
/// GEMMs.
Status shape_gemm_epilogues(ir::Graph& g, const PassContext& ctx);
/// Linears with constant weights reading the same (static-shaped) input become one GEMM plus
/// slices.
Status fuse_parallel_linears(ir::Graph& g, const PassContext& ctx);
/// For the CUDA backend: runs 2-D convolutions and pooling in channels-last layout, with transposes
/// at the borders, pushed through pointwise layers and cancelled where they meet.
Status layout_channels_last(ir::Graph& g, const PassContext& ctx);
/// Chains of transposes, slices, splits and views that end in a strided view of one source
/// (attention head splitting) become one transpose shared by the chains plus offset-view slices
/// (static shapes).
Status fold_view_chains(ir::Graph& g, const PassContext& ctx);
/// mul(linear(x, W, b), s) with a constant per-feature scale s becomes linear(x, W * s, b * s).
Status fold_linear_scale(ir::Graph& g, const PassContext& ctx);
/// The auto rule of layout_channels_last: true for half-precision 2-D convolutions at any batch; in
/// float32 for dense (ungrouped) 2-D convolutions when the first rank-4 input's opt batch is at
/// least 16. `why` gets the reason either way.
bool channels_last_profitable(const ir::Graph& g, const BuilderConfig& config,
                              std::string* why = nullptr);

struct PassEntry {
  const char* name;
  Status (*run)(ir::Graph&, const PassContext&);
};

/// The pipeline (pipeline.cpp), in order; a pass may appear more than once.
std::span<const PassEntry> pipeline_passes();

/// Runs `passes` with the context's instruments: skips those named in
/// config.switches.disabled_passes (kInvalidArgument for a name no pipeline pass has), writes the
/// text IR after each to config.dump_ir_dir, verifies the graph after each when verify_each_pass.
Status run_passes(ir::Graph& g, const PassContext& ctx, std::span<const PassEntry> passes);

/// run_passes over pipeline_passes().
Status run_pipeline(ir::Graph& g, const PassContext& ctx);

}  // namespace kiln::passes
