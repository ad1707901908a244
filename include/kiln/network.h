// Network: the mutable graph of layers a user (or a converter) builds, before the Builder turns it
// into a Plan. Every add_* infers the new tensor's type at once and returns an error naming the
// layer and the offending input when the inputs do not fit.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/layers.h"
#include "kiln/status.h"
#include "kiln/types.h"

namespace kiln {

namespace ir {
struct Graph;
}

/// A handle to a tensor inside one Network. Default-constructed handles are invalid; they stand for
/// an omitted optional input.
class Tensor {
 public:
  Tensor() = default;
  bool valid() const { return id_ >= 0; }
  int32_t id() const { return id_; }
  uint64_t network_serial() const { return serial_; }
  friend bool operator==(const Tensor& a, const Tensor& b) {
    return a.id_ == b.id_ && a.serial_ == b.serial_;
  }

 private:
  friend class Network;
  Tensor(int32_t id, uint64_t serial) : id_(id), serial_(serial) {}
  int32_t id_ = -1;
  uint64_t serial_ = 0;
};

class Network {
 public:
  Network();
  ~Network();
  Network(Network&&) noexcept;
  Network& operator=(Network&&) noexcept;
  Network(const Network&) = delete;
  Network& operator=(const Network&) = delete;

  // ---- inputs, constants, outputs
  // -----------------------------------------------------------------
  /// A network input. Use -1 for dims fixed only at run time (they then need a profile range).
  Expected<Tensor> add_input(std::string_view name, DataType dtype, const Dims& dims);
  /// A constant; `data` (dims.volume() elements of dtype) is copied into the network.
  Expected<Tensor> add_constant(const Dims& dims, DataType dtype, const void* data);
  /// A rank-0 or 1-D constant from values (converted to dtype).
  Expected<Tensor> add_scalar(double value, DataType dtype);
  Expected<Tensor> add_int_vector(const std::vector<int64_t>& values,
                                  DataType dtype = DataType::kInt64);
  /// Marks `t` as an output named `name`. Names must be unique among inputs and outputs.
  Status mark_output(Tensor t, std::string_view name);

  // ---- layers
  // ---------------------------------------------------------------------------------------
  Expected<Tensor> add_convolution(Tensor x, Tensor w, Tensor bias, const ConvolutionParams& p);
  Expected<Tensor> add_matmul(Tensor a, Tensor b, const MatMulParams& p = {});
  Expected<Tensor> add_linear(Tensor x, Tensor w, Tensor bias);
  Expected<Tensor> add_elementwise(Tensor a, Tensor b, BinaryOp op);
  Expected<Tensor> add_unary(Tensor x, UnaryOp op, double alpha = 0.0, double beta = 0.0);
  Expected<Tensor> add_pooling(Tensor x, const PoolingParams& p);
  /// Max pooling that also returns the int64 index of each maximum in its input plane: {y,
  /// indices}.
  Expected<std::vector<Tensor>> add_max_pooling_with_indices(Tensor x, const PoolingParams& p);
  Expected<Tensor> add_adaptive_pooling(Tensor x, const AdaptivePoolingParams& p);
  Expected<Tensor> add_reduce(Tensor x, const ReduceParams& p);
  Expected<Tensor> add_softmax(Tensor x, int64_t axis, bool log = false);
  Expected<Tensor> add_layer_norm(Tensor x, Tensor gamma, Tensor beta, const LayerNormParams& p);
  Expected<Tensor> add_group_norm(Tensor x, Tensor gamma, Tensor beta, const GroupNormParams& p);
  Expected<Tensor> add_batch_norm(Tensor x, Tensor mean, Tensor var, Tensor gamma, Tensor beta,
                                  const BatchNormParams& p);
  Expected<Tensor> add_rms_norm(Tensor x, Tensor gamma, const RmsNormParams& p);
  Expected<Tensor> add_reshape(Tensor x, const std::vector<int64_t>& shape);
  /// Reshape to the values of a runtime int64 1-D shape tensor.
  Expected<Tensor> add_reshape_dynamic(Tensor x, Tensor shape);
  Expected<Tensor> add_transpose(Tensor x, const std::vector<int64_t>& perm);
  Expected<Tensor> add_concat(const std::vector<Tensor>& inputs, int64_t axis);
  Expected<std::vector<Tensor>> add_split(Tensor x, const SplitParams& p);
  Expected<Tensor> add_slice(Tensor x, const SliceParams& p, Tensor starts = {}, Tensor ends = {});
  Expected<Tensor> add_gather(Tensor data, Tensor indices, int64_t axis);
  Expected<Tensor> add_gather_elements(Tensor data, Tensor indices, int64_t axis);
  Expected<Tensor> add_scatter(Tensor data, Tensor indices, Tensor updates, const ScatterParams& p);
  Expected<Tensor> add_pad(Tensor x, const PadParams& p);
  Expected<Tensor> add_expand(Tensor x, const std::vector<int64_t>& shape);
  Expected<Tensor> add_expand_dynamic(Tensor x, Tensor shape);
  Expected<Tensor> add_squeeze(Tensor x, const std::vector<int64_t>& axes);
  Expected<Tensor> add_unsqueeze(Tensor x, const std::vector<int64_t>& axes);
  Expected<Tensor> add_flatten(Tensor x, int64_t start_axis, int64_t end_axis = -1);
  Expected<Tensor> add_where(Tensor condition, Tensor a, Tensor b);
  Expected<Tensor> add_cast(Tensor x, DataType to);
  Expected<Tensor> add_fill(const std::vector<int64_t>& shape, double value, DataType dtype);
  Expected<Tensor> add_fill_dynamic(Tensor shape, double value, DataType dtype);
  /// Pseudo-random numbers (mode kUniform or kNormal: a float dtype; kInteger: integers in
  /// [low, high)): element i depends only on (seed, i), so runs and backends agree.
  /// `shape_tensor` (int64 1-D), when valid, replaces `shape`.
  Expected<Tensor> add_random_fill(FillMode mode, int64_t seed, DataType dtype,
                                   const std::vector<int64_t>& shape, Tensor shape_tensor = {},
                                   double low = 0.0, double high = 0.0);
  Expected<Tensor> add_arange(const ArangeParams& p, Tensor start = {}, Tensor end = {},
                              Tensor step = {});
  Expected<Tensor> add_cumsum(Tensor x, const CumSumParams& p);
  /// Returns {values, indices}.
  Expected<std::vector<Tensor>> add_topk(Tensor x, const TopKParams& p);
  Expected<Tensor> add_resize(Tensor x, const ResizeParams& p, Tensor sizes = {});
  /// Samples x [N, C, H, W] at grid [N, Ho, Wo, 2] (GridSampleParams says how).
  Expected<Tensor> add_grid_sample(Tensor x, Tensor grid, const GridSampleParams& p);
  Expected<Tensor> add_shape(Tensor x);
  /// torch.nonzero: int64 [rows, rank(x)] coordinates of x's non-zero elements. The row count is
  /// known only at run time, so the result may only be marked as a network output (a data-dependent
  /// output: IOTensorInfo::data_dependent, ExecutionContext::output_shape).
  Expected<Tensor> add_nonzero(Tensor x);
  Expected<Tensor> add_attention(Tensor q, Tensor k, Tensor v, Tensor mask,
                                 const AttentionParams& p);
  Expected<Tensor> add_identity(Tensor x);
  /// Writes `update` into the network input `cache` at `positions` along p.axis, in place; returns
  /// the written cache (KvCacheWriteParams says what may read it).
  Expected<Tensor> add_kv_cache_write(Tensor cache, Tensor positions, Tensor update,
                                      const KvCacheWriteParams& p = {});
  /// Quantize x with a float32 scale (one element, or per channel along p.axis) and an optional
  /// integer zero point (QuantizeParams says exactly what is computed).
  Expected<Tensor> add_quantize(Tensor x, Tensor scale, Tensor zero_point, const QuantizeParams& p);
  /// (q - zero_point) * scale as p.to.
  Expected<Tensor> add_dequantize(Tensor q, Tensor scale, Tensor zero_point,
                                  const DequantizeParams& p);

  // ---- inspection
  // -----------------------------------------------------------------------------------
  /// Type of a tensor as inferred at build time (-1 where only known at run time).
  Expected<TensorType> tensor_type(Tensor t) const;
  /// Names the layer that produced `t` (used in every message about that layer).
  Status set_layer_name(Tensor t, std::string_view name);
  /// Forces the layer that produced `t` to compute in `dtype` (a float type) whatever the builder's
  /// enabled precisions are.
  Status set_layer_precision(Tensor t, DataType dtype);
  int num_layers() const;
  int num_inputs() const;
  int num_outputs() const;
  /// Human-readable text form (see ir/text_printer.h); parse it back with parse_network().
  std::string to_text() const;

  /// Internal graph (for the builder, passes and tools inside Kiln).
  const ir::Graph& graph() const { return *graph_; }
  ir::Graph& mutable_graph() { return *graph_; }

 private:
  Status check_tensor(Tensor t, std::string_view what, bool optional) const;
  Tensor handle(int32_t id) const { return Tensor(id, serial_); }

  std::unique_ptr<ir::Graph> graph_;
  uint64_t serial_;
};

/// Parses the text form produced by Network::to_text().
Expected<Network> parse_network(std::string_view text);

}  // namespace kiln
