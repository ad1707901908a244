// ConversionCtx: argument access, constants, dtype promotion, error messages.
#include <ATen/ATen.h>
#include <torch/csrc/jit/runtime/operator.h>

#include "converters/converter.h"

namespace kiln::bridge {

Arg Arg::tensor(kiln::Tensor t) {
  Arg a;
  a.kind_ = Kind::kTensor;
  a.tensor_ = t;
  return a;
}
Arg Arg::constant(c10::IValue v) {
  Arg a;
  a.kind_ = Kind::kConstant;
  a.value_ = std::move(v);
  return a;
}
Arg Arg::list(std::vector<Arg> items) {
  Arg a;
  a.kind_ = Kind::kList;
  a.items_ = std::move(items);
  return a;
}

Status ConversionCtx::error(const Node& n, const std::string& msg) const {
  return make_error(StatusCode::kUnsupported, "converters", n.op + " (" + n.source + "): " + msg);
}

Status ConversionCtx::error(const Node& n, const Status& cause) const {
  const std::string where = n.op + " (" + n.source + "): ";
  if (cause.ok() || cause.message().find(where) != std::string::npos) return cause;
  return make_error(cause.code(), "converters", where + cause.message());
}

std::string ConversionCtx::input_name(const Node& n, size_t i) const {
  std::string what = "input " + std::to_string(i);
  // "aten::add.Tensor" -> name "aten::add", overload "Tensor"
  size_t ns = n.op.find("::");
  if (ns == std::string::npos) return what;
  size_t dot = n.op.find('.', ns + 2);
  c10::OperatorName name(n.op.substr(0, dot), dot == std::string::npos ? "" : n.op.substr(dot + 1));
  try {
    std::shared_ptr<torch::jit::Operator> op = torch::jit::findOperatorFor(name);
    if (op == nullptr) return what;
    const std::vector<c10::Argument>& args = op->schema().arguments();
    if (i < args.size() && !args[i].name().empty()) what += " (" + args[i].name() + ")";
  } catch (const c10::Error&) {  // an unparsable name or schema: the index alone
  }
  return what;
}

const Arg& ConversionCtx::value(int v) const {
  static const Arg kEmpty;
  auto it = args_.find(v);
  return it == args_.end() ? kEmpty : it->second;
}

const Arg& ConversionCtx::arg(const Node& n, size_t i) const {
  static const Arg kEmpty;
  if (i >= n.inputs.size()) return kEmpty;
  int v = n.inputs[i];
  auto it = args_.find(v);
  if (it != args_.end()) return it->second;
  if (graph.is_constant(v)) {
    auto& self = const_cast<ConversionCtx&>(*this);
    return self.args_[v] = Arg::constant(*graph.values[static_cast<size_t>(v)].constant);
  }
  return kEmpty;
}

bool ConversionCtx::is_none(const Node& n, size_t i) const {
  if (i >= n.inputs.size()) return true;
  return arg(n, i).is_none();
}

void ConversionCtx::set_output(const Node& n, size_t i, Arg a) {
  if (i < n.outputs.size()) args_[n.outputs[i]] = std::move(a);
}

DataType ConversionCtx::dtype(kiln::Tensor t) const {
  auto tt = net.tensor_type(t);
  return tt.ok() ? tt->dtype : DataType::kFloat32;
}

Dims ConversionCtx::dims(kiln::Tensor t) const {
  auto tt = net.tensor_type(t);
  return tt.ok() ? tt->dims : Dims{};
}

Expected<kiln::Tensor> ConversionCtx::check(const Node& n, Expected<kiln::Tensor> r) {
  if (!r) return error(n, r.status());
  if (!n.outputs.empty()) {
    const std::string& out = graph.values[static_cast<size_t>(n.outputs[0])].name;
    (void)net.set_layer_name(*r, out + "/" + std::to_string(layer_count_++));
  }
  return r;
}

Expected<kiln::Tensor> ConversionCtx::constant_tensor(const at::Tensor& t) {
  auto it = weights_.find(t.unsafeGetTensorImpl());
  if (it != weights_.end()) return it->second.tensor;
  at::Tensor c = t.detach().to(at::kCPU).contiguous();
  // float64 constants stay float64 where the backend computes it (CPU); elsewhere they are stored
  // as float32 (only float32 layers can read them there: float64 values are refused at partition).
  if (c.scalar_type() == at::kDouble && !keep_float64) c = c.to(at::kFloat);
  auto dt = to_kiln_dtype(c.scalar_type());
  if (!dt) {
    return make_error(
        StatusCode::kUnsupported, "converters",
        std::string("constant of dtype ") + c10::toString(c.scalar_type()) + " is not supported");
  }
  Dims d;
  for (int64_t s : c.sizes()) {
    if (!d.push_back(s))
      return make_error(StatusCode::kUnsupported, "converters", "constant rank exceeds 8");
  }
  auto r = net.add_constant(d, *dt, c.data_ptr());
  // The cache holds the tensor itself: a temporary (e.g. `t.to(dtype)` in a converter) would
  // otherwise free its TensorImpl, and the next temporary at the same address would hit this entry.
  if (r.ok()) weights_[t.unsafeGetTensorImpl()] = CachedConstant{t, *r};
  return r;
}

Expected<kiln::Tensor> ConversionCtx::scalar(double v, DataType dt) {
  return net.add_scalar(v, dt);
}

Expected<kiln::Tensor> ConversionCtx::cast(kiln::Tensor t, DataType dt) {
  if (dtype(t) == dt) return t;
  return net.add_cast(t, dt);
}

Expected<kiln::Tensor> ConversionCtx::arg_tensor(const Node& n, const Arg& a, size_t i, bool item) {
  if (a.is_tensor()) return a.tensor();
  if (a.is_constant()) {
    const c10::IValue& v = a.ivalue();
    if (v.isTensor()) return constant_tensor(v.toTensor());
    if (v.isInt()) return net.add_scalar(static_cast<double>(v.toInt()), DataType::kInt64);
    if (v.isDouble()) return net.add_scalar(v.toDouble(), DataType::kFloat32);
    if (v.isBool()) return net.add_scalar(v.toBool() ? 1.0 : 0.0, DataType::kBool);
    if (v.isIntList()) return net.add_int_vector(v.toIntVector());
    if (v.isDoubleList()) {
      std::vector<float> f;
      for (double d : v.toDoubleVector()) f.push_back(static_cast<float>(d));
      return net.add_constant(Dims{static_cast<int64_t>(f.size())}, DataType::kFloat32, f.data());
    }
    return error(n, input_name(n, i) + (item ? " has an item of type " : " is a ") + v.tagKind() +
                        ", which cannot be used as a tensor");
  }
  if (a.is_list()) {
    std::vector<kiln::Tensor> parts;
    for (const Arg& item : a.items()) {
      KILN_ASSIGN_OR_RETURN(auto t, arg_tensor(n, item, i, true));
      KILN_ASSIGN_OR_RETURN(auto u,
                            rank(t) == 0 ? net.add_unsqueeze(t, {0}) : Expected<kiln::Tensor>(t));
      KILN_ASSIGN_OR_RETURN(auto c, cast(u, DataType::kInt64));
      parts.push_back(c);
    }
    if (parts.empty()) return net.add_int_vector({});
    if (parts.size() == 1) return parts[0];
    return net.add_concat(parts, 0);
  }
  return error(n, input_name(n, i) + (item ? " has an item that is" : " is") +
                      " not available in this engine");
}

Expected<kiln::Tensor> ConversionCtx::tensor(const Node& n, size_t i) {
  const Arg& a = arg(n, i);
  if (a.empty()) return error(n, input_name(n, i) + " is not available");
  if (a.is_none()) return error(n, input_name(n, i) + " is None");
  Expected<kiln::Tensor> t = arg_tensor(n, a, i, false);
  if (!t) return error(n, t.status());  // constants and list items: the Network's own errors
  return t;
}

Expected<kiln::Tensor> ConversionCtx::optional_tensor(const Node& n, size_t i) {
  if (is_none(n, i)) return kiln::Tensor{};
  return tensor(n, i);
}

Expected<int64_t> ConversionCtx::const_int(const Node& n, size_t i) const {
  const Arg& a = arg(n, i);
  if (a.is_constant() && a.ivalue().isInt()) return a.ivalue().toInt();
  if (a.is_constant() && a.ivalue().isBool()) return static_cast<int64_t>(a.ivalue().toBool());
  return error(n, input_name(n, i) + " must be a constant int");
}

Expected<double> ConversionCtx::const_double(const Node& n, size_t i) const {
  const Arg& a = arg(n, i);
  if (a.is_constant() && a.ivalue().isDouble()) return a.ivalue().toDouble();
  if (a.is_constant() && a.ivalue().isInt()) return static_cast<double>(a.ivalue().toInt());
  if (a.is_constant() && a.ivalue().isBool()) return a.ivalue().toBool() ? 1.0 : 0.0;
  if (a.is_constant() && a.ivalue().isTensor() && a.ivalue().toTensor().numel() == 1)
    return a.ivalue().toTensor().item<double>();
  return error(n, input_name(n, i) + " must be a constant number");
}

Expected<bool> ConversionCtx::const_bool(const Node& n, size_t i) const {
  const Arg& a = arg(n, i);
  if (a.is_constant() && a.ivalue().isBool()) return a.ivalue().toBool();
  if (a.is_constant() && a.ivalue().isInt()) return a.ivalue().toInt() != 0;
  return error(n, input_name(n, i) + " must be a constant bool");
}

Expected<std::vector<int64_t>> ConversionCtx::const_int_list(const Node& n, size_t i) const {
  const Arg& a = arg(n, i);
  if (a.is_constant() && a.ivalue().isIntList()) return a.ivalue().toIntVector();
  if (a.is_constant() && a.ivalue().isInt()) return std::vector<int64_t>{a.ivalue().toInt()};
  if (a.is_list()) {
    std::vector<int64_t> v;
    for (const Arg& item : a.items()) {
      if (!(item.is_constant() && item.ivalue().isInt()))
        return error(n, input_name(n, i) + " must be constant ints");
      v.push_back(item.ivalue().toInt());
    }
    return v;
  }
  return error(n, input_name(n, i) + " must be a constant int list");
}

Expected<std::optional<at::ScalarType>> ConversionCtx::const_dtype(const Node& n, size_t i) const {
  const Arg& a = arg(n, i);
  if (a.is_none() || a.empty()) return std::optional<at::ScalarType>{};
  if (a.is_constant() && a.ivalue().isInt())
    return std::optional<at::ScalarType>(static_cast<at::ScalarType>(a.ivalue().toInt()));
  return error(n, input_name(n, i) + " must be a constant dtype");
}

bool ConversionCtx::is_static_int(const Node& n, size_t i) const {
  const Arg& a = arg(n, i);
  if (a.is_constant()) return a.ivalue().isInt() || a.ivalue().isIntList();
  if (a.is_list()) {
    for (const Arg& item : a.items())
      if (!(item.is_constant() && item.ivalue().isInt())) return false;
    return true;
  }
  return false;
}

Expected<ConversionCtx::IntList> ConversionCtx::int_list(const Node& n, size_t i) {
  IntList out;
  if (is_static_int(n, i)) {
    KILN_ASSIGN_OR_RETURN(auto v, const_int_list(n, i));
    out.values = v;
    return out;
  }
  KILN_ASSIGN_OR_RETURN(auto t, tensor(n, i));
  KILN_ASSIGN_OR_RETURN(auto c, cast(t, DataType::kInt64));
  out.is_static = false;
  out.tensor = c;
  if (rank(out.tensor) == 0) {
    KILN_ASSIGN_OR_RETURN(auto u, net.add_unsqueeze(out.tensor, {0}));
    out.tensor = u;
  }
  return out;
}

Expected<ConversionCtx::Int> ConversionCtx::int_value(const Node& n, size_t i) {
  Int out;
  const Arg& a = arg(n, i);
  if (a.is_constant() && (a.ivalue().isInt() || a.ivalue().isBool())) {
    out.value = a.ivalue().isInt() ? a.ivalue().toInt() : a.ivalue().toBool();
    return out;
  }
  KILN_ASSIGN_OR_RETURN(auto t, tensor(n, i));
  KILN_ASSIGN_OR_RETURN(auto c, cast(t, DataType::kInt64));
  out.is_static = false;
  out.tensor = c;
  return out;
}

namespace {

int category(DataType t) {
  if (t == DataType::kBool) return 0;
  return is_floating(t) ? 2 : 1;
}

}  // namespace

Expected<std::pair<kiln::Tensor, kiln::Tensor>> ConversionCtx::promoted(const Node& n, size_t i,
                                                                        size_t j) {
  const Arg& ai = arg(n, i);
  const Arg& aj = arg(n, j);
  KILN_ASSIGN_OR_RETURN(auto ti, tensor(n, i));
  KILN_ASSIGN_OR_RETURN(auto tj, tensor(n, j));
  auto weak = [&](const Arg& a, kiln::Tensor t) {
    if (a.is_constant() && !a.ivalue().isTensor()) return 2;  // Python scalar
    return rank(t) == 0 ? 1 : 0;                              // 0-dim tensor
  };
  int wi = weak(ai, ti), wj = weak(aj, tj);
  DataType di = dtype(ti), dj = dtype(tj);
  DataType out;
  if ((wi > 0) == (wj > 0)) {
    out = *to_kiln_dtype(at::promoteTypes(to_torch_dtype(di), to_torch_dtype(dj)));
    if (wi == 2 && wj == 2) out = category(di) == 2 || category(dj) == 2 ? DataType::kFloat32 : out;
  } else {
    DataType strong = wi > 0 ? dj : di, weakt = wi > 0 ? di : dj;
    out = category(weakt) > category(strong)
              ? (category(weakt) == 2
                     ? (is_floating(weakt) && (wi > 0 ? wi : wj) == 1 ? weakt : DataType::kFloat32)
                     : DataType::kInt64)
              : strong;
  }
  // A Python float meeting float64 is made in float64 (arg_tensor stores it as float32).
  auto exact = [&](const Arg& a, kiln::Tensor t) -> Expected<kiln::Tensor> {
    if (out == DataType::kFloat64 && a.is_constant() && a.ivalue().isDouble())
      return scalar(a.ivalue().toDouble(), DataType::kFloat64);
    return cast(t, out);
  };
  KILN_ASSIGN_OR_RETURN(auto ci, exact(ai, ti));
  KILN_ASSIGN_OR_RETURN(auto cj, exact(aj, tj));
  return std::make_pair(ci, cj);
}

// ---- registry ----

void ConverterRegistry::add(ConverterInfo info) {
  std::string op = info.op;
  converters_[op] = std::move(info);
}

const ConverterInfo* ConverterRegistry::find(const std::string& op) const {
  auto it = converters_.find(op);
  return it == converters_.end() ? nullptr : &it->second;
}

std::vector<std::string> ConverterRegistry::ops() const {
  std::vector<std::string> v;
  for (const auto& [k, c] : converters_) v.push_back(k);
  return v;
}

ConverterRegistry& converter_registry() {
  static ConverterRegistry* r = [] {
    auto* reg = new ConverterRegistry();
    register_builtin_converters(*reg);
    return reg;
  }();
  return *r;
}

void add_converter(ConverterRegistry& r, std::initializer_list<const char*> ops, ConvertFn fn,
                   SupportFn supports, bool dynamic) {
  for (const char* op : ops) r.add(ConverterInfo{op, fn, supports, dynamic, false});
}

}  // namespace kiln::bridge
