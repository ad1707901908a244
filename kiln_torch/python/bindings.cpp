// kiln._C: Python bindings of the torch bridge.
//
//   OpGraph           build the frontend-neutral graph from Python (the torch.export / FX frontend)
//   partition()       plan_partition / partition_and_build + support_report on such a graph
//   ts_compile() ...  the TorchScript compile API (kiln::torchscript) on a torch._C.ScriptModule
//   set_log_level()   the level of the logger every build from Python reports to; a Python sink
//   install_engine_export_hooks()  adds __obj_flatten__ to torch.classes.kiln.Engine so
//   torch.export
//                     can fakify it (see python/kiln/_fake.py)
//
//   set_error_classes()  kiln/_errors.py's KilnError subclass per StatusCode, for compiling and
//   running
//
// Errors from Kiln come back as (code, message) pairs (partition) or raise the registered class of
// their StatusCode, here and in libkiln_runtime's engine class: Python never parses a message for
// it.
#include <pybind11/functional.h>
#include <pybind11/stl.h>
#include <torch/csrc/Device.h>
#include <torch/csrc/Dtype.h>
#include <torch/csrc/Exceptions.h>
#include <torch/csrc/Layout.h>
#include <torch/csrc/MemoryFormat.h>
#include <torch/csrc/autograd/python_variable.h>
#include <torch/csrc/jit/python/pybind_utils.h>
#include <torch/csrc/utils/pybind.h>
#include <torch/custom_class.h>
#include <torch/script.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "api/compile_spec.h"
#include "converters/converter.h"
#include "converters/dtype_map.h"
#include "graph/op_graph.h"
#include "kiln/builder.h"
#include "kiln/logger.h"
#include "partition/partitioner.h"
#include "report/html_report.h"
#include "runtime/engine_class.h"

namespace py = pybind11;

namespace kiln::python {
namespace {

using bridge::OpGraph;
using bridge::ValueKind;

// ---- logging
// ------------------------------------------------------------------------------------------ Every
// build started from Python reports here. The level is set at run time (kiln.logging); messages go
// to a Python callable when one is set (kiln.logging forwards them to the "kiln" logger), else to
// stderr like the engine's default logger.
class PyLogger final : public Logger {
 public:
  void log(Severity severity, std::string_view message) override {
    if (static_cast<int>(severity) > level_.load()) return;
    // The sink is only touched with the GIL held (set_sink is called from Python).
    if (has_sink_.load() && Py_IsInitialized()) {
      py::gil_scoped_acquire gil;
      if (sink_) {
        try {
          (*sink_)(static_cast<int>(severity), std::string(message));
          return;
        } catch (py::error_already_set& e) {
          e.discard_as_unraisable("kiln log sink");
        }
      }
    }
    static constexpr char kTags[] = {'E', 'W', 'I', 'V'};
    std::lock_guard<std::mutex> lock(mu_);
    std::fprintf(stderr, "[kiln %c] %.*s\n", kTags[static_cast<int>(severity) & 3],
                 static_cast<int>(message.size()), message.data());
  }
  void set_level(int level) { level_ = std::clamp(level, 0, 3); }
  int level() const { return level_.load(); }
  void set_sink(py::object sink) {  // GIL held
    if (sink.is_none()) {
      has_sink_ = false;
      sink_.reset();
    } else {
      sink_ = std::make_unique<py::object>(std::move(sink));
      has_sink_ = true;
    }
  }

 private:
  std::atomic<int> level_{static_cast<int>(log_level_from_env())};
  std::atomic<bool> has_sink_{false};
  std::mutex mu_;
  std::unique_ptr<py::object> sink_;
};

PyLogger& py_logger() {
  static auto* logger = new PyLogger();  // leaked: must outlive interpreter teardown
  return *logger;
}

// ---- errors ----
py::tuple status_tuple(const Status& s) {
  return py::make_tuple(std::string(status_code_name(s.code())), s.message());
}

// One class per code and phase, registered once by kiln/_errors.py at import (GIL held) and kept
// for the life of the process; the run table is read by engine threads without the GIL.
constexpr size_t kNumCodes = static_cast<size_t>(StatusCode::kInternal) + 1;
struct ErrorClasses {
  std::array<std::atomic<PyObject*>, kNumCodes> compile{}, run{};
};

ErrorClasses& error_classes() {
  static auto* classes = new ErrorClasses();  // leaked: must outlive interpreter teardown
  return *classes;
}

PyObject* error_class(StatusCode code, bool compiling) {
  auto i = static_cast<size_t>(code);
  auto& table = compiling ? error_classes().compile : error_classes().run;
  PyObject* cls = i < kNumCodes ? table[i].load() : nullptr;
  return cls != nullptr ? cls : PyExc_RuntimeError;
}

// Raises the compile-phase class of s's code with s's message (GIL held).
[[noreturn]] void raise(const Status& s) {
  PyErr_SetString(error_class(s.code(), /*compiling=*/true), s.message().c_str());
  throw py::error_already_set();
}

// What libkiln_runtime throws while kiln._C is loaded: torch's op bindings turn a PyTorchError into
// its python_type(), so a failing engine raises e.g. kiln.ShapeError from
// torch.ops.kiln.execute_engine. Needs no GIL to throw (the engine may fail on a thread without
// it).
struct RuntimeFailure final : torch::PyTorchError {
  RuntimeFailure(std::string message, PyObject* type)
      : PyTorchError(std::move(message)), type_(type) {}
  PyObject* python_type() override { return type_; }
  PyObject* type_;
};

[[noreturn]] void throw_runtime_failure(const std::string& message, StatusCode code) {
  throw RuntimeFailure(message, error_class(code, /*compiling=*/false));
}

std::vector<std::string> status_code_names() {
  std::vector<std::string> names;
  for (size_t i = 1; i < kNumCodes; ++i)
    names.emplace_back(status_code_name(static_cast<StatusCode>(i)));
  return names;
}

// {code name: class} for both phases; every code must be present.
void set_error_classes(const py::dict& compile, const py::dict& run) {
  for (size_t i = 1; i < kNumCodes; ++i) {
    std::string name(status_code_name(static_cast<StatusCode>(i)));
    for (const py::dict* table : {&compile, &run}) {
      if (!table->contains(name))
        throw py::key_error("set_error_classes: no class for status code " + name);
      py::object cls = (*table)[py::str(name)];
      if (!PyType_Check(cls.ptr()) ||
          !PyType_IsSubtype(reinterpret_cast<PyTypeObject*>(cls.ptr()),
                            reinterpret_cast<PyTypeObject*>(PyExc_Exception)))
        throw py::type_error("set_error_classes: the class for " + name +
                             " is not an exception type");
    }
    auto& slots = error_classes();
    slots.compile[i].store(
        py::object(compile[py::str(name)]).release().ptr());  // strong refs, kept forever
    slots.run[i].store(py::object(run[py::str(name)]).release().ptr());
  }
  bridge::set_failure_handler(&throw_runtime_failure);
}

// ---- values ----
ValueKind parse_kind(const std::string& k) {
  static const std::map<std::string, ValueKind> kKinds = {
      {"tensor", ValueKind::kTensor},
      {"int", ValueKind::kInt},
      {"float", ValueKind::kFloat},
      {"bool", ValueKind::kBool},
      {"none", ValueKind::kNone},
      {"string", ValueKind::kString},
      {"device", ValueKind::kDevice},
      {"scalar_type", ValueKind::kScalarType},
      {"int_list", ValueKind::kIntList},
      {"float_list", ValueKind::kFloatList},
      {"bool_list", ValueKind::kBoolList},
      {"tensor_list", ValueKind::kTensorList},
      {"optional_tensor_list", ValueKind::kOptionalTensorList},
      {"tuple", ValueKind::kTuple},
      {"other", ValueKind::kOther},
  };
  auto it = kKinds.find(k);
  if (it == kKinds.end()) throw py::value_error("unknown value kind '" + k + "'");
  return it->second;
}

c10::IValue to_ivalue(py::handle obj, ValueKind kind);

c10::IValue list_to_ivalue(py::handle obj, ValueKind kind) {
  std::vector<py::handle> items;
  for (py::handle h : obj) items.push_back(h);
  bool is_tuple = py::isinstance<py::tuple>(obj);
  auto all = [&](auto pred) {
    for (py::handle h : items)
      if (!pred(h)) return false;
    return true;
  };
  auto is_bool = [](py::handle h) { return PyBool_Check(h.ptr()); };
  auto is_int = [](py::handle h) { return PyLong_Check(h.ptr()) && !PyBool_Check(h.ptr()); };
  auto is_num = [&](py::handle h) { return is_int(h) || PyFloat_Check(h.ptr()); };
  auto is_tensor = [](py::handle h) { return THPVariable_Check(h.ptr()); };
  auto is_opt_tensor = [](py::handle h) { return h.is_none() || THPVariable_Check(h.ptr()); };
  if (kind == ValueKind::kTuple || (is_tuple && kind == ValueKind::kOther)) {
    std::vector<c10::IValue> elems;
    for (py::handle h : items) elems.push_back(to_ivalue(h, ValueKind::kOther));
    return c10::ivalue::Tuple::create(std::move(elems));
  }
  if (kind == ValueKind::kIntList || (kind == ValueKind::kOther && !items.empty() && all(is_int))) {
    std::vector<int64_t> v;
    for (py::handle h : items) v.push_back(py::cast<int64_t>(h));
    return c10::IValue(v);
  }
  if (kind == ValueKind::kFloatList ||
      (kind == ValueKind::kOther && !items.empty() && all(is_num) && !all(is_bool))) {
    std::vector<double> v;
    for (py::handle h : items) v.push_back(py::cast<double>(h));
    return c10::IValue(v);
  }
  if (kind == ValueKind::kBoolList ||
      (kind == ValueKind::kOther && !items.empty() && all(is_bool))) {
    c10::List<bool> v;
    for (py::handle h : items) v.push_back(py::cast<bool>(h));
    return c10::IValue(v);
  }
  if (kind == ValueKind::kTensorList ||
      (kind == ValueKind::kOther && !items.empty() && all(is_tensor))) {
    c10::List<at::Tensor> v;
    for (py::handle h : items) v.push_back(py::cast<at::Tensor>(h));
    return c10::IValue(v);
  }
  if (kind == ValueKind::kOptionalTensorList ||
      (kind == ValueKind::kOther && !items.empty() && all(is_opt_tensor))) {
    c10::List<std::optional<at::Tensor>> v;
    for (py::handle h : items)
      v.push_back(h.is_none() ? std::optional<at::Tensor>() : py::cast<at::Tensor>(h));
    return c10::IValue(v);
  }
  if (items.empty()) return c10::IValue(std::vector<int64_t>{});
  c10::impl::GenericList v(c10::AnyType::get());
  for (py::handle h : items) v.push_back(to_ivalue(h, ValueKind::kOther));
  return c10::IValue(v);
}

c10::IValue to_ivalue(py::handle obj, ValueKind kind) {
  PyObject* p = obj.ptr();
  if (obj.is_none()) return c10::IValue();
  if (PyBool_Check(p)) return c10::IValue(py::cast<bool>(obj));
  if (THPVariable_Check(p)) return c10::IValue(py::cast<at::Tensor>(obj));
  if (PyLong_Check(p)) return c10::IValue(py::cast<int64_t>(obj));
  if (PyFloat_Check(p)) return c10::IValue(py::cast<double>(obj));
  if (PyUnicode_Check(p)) return c10::IValue(py::cast<std::string>(obj));
  if (THPDtype_Check(p))
    return c10::IValue(static_cast<int64_t>(reinterpret_cast<THPDtype*>(p)->scalar_type));
  if (THPLayout_Check(p))
    return c10::IValue(static_cast<int64_t>(reinterpret_cast<THPLayout*>(p)->layout));
  if (THPMemoryFormat_Check(p))
    return c10::IValue(static_cast<int64_t>(reinterpret_cast<THPMemoryFormat*>(p)->memory_format));
  if (THPDevice_Check(p)) return c10::IValue(reinterpret_cast<THPDevice*>(p)->device);
  if (PyList_Check(p) || PyTuple_Check(p)) return list_to_ivalue(obj, kind);
  throw py::type_error(std::string("kiln: cannot turn a constant of type ") + Py_TYPE(p)->tp_name +
                       " into a graph constant");
}

py::object from_ivalue(const c10::IValue& v) { return torch::jit::toPyObject(v); }

// A Python-built OpGraph.
struct PyOpGraph {
  OpGraph g;

  int add_value(const std::string& name, const std::string& kind, py::object constant,
                bool has_constant) {
    bridge::Value v;
    v.name = name;
    v.kind = parse_kind(kind);
    if (has_constant) {
      v.constant = to_ivalue(constant, v.kind);
      if (v.constant->isNone()) v.kind = ValueKind::kNone;
    }
    return g.add_value(std::move(v));
  }

  void check_value(int v) const {
    if (v < 0 || static_cast<size_t>(v) >= g.values.size())
      throw py::index_error("value id " + std::to_string(v) + " out of range");
  }

  void set_meta(int v, at::ScalarType dtype, std::vector<int64_t> min, std::vector<int64_t> opt,
                std::vector<int64_t> max) {
    check_value(v);
    if (min.size() != opt.size() || opt.size() != max.size())
      throw py::value_error("min/opt/max ranks differ");
    g.values[static_cast<size_t>(v)].meta =
        bridge::TensorMeta{dtype, std::move(min), std::move(opt), std::move(max)};
  }

  int add_node(const std::string& op, const std::vector<int>& inputs,
               const std::vector<int>& outputs, const std::string& source, int64_t frontend_index) {
    int index = static_cast<int>(g.nodes.size());
    for (int v : inputs)
      if (v >= 0) check_value(v);
    for (int v : outputs) {
      check_value(v);
      auto& val = g.values[static_cast<size_t>(v)];
      if (val.producer >= 0)
        throw py::value_error("value '" + val.name + "' already has a producer");
      val.producer = index;
    }
    bridge::Node n;
    n.op = op;
    n.inputs = inputs;
    n.outputs = outputs;
    n.source = source;
    n.frontend_index = frontend_index;
    g.nodes.push_back(std::move(n));
    return index;
  }
};

// ---- options ----
Precision parse_precision(const std::string& p) {
  if (p == "fp32") return Precision::kFP32;
  if (p == "tf32") return Precision::kTF32;
  if (p == "fp16") return Precision::kFP16;
  if (p == "bf16") return Precision::kBF16;
  if (p == "int8") return Precision::kINT8;
  if (p == "fp8") return Precision::kFP8;
  throw py::value_error("unknown precision '" + p + "'");
}

void check_switch(const Status& s) {
  if (!s.ok()) throw py::value_error(s.message());
}

// Build switches: the KILN_* environment first (existing scripts set it), then the options dict.
void apply_switches(const py::dict& o, BuildSwitches& sw, std::string& dump_ir_dir) {
  for (std::string_view name : kBuildVariables) {
    const char* v = std::getenv(std::string(name).c_str());
    if (v != nullptr) check_switch(apply_build_variable(sw, name, v));
  }
  if (const char* dir = std::getenv("KILN_DUMP_IR")) dump_ir_dir = dir;
  auto has = [&](const char* key) { return o.contains(key) && !o[key].is_none(); };
  auto text = [&](const char* key) { return py::cast<std::string>(o[key]); };
  if (has("layout")) check_switch(apply_build_variable(sw, "KILN_LAYOUT", text("layout")));
  if (has("fuse_epilogues")) sw.fuse_epilogues = py::cast<bool>(o["fuse_epilogues"]);
  if (has("fuse_pointwise")) sw.fuse_pointwise = py::cast<bool>(o["fuse_pointwise"]);
  if (has("conv_impl")) check_switch(apply_build_variable(sw, "KILN_CONV_IMPL", text("conv_impl")));
  if (has("cudnn_legacy_only")) sw.cudnn_legacy_only = py::cast<bool>(o["cudnn_legacy_only"]);
  if (has("disabled_passes")) {
    for (const auto& name : py::cast<std::vector<std::string>>(o["disabled_passes"]))
      sw.disabled_passes.push_back(name);
  }
  if (has("dump_ir_dir")) dump_ir_dir = text("dump_ir_dir");
}

BuilderConfig builder_config(const py::dict& o) {
  BuilderConfig cfg;
  if (o.contains("backend")) cfg.backend = py::cast<std::string>(o["backend"]);
  if (o.contains("device")) cfg.device = py::cast<int>(o["device"]);
  if (o.contains("precisions")) {
    cfg.enabled_precisions.clear();
    for (const auto& p : py::cast<std::vector<std::string>>(o["precisions"]))
      cfg.enabled_precisions.push_back(parse_precision(p));
  }
  if (o.contains("workspace_size")) cfg.workspace_limit = py::cast<uint64_t>(o["workspace_size"]);
  if (o.contains("optimization_level"))
    cfg.optimization_level = py::cast<int>(o["optimization_level"]);
  if (o.contains("timing_cache_path") && !o["timing_cache_path"].is_none())
    cfg.timing_cache_path = py::cast<std::string>(o["timing_cache_path"]);
  if (o.contains("kernel_cache_dir") && !o["kernel_cache_dir"].is_none())
    cfg.kernel_cache_dir = py::cast<std::string>(o["kernel_cache_dir"]);
  apply_switches(o, cfg.switches, cfg.dump_ir_dir);
  cfg.logger = &py_logger();
  return cfg;
}

bridge::PartitionOptions partition_options(const py::dict& o) {
  bridge::PartitionOptions opt;
  if (o.contains("min_block_size")) opt.min_block_size = py::cast<int>(o["min_block_size"]);
  if (o.contains("torch_executed_ops")) {
    for (const auto& s : py::cast<std::vector<std::string>>(o["torch_executed_ops"]))
      opt.torch_executed_ops.insert(s);
  }
  if (o.contains("require_full_compilation"))
    opt.require_full_compilation = py::cast<bool>(o["require_full_compilation"]);
  opt.builder = builder_config(o);
  return opt;
}

at::Tensor bytes_tensor(const std::vector<uint8_t>& b) {
  at::Tensor t = at::empty({static_cast<int64_t>(b.size())}, at::TensorOptions().dtype(at::kByte));
  if (!b.empty()) std::memcpy(t.data_ptr<uint8_t>(), b.data(), b.size());
  return t;
}

py::dict result_dict(const OpGraph& g, const bridge::PartitionResult& r) {
  py::dict out;
  py::list segments;
  for (const auto& s : r.segments) {
    py::dict d;
    d["kiln"] = s.kiln;
    d["nodes"] = s.nodes;
    d["inputs"] = s.inputs;
    d["outputs"] = s.outputs;
    d["plan"] = s.plan.empty() ? py::object(py::none()) : py::cast(bytes_tensor(s.plan));
    d["input_names"] = s.input_names;
    d["output_names"] = s.output_names;
    d["name"] = s.name;
    segments.append(d);
  }
  out["segments"] = segments;
  py::list support;
  for (const auto& s : r.support)
    support.append(py::make_tuple(s.node, s.op, s.kiln, s.evaluator, s.reason));
  out["support"] = support;
  out["torch_needed"] = r.torch_needed;
  out["report"] = bridge::support_report(g, r);
  out["fallback_summary"] = bridge::fallback_summary(g, r);
  // Nodes and segments; kiln.report adds the engines from the live modules (and their times).
  out["report_json"] = bridge::report_json(g, r, "", "torch.export", "", /*with_engines=*/false);
  out["num_engines"] = r.num_engines();
  return out;
}

// Returns {"error": (code, message)} or the result dict.
py::dict partition(PyOpGraph& pg, bool build, const py::dict& options, py::object progress) {
  bridge::PartitionOptions opt = partition_options(options);
  if (!progress.is_none()) {
    auto fn = std::make_shared<py::object>(progress);
    opt.progress = [fn](int i, int n, const std::string& name) {
      py::gil_scoped_acquire gil;
      try {
        (*fn)(i, n, name);
      } catch (py::error_already_set& e) {
        e.discard_as_unraisable("kiln progress callback");
      }
    };
  }
  Expected<bridge::PartitionResult> r = Status{};
  {
    py::gil_scoped_release nogil;
    r = build ? bridge::partition_and_build(pg.g, opt) : bridge::plan_partition(pg.g, opt);
  }
  opt.progress = nullptr;
  if (!r) {
    py::dict e;
    e["error"] = status_tuple(r.status());
    return e;
  }
  return result_dict(pg.g, *r);
}

// ---- TorchScript API ----
torchscript::CompileSpec ts_spec(const py::dict& o) {
  torchscript::CompileSpec spec;
  if (o.contains("inputs")) {
    for (py::handle h : o["inputs"]) {
      auto t = py::cast<py::tuple>(h);  // (min, opt, max, dtype, format)
      torchscript::Input in(py::cast<std::vector<int64_t>>(t[0]),
                            py::cast<std::vector<int64_t>>(t[1]),
                            py::cast<std::vector<int64_t>>(t[2]), py::cast<at::ScalarType>(t[3]));
      in.format = py::cast<std::string>(t[4]) == "channels_last"
                      ? torchscript::TensorFormat::kChannelsLast
                      : torchscript::TensorFormat::kContiguous;
      spec.inputs.push_back(std::move(in));
    }
  }
  if (o.contains("precisions")) {
    spec.enabled_precisions.clear();
    for (const auto& p : py::cast<std::vector<std::string>>(o["precisions"]))
      spec.enabled_precisions.insert(parse_precision(p));
  }
  if (o.contains("min_block_size")) spec.min_block_size = py::cast<int>(o["min_block_size"]);
  if (o.contains("torch_executed_ops"))
    spec.torch_executed_ops = py::cast<std::vector<std::string>>(o["torch_executed_ops"]);
  if (o.contains("require_full_compilation"))
    spec.require_full_compilation = py::cast<bool>(o["require_full_compilation"]);
  if (o.contains("backend"))
    spec.device.type = py::cast<std::string>(o["backend"]) == "cuda"
                           ? torchscript::DeviceType::kCUDA
                           : torchscript::DeviceType::kCPU;
  if (o.contains("device")) spec.device.gpu_id = py::cast<int>(o["device"]);
  if (o.contains("workspace_size")) spec.workspace_size = py::cast<uint64_t>(o["workspace_size"]);
  if (o.contains("optimization_level"))
    spec.optimization_level = py::cast<int>(o["optimization_level"]);
  if (o.contains("timing_cache_path") && !o["timing_cache_path"].is_none())
    spec.timing_cache_path = py::cast<std::string>(o["timing_cache_path"]);
  if (o.contains("kernel_cache_dir") && !o["kernel_cache_dir"].is_none())
    spec.kernel_cache_dir = py::cast<std::string>(o["kernel_cache_dir"]);
  apply_switches(o, spec.switches, spec.dump_ir_dir);
  spec.log_level = static_cast<Severity>(py_logger().level());
  spec.logger = &py_logger();  // Python's logging, with each message's severity
  return spec;
}

void set_ts_progress(torchscript::CompileSpec& spec, py::object progress) {
  if (progress.is_none()) return;
  auto fn = std::make_shared<py::object>(progress);
  spec.progress = [fn](int i, int n, const std::string& name) {
    py::gil_scoped_acquire gil;
    try {
      (*fn)(i, n, name);
    } catch (py::error_already_set& e) {
      e.discard_as_unraisable("kiln progress callback");
    }
  };
}

// (compiled module, the compile report's data as JSON).
std::pair<torch::jit::Module, std::string> ts_compile(const torch::jit::Module& m,
                                                      const py::dict& options,
                                                      py::object progress) {
  torchscript::CompileSpec spec = ts_spec(options);
  set_ts_progress(spec, progress);
  Expected<torch::jit::Module> r = Status{};
  std::string report;
  {
    py::gil_scoped_release nogil;
    // kiln.report reads the engines from the compiled module, not from a second load of each plan.
    r = torchscript::compile(m, spec, &report, /*report_engines=*/false);
  }
  if (!r) raise(r.status());
  return {*r, report};
}

std::string ts_check_support(const torch::jit::Module& m, const std::string& method,
                             const py::dict& options) {
  torchscript::CompileSpec spec = ts_spec(options);
  Expected<std::string> r = Status{};
  {
    py::gil_scoped_release nogil;
    r = torchscript::check_method_support(m, method, spec);
  }
  if (!r) raise(r.status());
  return *r;
}

at::Tensor ts_convert_method_to_plan(const torch::jit::Module& m, const std::string& method,
                                     const py::dict& options) {
  torchscript::CompileSpec spec = ts_spec(options);
  Expected<std::vector<uint8_t>> r = Status{};
  {
    py::gil_scoped_release nogil;
    r = torchscript::convert_method_to_plan(m, method, spec);
  }
  if (!r) raise(r.status());
  return bytes_tensor(*r);
}

// ---- torch.export support for kiln.Engine
// ------------------------------------------------------------- torch.export fakifies TorchBind
// objects through their __obj_flatten__ method (a tuple of (name, value) pairs) and the fake class
// registered in Python (__obj_unflatten__). The engine class in libkiln_runtime predates that, so
// the method is added here to the registered class type.
using FlatEngine =
    std::tuple<std::tuple<std::string, std::string>,
               std::tuple<std::string, std::vector<std::string>>,
               std::tuple<std::string, std::vector<std::string>>,
               std::tuple<std::string, std::vector<int64_t>>, std::tuple<std::string, std::string>>;

bool install_engine_export_hooks() {
  using Self = bridge::TorchEngine;
  at::ClassTypePtr cls;
  try {
    cls = torch::getCustomClass("__torch__.torch.classes.kiln.Engine");
  } catch (const std::exception&) {
    return false;
  }
  if (!cls) return false;
  if (cls->findMethod("__obj_flatten__") != nullptr) return true;
  auto fn = [](const c10::intrusive_ptr<Self>& self) -> FlatEngine {
    return FlatEngine{{"name", self->name()},
                      {"input_names", self->input_names()},
                      {"output_names", self->output_names()},
                      {"output_dtypes", self->output_dtypes()},
                      {"backend", self->backend()}};
  };
  auto wrapped = torch::detail::wrap_func<Self, decltype(fn)>(std::move(fn));
  using Wrapped = decltype(wrapped);
  auto schema = c10::inferFunctionSchemaSingleReturn<Wrapped>("__obj_flatten__", "");
  auto boxed = [f = std::move(wrapped)](torch::jit::Stack& stack) mutable -> void {
    using RetType = typename c10::guts::infer_function_traits_t<Wrapped>::return_type;
    torch::detail::BoxedProxy<RetType, Wrapped>()(stack, f);
  };
  auto method = std::make_unique<torch::jit::BuiltinOpFunction>(
      cls->name()->qualifiedName() + ".__obj_flatten__", std::move(schema), std::move(boxed), "");
  cls->addMethod(method.get());
  torch::registerCustomClassMethod(std::move(method));
  return true;
}

}  // namespace
}  // namespace kiln::python

PYBIND11_MODULE(_C, m) {
  using namespace kiln::python;
  m.doc() =
      "Kiln native bindings (torch bridge). Use the `kiln` package, not this module directly.";
  m.attr("torch_version") = KILN_TORCH_VERSION;
  m.attr("kiln_version") = kiln::version();
#ifdef KILN_WITH_CUDA
  m.attr("with_cuda") = true;
#else
  m.attr("with_cuda") = false;
#endif
  // torch's op bindings translate a PyTorchError themselves; this covers calls that reach pybind11
  // directly.
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const RuntimeFailure& e) {
      PyErr_SetString(e.type_, e.what());
    }
  });
  m.def("status_code_names", &status_code_names,
        "names of kiln::StatusCode values, kOk excluded, in enum order");
  m.def(
      "set_error_classes", &set_error_classes, py::arg("compile"), py::arg("run"),
      "the exception class raised for each status code name while compiling / by a running engine");
  m.def("available_backends", &kiln::available_backends);
  m.def("default_backend", &kiln::default_backend);
  m.def(
      "converter_ops", [] { return kiln::bridge::converter_registry().ops(); },
      "overload names of every registered converter and evaluator");
  m.def("is_evaluator", [](const std::string& op) {
    const auto* info = kiln::bridge::converter_registry().find(op);
    return info != nullptr && info->evaluator;
  });
  m.def(
      "scalar_type", [](int64_t code) { return static_cast<at::ScalarType>(code); },
      "torch.dtype of a c10::ScalarType code (as returned by Engine.output_dtypes())");
  m.def("kiln_dtype_supported",
        [](at::ScalarType t) { return kiln::bridge::to_kiln_dtype(t).has_value(); });

  m.def(
      "set_log_level", [](int level) { py_logger().set_level(level); }, py::arg("level"),
      "0 error, 1 warning, 2 info, 3 verbose: the level of builds started from Python");
  m.def("get_log_level", [] { return py_logger().level(); });
  m.def(
      "set_log_sink", [](py::object sink) { py_logger().set_sink(std::move(sink)); },
      py::arg("sink"),
      "callable(severity:int, message:str) receiving build messages, or None for stderr");
  m.def("log", [](int severity, const std::string& msg) {
    py_logger().log(static_cast<kiln::Severity>(std::clamp(severity, 0, 3)), msg);
  });

  py::class_<PyOpGraph>(m, "OpGraph")
      .def(py::init<>())
      .def("add_value", &PyOpGraph::add_value, py::arg("name"), py::arg("kind"),
           py::arg("constant") = py::none(), py::arg("has_constant") = false)
      .def("set_meta", &PyOpGraph::set_meta, py::arg("value"), py::arg("dtype"), py::arg("min"),
           py::arg("opt"), py::arg("max"))
      .def("add_node", &PyOpGraph::add_node, py::arg("op"), py::arg("inputs"), py::arg("outputs"),
           py::arg("source") = "", py::arg("frontend_index") = -1)
      .def("set_inputs", [](PyOpGraph& g, std::vector<int> v) { g.g.inputs = std::move(v); })
      .def("set_outputs", [](PyOpGraph& g, std::vector<int> v) { g.g.outputs = std::move(v); })
      .def_property_readonly("num_values", [](const PyOpGraph& g) { return g.g.values.size(); })
      .def_property_readonly("num_nodes", [](const PyOpGraph& g) { return g.g.nodes.size(); })
      .def("node_op",
           [](const PyOpGraph& g, int i) { return g.g.nodes.at(static_cast<size_t>(i)).op; })
      .def("value_constant",
           [](const PyOpGraph& g, int v) -> py::object {
             const auto& val = g.g.values.at(static_cast<size_t>(v));
             return val.constant ? from_ivalue(*val.constant) : py::object(py::none());
           })
      .def("to_string", [](const PyOpGraph& g) { return g.g.to_string(); });

  m.def("partition", &partition, py::arg("graph"), py::arg("build"), py::arg("options"),
        py::arg("progress") = py::none(),
        "plan_partition (build=False) or partition_and_build (build=True); returns a dict, or "
        "{'error': (code, msg)}");

  m.def(
      "report_html",
      [](const std::string& data_json) { return kiln::bridge::report_html(data_json); },
      py::arg("data_json"),
      "The compile report page (one self-contained HTML file) for this data.");
  m.def("ts_compile", &ts_compile, py::arg("module"), py::arg("options"),
        py::arg("progress") = py::none());
  m.def("ts_check_method_support", &ts_check_support, py::arg("module"), py::arg("method"),
        py::arg("options"));
  m.def("ts_convert_method_to_plan", &ts_convert_method_to_plan, py::arg("module"),
        py::arg("method"), py::arg("options"));

  m.def("install_engine_export_hooks", &install_engine_export_hooks,
        "adds __obj_flatten__ to torch.classes.kiln.Engine (for torch.export); True when present");
}
