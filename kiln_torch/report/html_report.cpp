// report_html: the template with its data; report_json: a partition's data for kilnc --report.
#include "report/html_report.h"

#include <cstdio>
#include <map>
#include <sstream>

#include "kiln/builder.h"
#include "kiln/engine_layers.h"

namespace kiln::bridge {

std::string_view report_template();  // report_template.cpp, generated from report.html

namespace {

constexpr std::string_view kDataSlot = "/*KILN_REPORT_DATA*/";

// Writes ["a", "b"] of strings.
std::string json_strings(const std::vector<std::string>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) out += (i ? "," : "") + json_string(v[i]);
  return out + "]";
}

}  // namespace

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '<':
        out += "\\u003c";
        break;
      case '>':
        out += "\\u003e";
        break;
      case '&':
        out += "\\u0026";
        break;
      default:
        if (u < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", u);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string report_html(std::string_view data_json) {
  std::string page(report_template());
  size_t at = page.find(kDataSlot);
  if (at == std::string::npos) return page;  // cannot happen: the template holds the slot
  page.replace(at, kDataSlot.size(), data_json);
  return page;
}

std::string report_json(const OpGraph& g, const PartitionResult& r, std::string_view title,
                        std::string_view frontend, std::string_view backend, bool with_engines) {
  std::vector<std::string> engine_of(g.nodes.size());
  for (const auto& s : r.segments)
    if (s.kiln)
      for (int n : s.nodes) engine_of[static_cast<size_t>(n)] = s.name;
  auto node_name = [&](int n) {
    const Node& node = g.nodes[static_cast<size_t>(n)];
    return node.outputs.empty() ? "node" + std::to_string(n)
                                : g.values[static_cast<size_t>(node.outputs[0])].name;
  };
  std::ostringstream os;
  os << "{\"title\":" << json_string(title) << ",\"frontend\":" << json_string(frontend)
     << ",\"kiln_version\":" << json_string(kiln::version())
     << ",\"backend\":" << json_string(backend) << ",\"profiled\":false,\"nodes\":[";
  for (size_t i = 0; i < r.support.size(); ++i) {
    const NodeSupport& s = r.support[i];
    const char* place = s.evaluator ? "evaluated" : s.kiln ? "kiln" : "torch";
    os << (i ? "," : "") << "{\"id\":" << s.node << ",\"name\":" << json_string(node_name(s.node))
       << ",\"op\":" << json_string(s.op) << ",\"place\":\"" << place
       << "\",\"engine\":" << json_string(engine_of[static_cast<size_t>(s.node)])
       << ",\"where\":" << json_string(node_origin(g, s.node))
       << ",\"reason\":" << json_string(s.kiln ? "" : s.reason) << "}";
  }
  os << "],\"segments\":[";
  for (size_t i = 0; i < r.segments.size(); ++i) {
    const Segment& s = r.segments[i];
    os << (i ? "," : "") << "{\"kind\":\"" << (s.kiln ? "kiln" : "torch")
       << "\",\"name\":" << json_string(s.name) << ",\"nodes\":[";
    for (size_t k = 0; k < s.nodes.size(); ++k) os << (k ? "," : "") << s.nodes[k];
    os << "]}";
  }
  // Layer names start with the value they compute ("x.3/12"): their node's source is where.
  std::map<std::string, std::string> where_of_value;
  for (size_t n = 0; n < g.nodes.size(); ++n)
    for (int v : g.nodes[n].outputs)
      where_of_value[g.values[static_cast<size_t>(v)].name] = node_origin(g, static_cast<int>(n));
  os << "],\"engines\":[";
  bool first = true;
  for (const Segment& s : r.segments) {
    if (!with_engines || !s.kiln || s.plan.empty()) continue;
    auto engine = Runtime::load(s.plan);
    if (!engine) continue;
    std::vector<std::string> settings;
    for (const auto& [k, v] : (*engine)->build_settings()) settings.push_back(k + "=" + v);
    os << (first ? "" : ",") << "{\"name\":" << json_string(s.name)
       << ",\"backend\":" << json_string((*engine)->backend()) << ",\"ops\":" << s.nodes.size()
       << ",\"settings\":" << json_strings(settings) << ",\"groups\":[";
    first = false;
    auto groups = kernel_groups(**engine);
    for (size_t k = 0; k < groups.size(); ++k) {
      os << (k ? "," : "") << "{\"kernel\":" << json_string(groups[k].kernel)
         << ",\"ms\":null,\"layers\":[";
      for (size_t l = 0; l < groups[k].layers.size(); ++l) {
        const LayerInfo& layer = groups[k].layers[l];
        auto it = where_of_value.find(layer.name.substr(0, layer.name.rfind('/')));
        os << (l ? "," : "") << "{\"name\":" << json_string(layer.name)
           << ",\"op\":" << json_string(layer.op)
           << ",\"precision\":" << json_string(layer.precision)
           << ",\"dtype\":" << json_string(layer.dtype)
           << ",\"where\":" << json_string(it == where_of_value.end() ? "" : it->second) << "}";
      }
      os << "]}";
    }
    os << "]}";
  }
  os << "]}";
  return os.str();
}

}  // namespace kiln::bridge
