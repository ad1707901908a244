// Graph -> text.
#include "ir/text_printer.h"

#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <type_traits>

#include "common/element_access.h"

namespace kiln::ir {
namespace {

std::string quote(const std::string& s) {
  std::string q = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') q += '\\';
    q += c;
  }
  return q + "\"";
}

std::string fmt_double(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%.17g", v);
  return buf;
}

template <class T>
std::string fmt_field(const T& v) {
  if constexpr (std::is_same_v<T, bool>) {
    return v ? "true" : "false";
  } else if constexpr (std::is_same_v<T, int64_t>) {
    return std::to_string(v);
  } else if constexpr (std::is_same_v<T, double>) {
    return fmt_double(v);
  } else if constexpr (std::is_enum_v<T>) {
    auto names = enum_names(v);
    auto i = static_cast<size_t>(v);
    return i < names.size() ? std::string(names[i]) : std::to_string(i);
  } else {  // vectors
    std::string s = "[";
    for (size_t i = 0; i < v.size(); ++i) {
      if (i) s += ',';
      s += fmt_field(v[i]);
    }
    return s + "]";
  }
}

std::string fmt_type(const TensorType& t) {
  return std::string(dtype_name(t.dtype)) + t.dims.to_string();
}

std::string fmt_params(const LayerParams& params) {
  std::string s;
  std::visit(
      [&](const auto& p) {
        using P = std::decay_t<decltype(p)>;
        P::visit(p, [&](const char* name, const auto& field) {
          if (!s.empty()) s += ", ";
          s += name;
          s += '=';
          s += fmt_field(field);
        });
      },
      params);
  return "{" + s + "}";
}

std::string fmt_constant_data(const Weight& w, int64_t limit) {
  int64_t n = w.type.dims.volume();
  if (n > limit) return "<" + std::to_string(w.bytes->size()) + " bytes>";
  std::string s = "[";
  for (int64_t i = 0; i < n; ++i) {
    if (i) s += ',';
    if (is_floating(w.type.dtype)) {
      s += fmt_double(load_as_double(w.bytes->data(), w.type.dtype, i));
    } else {
      s += std::to_string(load_as_int64(w.bytes->data(), w.type.dtype, i));
    }
  }
  return s + "]";
}

}  // namespace

std::string print_graph(const Graph& g, const PrintOptions& options) {
  std::ostringstream os;
  os << "kiln.network v1\n";
  for (int32_t t : g.inputs) {
    const TensorDesc& d = g.tensors[static_cast<size_t>(t)];
    os << "input " << quote(d.name) << " : " << fmt_type(d.type) << "\n";
  }
  for (const Layer& l : g.layers) {
    os << "layer " << quote(l.name) << " = " << op_name(l.op) << "(";
    for (size_t i = 0; i < l.inputs.size(); ++i) {
      if (i) os << ", ";
      int32_t t = l.inputs[i];
      os << (t < 0 ? std::string("_") : quote(g.tensors[static_cast<size_t>(t)].name));
    }
    os << ") " << fmt_params(l.params);
    if (l.precision)
      os << " precision=" << dtype_name(*l.precision) << (l.user_precision ? "!" : "");
    os << " ->";
    for (size_t i = 0; i < l.outputs.size(); ++i) {
      const TensorDesc& d = g.tensors[static_cast<size_t>(l.outputs[i])];
      os << (i ? ", " : " ") << quote(d.name) << " : " << fmt_type(d.type);
    }
    if (l.op == OpKind::kConstant)
      os << " = " << fmt_constant_data(g.constant_weight(l), options.inline_constant_limit);
    os << "\n";
  }
  for (int32_t t : g.outputs)
    os << "output " << quote(g.tensors[static_cast<size_t>(t)].name) << "\n";
  return os.str();
}

}  // namespace kiln::ir
