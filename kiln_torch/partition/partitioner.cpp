// Partitioning: support query per node, linear segmentation, fix-point for values that cannot cross
// a segment border, min_block_size, then one engine per Kiln segment.
#include "partition/partitioner.h"

#include <algorithm>
#include <cctype>
#include <functional>
#include <map>
#include <sstream>

#include "converters/converter.h"
#include "partition/shape_args.h"

namespace kiln::bridge {
namespace {

enum Place : uint8_t { kTorch, kKiln, kEval };

Status perr(StatusCode code, const std::string& msg) { return make_error(code, "partition", msg); }

bool forced_to_torch(const std::set<std::string>& forced, const std::string& op) {
  if (forced.count(op)) return true;
  size_t ns = op.find("::");
  size_t dot = op.find('.', ns == std::string::npos ? 0 : ns);
  return dot != std::string::npos && forced.count(op.substr(0, dot));
}

// Why value `v` cannot enter an engine built for `backend` (its dtype, its rank), or "".
std::string dtype_problem(const Value& v, const std::string& backend) {
  if (!v.meta)
    return "shape of '" + v.name + "' is unknown (data-dependent, or inside control flow)";
  std::string rp = rank_problem(v);
  if (!rp.empty()) return rp;
  auto dt = to_kiln_dtype(v.meta->dtype);
  if (!dt)
    return std::string("dtype ") + c10::toString(v.meta->dtype) + " of '" + v.name +
           "' is not supported";
  if ((*dt == DataType::kFloat64 || *dt == DataType::kInt16) && backend != "cpu")
    return std::string("dtype ") + c10::toString(v.meta->dtype) + " of '" + v.name +
           "' runs on the CPU backend only (the " + backend + " backend has no " +
           std::string(dtype_name(*dt)) + " kernels)";
  return {};
}

// Ops a backend refuses at build time whatever their arguments (a kernel not yet run on a GPU; see
// the backend's supports()): refused here too, so the op falls back to PyTorch instead of failing
// the engine build.
std::string backend_op_problem(const Node& n, const std::string& backend) {
  if (backend == "cuda" && n.op == "aten::grid_sampler_2d")
    return "grid_sample is not enabled on the cuda backend yet (its kernel has not run on a GPU); "
           "it runs in PyTorch";
  return {};
}

struct Planner {
  const OpGraph& g;
  const PartitionOptions& opt;
  const ConverterRegistry& reg = converter_registry();
  std::vector<Place> place;
  std::vector<std::string> reason;
  std::vector<Segment> segments;
  std::vector<bool> torch_needed;

  // A tensor taken out of a list that a Kiln node makes (split / chunk / unbind outputs read by
  // PyTorch): the item joins the segment and becomes an engine output, instead of an evaluator
  // cloned to PyTorch that would need the whole list there.
  bool item_of_kiln_list(const Node& n) const {
    if (n.op != "aten::__getitem__.t" || n.inputs.empty() || n.outputs.size() != 1) return false;
    if (g.values[static_cast<size_t>(n.outputs[0])].kind != ValueKind::kTensor) return false;
    int p = g.values[static_cast<size_t>(n.inputs[0])].producer;
    return p >= 0 && place[static_cast<size_t>(p)] == kKiln;
  }

  void initial_support() {
    place.assign(g.nodes.size(), kTorch);
    reason.assign(g.nodes.size(), "");
    // Outputs nothing reads (e.g. the attention weights of MHA with need_weights=False, an
    // undefined tensor) need no known shape.
    std::vector<bool> used(g.values.size(), false);
    for (int v : g.outputs) used[static_cast<size_t>(v)] = true;
    for (const Node& n : g.nodes) {
      for (const auto* list : {&n.inputs, &n.captured})
        for (int v : *list)
          if (v >= 0) used[static_cast<size_t>(v)] = true;
    }
    DataDerivedInts data_ints(g, reg);
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      const Node& n = g.nodes[i];
      const ConverterInfo* info = reg.find(n.op);
      if (info == nullptr) {
        reason[i] = "no converter for " + n.op;
        continue;
      }
      if (forced_to_torch(opt.torch_executed_ops, n.op)) {
        reason[i] = "listed in torch_executed_ops";
        continue;
      }
      if (!n.captured.empty()) {
        reason[i] = "control flow runs in PyTorch";
        continue;
      }
      if (info->evaluator) {
        place[i] = item_of_kiln_list(n) ? kKiln : kEval;
        continue;
      }
      std::string why;
      if (info->supports && !info->supports(g, n, &why)) {
        reason[i] = why.empty() ? "converter does not support these arguments" : why;
        continue;
      }
      why = shape_arg_problem(g, n, data_ints);
      if (!why.empty()) {
        reason[i] = why;
        continue;
      }
      why = backend_op_problem(n, opt.builder.backend);
      if (!why.empty()) {
        reason[i] = why;
        continue;
      }
      bool ok = true;
      for (const auto* list : {&n.inputs, &n.outputs}) {
        for (int v : *list) {
          if (v < 0) continue;
          const Value& val = g.values[static_cast<size_t>(v)];
          if (val.constant && val.constant->isTensor() &&
              val.constant->toTensor().dim() > kiln::kMaxRank) {
            reason[i] = "constant '" + val.name + "' has rank " +
                        std::to_string(val.constant->toTensor().dim()) + " (Kiln's limit is " +
                        std::to_string(kiln::kMaxRank) + ")";
            ok = false;
            break;
          }
          if (val.kind != ValueKind::kTensor || val.constant) continue;
          if (list == &n.outputs && !used[static_cast<size_t>(v)]) continue;
          std::string p = dtype_problem(val, opt.builder.backend);
          if (!p.empty()) {
            reason[i] = p;
            ok = false;
            break;
          }
          if (!info->dynamic_shapes && val.meta->dynamic()) {
            reason[i] = "converter needs static shapes";
            ok = false;
            break;
          }
        }
        if (!ok) break;
      }
      if (ok) place[i] = kKiln;
    }
  }

  void segment() {
    segments.clear();
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      if (place[i] == kEval) continue;
      bool kiln = place[i] == kKiln;
      if (segments.empty() || segments.back().kiln != kiln) {
        segments.emplace_back();
        segments.back().kiln = kiln;
      }
      segments.back().nodes.push_back(static_cast<int>(i));
    }
  }

  // Walks the dependencies of `v` for kiln segment `seg`; collects tensor inputs. Returns a reason
  // when the value cannot be had inside the engine.
  std::string collect(int v, const std::vector<bool>& in_seg, std::vector<int>& inputs,
                      std::vector<bool>& seen) {
    if (v < 0 || g.is_constant(v) || seen[static_cast<size_t>(v)]) return {};
    seen[static_cast<size_t>(v)] = true;
    const Value& val = g.values[static_cast<size_t>(v)];
    int p = val.producer;
    if (p >= 0 && in_seg[static_cast<size_t>(p)]) return {};
    if (p >= 0 && place[static_cast<size_t>(p)] == kEval) {
      for (int u : g.nodes[static_cast<size_t>(p)].inputs) {
        std::string r = collect(u, in_seg, inputs, seen);
        if (!r.empty()) return r;
      }
      return {};
    }
    if (val.kind == ValueKind::kTensor) {
      std::string dp = dtype_problem(val, opt.builder.backend);
      if (!dp.empty()) return dp;
      inputs.push_back(v);
      return {};
    }
    if (val.kind == ValueKind::kNone) return {};
    return std::string("needs the ") + value_kind_name(val.kind) + " '" + val.name +
           "' computed outside the engine";
  }

  void compute_torch_needed() {
    torch_needed.assign(g.values.size(), false);
    for (int v : g.outputs) torch_needed[static_cast<size_t>(v)] = true;
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      if (place[i] != kTorch) continue;
      for (int v : g.nodes[i].inputs)
        if (v >= 0) torch_needed[static_cast<size_t>(v)] = true;
      for (int v : g.nodes[i].captured) torch_needed[static_cast<size_t>(v)] = true;
    }
    for (size_t i = g.nodes.size(); i-- > 0;) {
      if (place[i] != kEval) continue;
      bool needed = false;
      for (int o : g.nodes[i].outputs) needed |= torch_needed[static_cast<size_t>(o)];
      if (!needed) continue;
      for (int v : g.nodes[i].inputs)
        if (v >= 0) torch_needed[static_cast<size_t>(v)] = true;
    }
  }

  // One round of border checks; returns true if any node moved to PyTorch.
  bool check_borders() {
    bool changed = false;
    compute_torch_needed();
    std::vector<bool> used_by_other_kiln(g.values.size(), false);
    for (Segment& s : segments) {
      if (!s.kiln) continue;
      std::vector<bool> in_seg(g.nodes.size(), false);
      for (int n : s.nodes) in_seg[static_cast<size_t>(n)] = true;
      std::vector<bool> seen(g.values.size(), false);
      s.inputs.clear();
      for (int n : s.nodes) {
        for (int v : g.nodes[static_cast<size_t>(n)].inputs) {
          std::string r = collect(v, in_seg, s.inputs, seen);
          if (!r.empty()) {
            place[static_cast<size_t>(n)] = kTorch;
            reason[static_cast<size_t>(n)] = r;
            changed = true;
          }
        }
      }
      for (int v : s.inputs) used_by_other_kiln[static_cast<size_t>(v)] = true;
    }
    if (changed) return true;
    for (Segment& s : segments) {
      if (!s.kiln) continue;
      s.outputs.clear();
      for (int n : s.nodes) {
        for (int v : g.nodes[static_cast<size_t>(n)].outputs) {
          if (!torch_needed[static_cast<size_t>(v)] && !used_by_other_kiln[static_cast<size_t>(v)])
            continue;
          if (g.values[static_cast<size_t>(v)].kind != ValueKind::kTensor) {
            place[static_cast<size_t>(n)] = kTorch;
            reason[static_cast<size_t>(n)] =
                std::string("its ") + value_kind_name(g.values[static_cast<size_t>(v)].kind) +
                " output is used by PyTorch";
            changed = true;
            continue;
          }
          s.outputs.push_back(v);
        }
      }
    }
    return changed;
  }

  bool enforce_min_block() {
    if (opt.require_full_compilation) return false;
    bool changed = false;
    for (const Segment& s : segments) {
      if (!s.kiln || static_cast<int>(s.nodes.size()) >= opt.min_block_size) continue;
      for (int n : s.nodes) {
        place[static_cast<size_t>(n)] = kTorch;
        reason[static_cast<size_t>(n)] = "in a block of " + std::to_string(s.nodes.size()) +
                                         " nodes, below min_block_size " +
                                         std::to_string(opt.min_block_size);
      }
      changed = true;
    }
    return changed;
  }

  Status run() {
    initial_support();
    for (int round = 0; round < 1000; ++round) {
      segment();
      if (check_borders()) continue;
      if (enforce_min_block()) continue;
      break;
    }
    if (opt.require_full_compilation) {
      std::map<std::string, std::pair<int, std::string>> bad;
      for (size_t i = 0; i < g.nodes.size(); ++i) {
        if (place[i] != kTorch) continue;
        auto& e = bad[g.nodes[i].op];
        ++e.first;
        if (e.second.empty()) e.second = reason[i];
      }
      if (!bad.empty()) {
        std::string msg = "require_full_compilation is set but these ops cannot run in Kiln:";
        for (const auto& [op, e] : bad)
          msg += "\n  " + op + " (x" + std::to_string(e.first) + "): " + e.second;
        return perr(StatusCode::kUnsupported, msg);
      }
    }
    compute_torch_needed();
    return {};
  }
};

// An engine input is named after its value, so run-time errors name the model's input ("x", from
// forward()'s signature or the TorchScript debug name "x.1"); "input_<i>" when that is no
// identifier.
std::string engine_input_name(const std::string& value_name, size_t i,
                              const std::vector<std::string>& taken) {
  std::string base = value_name.substr(0, value_name.find('.'));
  for (char& c : base)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') c = '_';
  if (base.empty() || std::isdigit(static_cast<unsigned char>(base[0])) ||
      base.rfind("output_", 0) == 0)
    base = "input_" + std::to_string(i);
  std::string name = base;
  for (int k = 1; std::find(taken.begin(), taken.end(), name) != taken.end(); ++k)
    name = base + "_" + std::to_string(k);
  return name;
}

// Converts one Kiln segment into a network and builds it.
Status build_segment(const OpGraph& g, const std::vector<Place>& place, const PartitionOptions& opt,
                     Segment& s) {
  const ConverterRegistry& reg = converter_registry();
  kiln::Network net;
  ConversionCtx ctx(net, g);
  ctx.keep_float64 = opt.builder.backend == "cpu";
  OptimizationProfile profile;
  for (size_t i = 0; i < s.inputs.size(); ++i) {
    const Value& v = g.values[static_cast<size_t>(s.inputs[i])];
    const TensorMeta& m = *v.meta;
    Dims d, lo, mid, hi;
    for (size_t k = 0; k < m.opt.size(); ++k) {
      // Intermediate dims need not grow with the inputs: take the range of the three samples.
      int64_t a = std::min({m.min[k], m.opt[k], m.max[k]}),
              b = std::max({m.min[k], m.opt[k], m.max[k]});
      d.push_back(a == b ? a : kDynamic);
      lo.push_back(a);
      mid.push_back(m.opt[k]);
      hi.push_back(b);
    }
    std::string name = engine_input_name(v.name, i, s.input_names);
    KILN_ASSIGN_OR_RETURN(auto t, net.add_input(name, *to_kiln_dtype(m.dtype), d));
    if (!d.is_static()) profile.set(name, lo, mid, hi);
    ctx.set_value(s.inputs[i], Arg::tensor(t));
    s.input_names.push_back(name);
  }
  // Converter errors name their node: those from the Network API and helpers come without it.
  auto convert = [&](const Node& n) { return ctx.error(n, reg.find(n.op)->convert(ctx, n)); };
  std::function<Status(int)> ensure = [&](int v) -> Status {
    if (v < 0 || ctx.has_value(v) || g.is_constant(v)) return {};
    int p = g.values[static_cast<size_t>(v)].producer;
    if (p < 0 || place[static_cast<size_t>(p)] != kEval)
      return perr(StatusCode::kInternal, "value '" + g.values[static_cast<size_t>(v)].name +
                                             "' is not available in " + s.name);
    const Node& n = g.nodes[static_cast<size_t>(p)];
    for (int u : n.inputs) KILN_RETURN_IF_ERROR(ensure(u));
    return convert(n);
  };
  for (int ni : s.nodes) {
    const Node& n = g.nodes[static_cast<size_t>(ni)];
    for (int u : n.inputs) KILN_RETURN_IF_ERROR(ensure(u));
    KILN_RETURN_IF_ERROR(convert(n));
    for (int o : n.outputs) {
      if (!ctx.has_value(o))
        return perr(StatusCode::kInternal, "converter for " + n.op + " did not produce output '" +
                                               g.values[static_cast<size_t>(o)].name + "'");
    }
  }
  std::vector<kiln::Tensor> marked;
  for (size_t i = 0; i < s.outputs.size(); ++i) {
    const Value& v = g.values[static_cast<size_t>(s.outputs[i])];
    const Arg& a = ctx.value(s.outputs[i]);
    kiln::Tensor t;
    if (a.is_tensor()) {
      t = a.tensor();
    } else if (a.is_constant() && a.ivalue().isTensor()) {
      KILN_ASSIGN_OR_RETURN(auto c, ctx.constant_tensor(a.ivalue().toTensor()));
      t = c;
    } else {
      return perr(StatusCode::kInternal,
                  "output '" + v.name + "' of " + s.name + " is not a tensor");
    }
    bool taken = false;
    for (const auto& m : marked) taken |= m == t;
    for (size_t k = 0; k < s.inputs.size(); ++k) taken |= ctx.value(s.inputs[k]).tensor() == t;
    KILN_ASSIGN_OR_RETURN(auto type, net.tensor_type(t));
    if (v.meta && to_kiln_dtype(v.meta->dtype) && *to_kiln_dtype(v.meta->dtype) != type.dtype) {
      KILN_ASSIGN_OR_RETURN(auto c, net.add_cast(t, *to_kiln_dtype(v.meta->dtype)));
      t = c;
      taken = false;
    }
    if (taken || type.dims.rank() < 0) {
      KILN_ASSIGN_OR_RETURN(auto c, net.add_identity(t));
      t = c;
    }
    std::string name = "output_" + std::to_string(i);
    KILN_RETURN_IF_ERROR(net.mark_output(t, name));
    marked.push_back(t);
    s.output_names.push_back(name);
  }
  BuilderConfig cfg = opt.builder;
  cfg.profiles.clear();
  if (!profile.ranges.empty()) cfg.profiles.push_back(profile);
  auto plan = Builder::build(net, cfg);
  if (!plan)
    return make_error(plan.status().code(), "partition", s.name + ": " + plan.status().message());
  s.plan = std::move(plan->bytes);
  return {};
}

}  // namespace

int PartitionResult::num_engines() const {
  int n = 0;
  for (const auto& s : segments) n += s.kiln;
  return n;
}

static Expected<PartitionResult> plan_impl(const OpGraph& g, const PartitionOptions& options,
                                           Planner& p) {
  KILN_RETURN_IF_ERROR(p.run());
  PartitionResult r;
  r.segments = p.segments;
  r.torch_needed = p.torch_needed;
  int k = 0;
  for (auto& s : r.segments)
    if (s.kiln) s.name = "kiln_engine_" + std::to_string(k++);
  for (size_t i = 0; i < g.nodes.size(); ++i)
    r.support.push_back({static_cast<int>(i), g.nodes[i].op, p.place[i] == kKiln,
                         p.place[i] == kEval, p.reason[i]});
  return r;
}

Expected<PartitionResult> plan_partition(const OpGraph& g, const PartitionOptions& options) {
  Planner p{g, options};
  return plan_impl(g, options, p);
}

Expected<PartitionResult> partition_and_build(const OpGraph& g, const PartitionOptions& options) {
  Planner p{g, options};
  KILN_ASSIGN_OR_RETURN(auto r, plan_impl(g, options, p));
  int n = r.num_engines(), i = 0;
  for (auto& s : r.segments) {
    if (!s.kiln) continue;
    if (options.progress)
      options.progress(i, n,
                       s.name + " (" + std::to_string(s.nodes.size()) +
                           (s.nodes.size() == 1 ? " op)" : " ops)"));
    KILN_RETURN_IF_ERROR(build_segment(g, p.place, options, s));
    ++i;
  }
  if (options.progress) options.progress(n, n, "done");
  return r;
}

std::string support_report(const OpGraph& g, const PartitionResult& r) {
  std::map<std::string, std::array<int, 3>> counts;  // kiln, torch, evaluator
  std::map<std::string, std::string> why;
  for (const auto& s : r.support) {
    auto& c = counts[s.op];
    if (s.evaluator) {
      ++c[2];
    } else if (s.kiln) {
      ++c[0];
    } else {
      ++c[1];
      if (why[s.op].empty()) why[s.op] = s.reason;
    }
  }
  std::ostringstream os;
  int kiln = 0, torch = 0;
  for (const auto& [op, c] : counts) {
    kiln += c[0];
    torch += c[1];
  }
  os << "Kiln: " << kiln << " nodes in " << r.num_engines() << " engine(s); PyTorch: " << torch
     << " nodes\n";
  for (const auto& [op, c] : counts) {
    os << "  " << op << ": ";
    if (c[2]) os << c[2] << " evaluated";
    if (c[0]) os << c[0] << " in Kiln";
    if (c[1]) os << (c[0] ? ", " : "") << c[1] << " in PyTorch (" << why[op] << ")";
    os << "\n";
  }
  return os.str();
}

std::string node_origin(const OpGraph& g, int n) {
  const std::string& src = g.nodes[static_cast<size_t>(n)].source;
  size_t at = src.rfind("  # ");
  return at == std::string::npos ? src : src.substr(at + 4);
}

std::string fallback_summary(const OpGraph& g, const PartitionResult& r, size_t max_lines) {
  std::vector<const NodeSupport*> torch;
  int kiln = 0;
  for (const auto& s : r.support) {
    if (s.evaluator) continue;
    if (s.kiln)
      ++kiln;
    else
      torch.push_back(&s);
  }
  if (torch.empty()) return "";
  std::ostringstream os;
  os << torch.size() << " of " << torch.size() + static_cast<size_t>(kiln)
     << " ops run in PyTorch (" << kiln << " in " << r.num_engines() << " Kiln engine(s)):";
  for (size_t i = 0; i < torch.size() && i < max_lines; ++i) {
    std::string where = node_origin(g, torch[i]->node);
    os << "\n  " << torch[i]->op << (where.empty() ? "" : " at " + where) << ": "
       << torch[i]->reason;
  }
  if (torch.size() > max_lines)
    os << "\n  ... and " << torch.size() - max_lines << " more (kiln.report shows every one)";
  return os.str();
}

}  // namespace kiln::bridge
