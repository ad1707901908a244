// kilnc: compile a TorchScript file into a TorchScript file with Kiln engines (or a raw plan).
#include <torch/script.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/compile_spec.h"
#include "converters/converter.h"
#include "converters/dtype_map.h"
#include "input_spec.h"
#include "report/html_report.h"
#include "torchtrtc_flags.h"

namespace {

const char* kHelp = R"help(kilnc - compile a TorchScript module with Kiln

usage: kilnc [options] INPUT.ts [OUTPUT] [INPUT_SPEC...]

  INPUT.ts                     a TorchScript file (torch.jit.save of a scripted or traced module)
  OUTPUT                       where to write the compiled module (TorchScript with Kiln engines);
                               with --plan, the raw engine plan bytes instead
  INPUT_SPEC                   forward()'s inputs in torchtrtc's positional form, "(1,3,224,224)@f16"

options (--opt VALUE or --opt=VALUE):
  -i, --input SPEC             one forward() input, in order; repeat per input. SPEC is SHAPE[@DTYPE][%FORMAT]:
                               SHAPE a static shape "1x3x224x224" or "(1,3,224,224)", or a range
                               "MIN;OPT;MAX" or "[(1,3,224,224);(8,3,224,224);(32,3,224,224)]";
                               DTYPE f32 (default) f16 bf16 i32 i64 i8 u8 bool (or torchtrtc's names:
                               float half int char ...); FORMAT contiguous (default) or channels_last
  -p, --precision P            enable a precision: fp32 (always on), fp16, bf16, tf32; repeatable
  -d, --device DEV             cuda, cuda:N, gpu or cpu (default cuda when available, else cpu)
      --gpu-id N               which GPU (cuda:N)
      --min-block-size N       smallest run of supported ops worth an engine (default 3)
      --torch-executed-op OP   keep OP (e.g. aten::relu) in PyTorch; repeatable
      --require-full-compilation
                               fail (listing the ops) unless everything runs in Kiln
      --check-support          only report which ops would run in Kiln and which in PyTorch
      --plan                   write the raw plan of the single engine (implies --require-full-compilation)
      --workspace BYTES        scratch memory limit per kernel (default: backend default)
  -O, --optimization-level N   0 (heuristics only) .. 5 (time most tactics); default 3
      --timing-cache PATH      persistent tactic timing cache
      --kernel-cache DIR       persistent compiled-kernel cache (generated kernels' cubins)
      --layout L               convolution layout: auto (default), nchw, nhwc
      --disable-fusion [pointwise|all]
                               no generated pointwise kernels, or no fusion at all (CUDA)
      --conv-impl I            only time these convolutions: graph, graph:fused, graph:act_after,
                               depthwise, depthwise:<1|4|8|16>
      --cudnn-legacy           only cuDNN's legacy convolution API
      --disable-pass NAME      skip a builder pass (see src/passes/pipeline.cpp); repeatable
      --dump-ir DIR            write the text IR after each builder pass into DIR
      --report FILE            also write the compile report: one self-contained HTML page with
                               which ops run in Kiln and which in PyTorch (and why) and each
                               engine's kernels, tactics and precisions
      --list-converters        print every op Kiln converts and exit
  -v, --verbose                info logging (-vv: verbose)
  -w, --warnings               errors only (no warnings)
  -q, --quiet                  errors only, no progress line
  -h, --help                   this text

torchtrtc's long flags work too: --enabled-precision, --device-type, --torch-executed-ops (--teo),
--min-block-size (--mbs), --workspace-size, --save-engine, --info, --gpu-id, --require-full-compilation;
those that change nothing in Kiln (--sparse-weights, --dla-core, --allow-gpu-fallback,
--num-avg-timing-iters, --disable-tf32, ...) are accepted with a warning, and those Kiln cannot honour
(--truncate-long-double, --calibration-cache-file, --torch-executed-mods, --threshold, ...) are errors
that say what to do instead.

environment: KILN_LAYOUT, KILN_FORCE_CHANNELS_LAST, KILN_DISABLE_FUSION, KILN_CONV_IMPL,
KILN_CUDNN_LEGACY, KILN_DISABLE_PASSES and KILN_DUMP_IR set the same build switches (the flags win);
the plan records the switches it was built with.

exit status: 0 on success, 1 on a compile error, 2 on bad arguments or files.
)help";

struct Args {
  std::string input, output, report;
  bool check_support = false, plan = false, list = false, quiet = false;
  int verbosity = 0;
  kiln::torchscript::CompileSpec spec;
};

[[noreturn]] void usage_error(const std::string& msg) {
  std::cerr << "kilnc: " << msg << "\n(see kilnc --help)\n";
  std::exit(2);
}

kiln::torchscript::Input parse_input(const std::string& arg) {
  auto spec = kiln::kilnc::parse_input_spec(arg);
  if (!spec) usage_error(spec.status().message().substr(std::string_view("[kilnc] ").size()));
  kiln::torchscript::Input in(spec->min_shape, spec->opt_shape, spec->max_shape,
                              kiln::bridge::to_torch_dtype(spec->dtype));
  in.format = spec->format == kiln::kilnc::InputFormat::kChannelsLast
                  ? kiln::torchscript::TensorFormat::kChannelsLast
                  : kiln::torchscript::TensorFormat::kContiguous;
  return in;
}

bool looks_like_spec(const std::string& arg) {
  return !arg.empty() && (arg[0] == '(' || arg[0] == '[');
}

// The environment's build switches (scripts such as bench/benchmark.py --variants set them); flags
// given later override them.
void apply_environment(kiln::torchscript::CompileSpec& spec) {
  for (std::string_view name : kiln::kBuildVariables) {
    const char* v = std::getenv(std::string(name).c_str());
    if (v == nullptr) continue;
    kiln::Status s = kiln::apply_build_variable(spec.switches, name, v);
    if (!s.ok()) usage_error(s.message());
  }
  if (const char* dir = std::getenv("KILN_DUMP_IR")) spec.dump_ir_dir = dir;
}

void set_switch(kiln::torchscript::CompileSpec& spec, std::string_view variable,
                const std::string& value) {
  kiln::Status s = kiln::apply_build_variable(spec.switches, variable, value);
  if (!s.ok()) usage_error(s.message());
}

Args parse(int argc, char** argv) {
  Args a;
  apply_environment(a.spec);
  bool device_set = false, warnings_off = false, only_positional = false;
  std::optional<std::string> inline_value;  // the VALUE of --opt=VALUE
  auto need = [&](int& i, const std::string& flag) -> std::string {
    if (inline_value) return *std::exchange(inline_value, std::nullopt);
    if (i + 1 >= argc) usage_error(flag + " needs a value");
    return argv[++i];
  };
  for (int i = 1; i < argc; ++i) {
    std::string f = argv[i];
    inline_value.reset();
    if (f == "--") {
      only_positional = true;
      continue;
    }
    if (!only_positional && f.rfind("--", 0) == 0) {
      if (auto eq = f.find('='); eq != std::string::npos) {
        inline_value = f.substr(eq + 1);
        f = f.substr(0, eq);
      }
    }
    if (only_positional || f.empty() || f[0] != '-' || looks_like_spec(f)) {
      // positional: INPUT, OUTPUT, then torchtrtc-style input specs
    } else if (const kiln::kilnc::CompatFlag* c = kiln::kilnc::find_torchtrtc_flag(f)) {
      if (c->kind == kiln::kilnc::CompatKind::kAlias) {
        f = std::string(c->meaning);
      } else {
        std::string value = c->takes_value ? need(i, f) : "";
        bool harmless = c->takes_value && !c->harmless_value.empty() && value == c->harmless_value;
        if (c->kind == kiln::kilnc::CompatKind::kUnsupported && !harmless)
          usage_error(f + (value.empty() ? "" : "=" + value) +
                      " is not supported: " + std::string(c->meaning));
        if (!harmless)
          std::cerr << "kilnc: warning: " << f << " has no effect: " << c->meaning << "\n";
        continue;
      }
    }
    if (only_positional || f.empty() || f[0] != '-' || looks_like_spec(f)) {
      if (looks_like_spec(f)) {
        if (a.input.empty())
          usage_error("input spec '" + f + "' before INPUT.ts (give the files first)");
        a.spec.inputs.push_back(parse_input(f));
      } else if (a.input.empty()) {
        a.input = f;
      } else if (a.output.empty()) {
        a.output = f;
      } else {
        usage_error("unexpected argument '" + f + "'");
      }
    } else if (f == "-h" || f == "--help") {
      std::cout << kHelp;
      std::exit(0);
    } else if (f == "-i" || f == "--input") {
      a.spec.inputs.push_back(parse_input(need(i, f)));
    } else if (f == "-p" || f == "--precision") {
      std::string p = need(i, f);
      if (p == "fp32" || p == "f32" || p == "float" || p == "float32")
        a.spec.enabled_precisions.insert(kiln::Precision::kFP32);
      else if (p == "fp16" || p == "f16" || p == "half" || p == "float16")
        a.spec.enabled_precisions.insert(kiln::Precision::kFP16);
      else if (p == "bf16" || p == "bfloat16")
        a.spec.enabled_precisions.insert(kiln::Precision::kBF16);
      else if (p == "tf32")
        a.spec.enabled_precisions.insert(kiln::Precision::kTF32);
      else if (p == "int8" || p == "i8" || p == "char")
        usage_error(
            "precision '" + p +
            "' needs calibration, which kilnc does not do: calibrate and compile int8 from Python "
            "with kiln.ptq (README, 8-bit), or compile a model that carries its quantization");
      else
        usage_error("unknown precision '" + p + "' (fp32 fp16 bf16 tf32)");
    } else if (f == "-d" || f == "--device") {
      std::string d = need(i, f);
      device_set = true;
      if (d == "cpu") {
        a.spec.device.type = kiln::torchscript::DeviceType::kCPU;
      } else if (d == "gpu") {  // torchtrtc's --device-type
        a.spec.device.type = kiln::torchscript::DeviceType::kCUDA;
      } else if (d == "dla") {
        usage_error(
            "--device dla is not supported: Kiln has no DLA backend; engines run on the GPU or the "
            "CPU");
      } else if (d.rfind("cuda", 0) == 0) {
        a.spec.device.type = kiln::torchscript::DeviceType::kCUDA;
        if (d.size() > 5 && d[4] == ':')
          a.spec.device.gpu_id = std::atoi(d.c_str() + 5);
        else if (d != "cuda")
          usage_error("bad device '" + d + "'");
      } else {
        usage_error("bad device '" + d + "' (cuda, cuda:N, gpu or cpu)");
      }
    } else if (f == "--gpu-id") {
      a.spec.device.gpu_id = std::atoi(need(i, f).c_str());
      a.spec.device.type = kiln::torchscript::DeviceType::kCUDA;
      device_set = true;
    } else if (f == "--disable-tf32") {
      if (a.spec.enabled_precisions.erase(kiln::Precision::kTF32) == 0)
        std::cerr
            << "kilnc: warning: --disable-tf32 has no effect: Kiln's float32 layers never use TF32 "
               "unless -p tf32\n";
    } else if (f == "--min-block-size") {
      a.spec.min_block_size = std::atoi(need(i, f).c_str());
      if (a.spec.min_block_size < 1) usage_error("--min-block-size must be >= 1");
    } else if (f == "--torch-executed-op") {
      a.spec.torch_executed_ops.push_back(need(i, f));
    } else if (f == "--require-full-compilation") {
      a.spec.require_full_compilation = true;
    } else if (f == "--check-support") {
      a.check_support = true;
    } else if (f == "--plan") {
      a.plan = true;
    } else if (f == "--workspace") {
      a.spec.workspace_size = std::strtoull(need(i, f).c_str(), nullptr, 10);
    } else if (f == "-O" || f == "--optimization-level") {
      a.spec.optimization_level = std::atoi(need(i, f).c_str());
      if (a.spec.optimization_level < 0 || a.spec.optimization_level > 5)
        usage_error("optimization level must be 0..5");
    } else if (f == "--timing-cache") {
      a.spec.timing_cache_path = need(i, f);
    } else if (f == "--kernel-cache") {
      a.spec.kernel_cache_dir = need(i, f);
    } else if (f == "--layout") {
      set_switch(a.spec, "KILN_LAYOUT", need(i, f));
    } else if (f == "--disable-fusion") {
      // An optional value: "pointwise" or "all" (the default when the next word is not one).
      if (inline_value) {
        set_switch(a.spec, "KILN_DISABLE_FUSION", *std::exchange(inline_value, std::nullopt));
      } else {
        std::string next = i + 1 < argc ? argv[i + 1] : "";
        bool has = next == "pointwise" || next == "all";
        set_switch(a.spec, "KILN_DISABLE_FUSION", has ? argv[++i] : "all");
      }
    } else if (f == "--conv-impl") {
      set_switch(a.spec, "KILN_CONV_IMPL", need(i, f));
    } else if (f == "--cudnn-legacy") {
      set_switch(a.spec, "KILN_CUDNN_LEGACY", "1");
    } else if (f == "--disable-pass") {
      set_switch(a.spec, "KILN_DISABLE_PASSES", need(i, f));
    } else if (f == "--dump-ir") {
      a.spec.dump_ir_dir = need(i, f);
    } else if (f == "--report") {
      a.report = need(i, f);
    } else if (f == "--list-converters") {
      a.list = true;
    } else if (f == "-v" || f == "--verbose") {
      ++a.verbosity;
    } else if (f == "-vv") {
      a.verbosity += 2;
    } else if (f == "-q" || f == "--quiet") {
      a.quiet = true;
    } else if (f == "-w" || f == "--warnings") {
      warnings_off = true;
    } else {
      usage_error("unknown option '" + f + "'");
    }
    if (inline_value) usage_error(f + " takes no value");
  }
  if (!device_set) {
    auto backends = kiln::available_backends();
    bool cuda = kiln::default_backend() == "cuda";
    a.spec.device.type =
        cuda ? kiln::torchscript::DeviceType::kCUDA : kiln::torchscript::DeviceType::kCPU;
  }
  a.spec.log_level = a.quiet || warnings_off ? kiln::Severity::kError
                     : a.verbosity >= 2      ? kiln::Severity::kVerbose
                     : a.verbosity == 1      ? kiln::Severity::kInfo
                                             : kiln::Severity::kWarning;
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  Args a = parse(argc, argv);
  if (a.list) {
    for (const auto& op : kiln::bridge::converter_registry().ops()) std::cout << op << "\n";
    return 0;
  }
  if (a.input.empty()) usage_error("no input file");
  if (!a.check_support && a.output.empty()) usage_error("no output file (or use --check-support)");
  if (a.spec.inputs.empty()) usage_error("give the forward() input shapes with --input");
  if (!a.report.empty() && (a.plan || a.check_support))
    usage_error(
        "--report describes a compiled module; it does not go with --plan or --check-support");
  std::ifstream probe(a.input);
  if (!probe) {
    std::cerr << "kilnc: cannot open '" << a.input << "'\n";
    return 2;
  }
  torch::jit::Module module;
  try {
    module = torch::jit::load(a.input);
  } catch (const std::exception& e) {
    std::cerr << "kilnc: '" << a.input << "' is not a TorchScript file: " << e.what() << "\n";
    return 2;
  }
  if (a.check_support) {
    auto report = kiln::torchscript::check_method_support(module, "forward", a.spec);
    if (!report) {
      std::cerr << "kilnc: " << report.status().to_string() << "\n";
      return 1;
    }
    std::cout << *report;
    return 0;
  }
  if (!a.quiet) {
    a.spec.progress = [](int i, int n, const std::string& name) {
      if (i < n) {
        std::fprintf(stderr, "\rkilnc: building engine %d/%d: %s...   ", i + 1, n, name.c_str());
      } else {
        std::fprintf(stderr, "\rkilnc: built %d engine(s).                              \n", n);
      }
      std::fflush(stderr);
    };
  }
  if (a.plan) {
    auto plan = kiln::torchscript::convert_method_to_plan(module, "forward", a.spec);
    if (!plan) {
      std::cerr << "\nkilnc: " << plan.status().to_string() << "\n";
      return 1;
    }
    kiln::Plan p{std::move(*plan)};
    kiln::Status s = p.save(a.output);
    if (!s.ok()) {
      std::cerr << "kilnc: " << s.to_string() << "\n";
      return 2;
    }
    std::cerr << "kilnc: wrote plan " << a.output << " (" << p.bytes.size() << " bytes)\n";
    return 0;
  }
  std::string report;
  auto compiled = kiln::torchscript::compile(module, a.spec, a.report.empty() ? nullptr : &report);
  if (!compiled) {
    std::cerr << "\nkilnc: " << compiled.status().to_string() << "\n";
    return 1;
  }
  if (!a.report.empty()) {
    std::ofstream out(a.report, std::ios::binary);
    out << kiln::bridge::report_html(report);
    if (!out.good()) {
      std::cerr << "kilnc: cannot write the report to '" << a.report << "'\n";
      return 2;
    }
    if (!a.quiet) std::cerr << "kilnc: wrote report " << a.report << "\n";
  }
  std::string tmp = a.output + ".tmp";
  try {
    compiled->save(tmp);
  } catch (const std::exception& e) {
    std::cerr << "kilnc: cannot write '" << a.output << "': " << e.what() << "\n";
    std::remove(tmp.c_str());
    return 2;
  }
  if (std::rename(tmp.c_str(), a.output.c_str()) != 0) {
    std::cerr << "kilnc: cannot move the result into place at '" << a.output << "'\n";
    std::remove(tmp.c_str());
    return 2;
  }
  if (!a.quiet) std::cerr << "kilnc: wrote " << a.output << "\n";
  return 0;
}
