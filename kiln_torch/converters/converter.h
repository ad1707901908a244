// The converter contract. A converter turns one OpGraph node into kiln::Network layers, using only
// the public Network API. It is registered under the node's overload-qualified name with a
// capability check (used by the partitioner) and whether it handles dynamic dims. One file per op
// family; registry.cpp holds the one list that registers them all. Users add their own with
// register_converter().
//
// Values during conversion are Args: an engine tensor, a compile-time constant (int, float, list,
// weight tensor, None, ...) or a list of Args (e.g. [x.size(0), -1], which mixes a runtime int and
// a constant). Runtime ints are int64 rank-0 engine tensors; Kiln tracks their values through shape
// arithmetic, so a reshape to [x.size(0), -1] still resolves on the host at run time.
#pragma once

#include <ATen/core/ivalue.h>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "converters/dtype_map.h"
#include "graph/op_graph.h"
#include "kiln/network.h"

namespace kiln::bridge {

class Arg {
 public:
  Arg() = default;
  static Arg tensor(kiln::Tensor t);
  static Arg constant(c10::IValue v);
  static Arg list(std::vector<Arg> items);

  bool is_tensor() const { return kind_ == Kind::kTensor; }
  bool is_constant() const { return kind_ == Kind::kConstant; }
  bool is_list() const { return kind_ == Kind::kList; }
  bool is_none() const { return kind_ == Kind::kConstant && value_.isNone(); }
  bool empty() const { return kind_ == Kind::kEmpty; }
  kiln::Tensor tensor() const { return tensor_; }
  const c10::IValue& ivalue() const { return value_; }
  const std::vector<Arg>& items() const { return items_; }

 private:
  enum class Kind : uint8_t { kEmpty, kTensor, kConstant, kList };
  Kind kind_ = Kind::kEmpty;
  kiln::Tensor tensor_;
  c10::IValue value_;
  std::vector<Arg> items_;
};

class ConversionCtx {
 public:
  ConversionCtx(kiln::Network& net, const OpGraph& graph) : net(net), graph(graph) {}

  kiln::Network& net;
  const OpGraph& graph;
  /// Whether float64 constants stay float64 (the target backend computes float64: CPU).
  bool keep_float64 = false;

  // ---- argument access (input i of node n)
  // ----------------------------------------------------------
  const Arg& arg(const Node& n, size_t i) const;
  bool is_none(const Node& n, size_t i) const;
  /// The input as an engine tensor: constants become engine constants (weights are added once),
  /// Python scalars become rank-0 constants (int64 / float32 / bool), lists of scalars become 1-D
  /// constants.
  Expected<kiln::Tensor> tensor(const Node& n, size_t i);
  /// The input as a tensor, or an invalid handle when it is None.
  Expected<kiln::Tensor> optional_tensor(const Node& n, size_t i);
  Expected<int64_t> const_int(const Node& n, size_t i) const;
  Expected<double> const_double(const Node& n, size_t i) const;
  Expected<bool> const_bool(const Node& n, size_t i) const;
  Expected<std::vector<int64_t>> const_int_list(const Node& n, size_t i) const;
  /// A dtype argument (None -> nullopt).
  Expected<std::optional<at::ScalarType>> const_dtype(const Node& n, size_t i) const;
  /// Whether an int (or every entry of an int list) input is known at compile time.
  bool is_static_int(const Node& n, size_t i) const;

  /// An int list that may hold runtime ints: static values, or a 1-D int64 shape tensor.
  struct IntList {
    bool is_static = true;
    std::vector<int64_t> values;  ///< when static
    kiln::Tensor tensor;          ///< when dynamic
  };
  Expected<IntList> int_list(const Node& n, size_t i);
  /// An int that may be a runtime int: a static value, or an int64 rank-0 tensor.
  struct Int {
    bool is_static = true;
    int64_t value = 0;
    kiln::Tensor tensor;
  };
  Expected<Int> int_value(const Node& n, size_t i);

  // ---- outputs
  // ----------------------------------------------------------------------------------------
  void set_output(const Node& n, size_t i, Arg a);
  void set_output(const Node& n, size_t i, kiln::Tensor t) { set_output(n, i, Arg::tensor(t)); }
  void set_value(int value, Arg a) { args_[value] = std::move(a); }
  bool has_value(int value) const { return args_.count(value) != 0; }
  const Arg& value(int v) const;

  // ---- helpers
  // ----------------------------------------------------------------------------------------
  Expected<kiln::Tensor> constant_tensor(const at::Tensor& t);
  Expected<kiln::Tensor> scalar(double v, DataType dt);
  Expected<kiln::Tensor> cast(kiln::Tensor t, DataType dt);
  DataType dtype(kiln::Tensor t) const;
  Dims dims(kiln::Tensor t) const;
  int rank(kiln::Tensor t) const { return dims(t).rank(); }
  /// Inputs i and j as engine tensors promoted to a common dtype with torch's rules (a Python
  /// scalar does not widen a tensor of the same category).
  Expected<std::pair<kiln::Tensor, kiln::Tensor>> promoted(const Node& n, size_t i, size_t j);
  /// Wraps an Expected from the Network API: adds the node to the message, names the layer.
  Expected<kiln::Tensor> check(const Node& n, Expected<kiln::Tensor> r);
  /// An error about node n: "[converters] <op> (<source>): msg".
  Status error(const Node& n, const std::string& msg) const;
  /// `cause` (an error from the Network API or a helper) with node n added to its message and its
  /// code kept; a status that already names n (error(), the argument accessors) is returned as is.
  Status error(const Node& n, const Status& cause) const;
  /// "input i (name)": input i of n with its schema argument name, where the op has a registered
  /// schema ("input i" otherwise). Used by the argument accessors' messages.
  std::string input_name(const Node& n, size_t i) const;

 private:
  /// `a` (input i of n, or an item of that list input) as an engine tensor.
  Expected<kiln::Tensor> arg_tensor(const Node& n, const Arg& a, size_t i, bool item);
  std::map<int, Arg> args_;
  struct CachedConstant {
    at::Tensor source;  // kept alive so its TensorImpl address cannot be reused by another tensor
    kiln::Tensor tensor;
  };
  std::map<const void*, CachedConstant> weights_;  // by TensorImpl: each weight added once
  int layer_count_ = 0;
};

using ConvertFn = std::function<Status(ConversionCtx&, const Node&)>;
/// Capability check used by the partitioner: true if the converter can handle this node (static
/// args that must be constant are, dtypes are supported, ...). `why` gets the reason when false.
using SupportFn = std::function<bool(const OpGraph&, const Node&, std::string* why)>;

struct ConverterInfo {
  std::string op;  ///< overload-qualified name, e.g. "aten::add.Tensor"
  ConvertFn convert;
  SupportFn supports;          ///< empty: always
  bool dynamic_shapes = true;  ///< handles dims only known at run time
  /// Pure scalar/list bookkeeping (prim::ListConstruct, aten::size, int arithmetic): evaluated
  /// where needed, not counted towards min_block_size, also kept on the PyTorch side when needed
  /// there.
  bool evaluator = false;
};

class ConverterRegistry {
 public:
  /// Adds (or replaces: user converters win) the converter for info.op.
  void add(ConverterInfo info);
  const ConverterInfo* find(const std::string& op) const;
  std::vector<std::string> ops() const;
  size_t size() const { return converters_.size(); }

 private:
  std::map<std::string, ConverterInfo> converters_;
};

/// The registry with every built-in converter (filled on first use by register_builtin_converters).
ConverterRegistry& converter_registry();
void register_builtin_converters(ConverterRegistry& r);

/// Convenience for converter files: the same function under several overload names.
void add_converter(ConverterRegistry& r, std::initializer_list<const char*> ops, ConvertFn fn,
                   SupportFn supports = {}, bool dynamic = true);

}  // namespace kiln::bridge
