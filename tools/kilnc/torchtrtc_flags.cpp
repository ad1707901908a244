#include "torchtrtc_flags.h"

namespace kiln::kilnc {
namespace {

constexpr std::string_view kNoDla = "Kiln has no DLA backend; engines run on the GPU or the CPU";
constexpr std::string_view kTiming =
    "Kiln times its tactics itself; -O/--optimization-level sets how many are tried";

constexpr std::string_view kTruncate =
    "Kiln computes int64 natively and has no float64 (float64 ops stay in PyTorch); cast the "
    "model and its inputs to float32 to compile them";
constexpr std::string_view kThreshold =
    "kilnc does not compare with TorchScript after compiling; kiln.debug.compare(model, inputs) "
    "in Python finds the first layer that departs from eager";
constexpr std::string_view kByModule =
    "Kiln partitions by op: list the module's ops with --torch-executed-op instead";

constexpr CompatFlag kFlags[] = {
    // ---- the same as a kilnc flag ----
    {"--enabled-precision", CompatKind::kAlias, true, "--precision"},
    {"--device-type", CompatKind::kAlias, true, "--device"},
    {"--torch-executed-ops", CompatKind::kAlias, true, "--torch-executed-op"},
    {"--teo", CompatKind::kAlias, true, "--torch-executed-op"},
    {"--mbs", CompatKind::kAlias, true, "--min-block-size"},
    {"--workspace-size", CompatKind::kAlias, true, "--workspace"},
    {"--save-engine", CompatKind::kAlias, false, "--plan"},
    {"--i", CompatKind::kAlias, false, "--verbose"},
    {"--info", CompatKind::kAlias, false, "--verbose"},
    // ---- accepted, no effect ----
    {"--allow-gpu-fallback", CompatKind::kNoOp, false, kNoDla},
    {"--dla-core", CompatKind::kNoOp, true, kNoDla, "0"},
    {"--sparse-weights", CompatKind::kNoOp, false,
     "Kiln has no structured-sparsity kernels to allow"},
    {"--build-debuggable-engine", CompatKind::kNoOp, false,
     "Kiln engines are always inspectable (kiln_profile, --dump-ir)"},
    {"--num-min-timing-iter", CompatKind::kNoOp, true, kTiming},
    {"--num-avg-timing-iters", CompatKind::kNoOp, true, kTiming, "1"},
    {"--max-batch-size", CompatKind::kNoOp, true, "Kiln takes the batch range from the input specs",
     "0"},
    {"--no-threshold-check", CompatKind::kNoOp, false,
     "kilnc does not compare with TorchScript after compiling"},
    // ---- refused (a harmless value is accepted) ----
    {"--engine-capability", CompatKind::kUnsupported, true,
     "Kiln builds standard engines only (no safety or DLA-standalone capability)", "standard"},
    {"--use-strict-types", CompatKind::kUnsupported, false,
     "Kiln assigns layer precisions from the enabled precisions (-p); without -p fp16/bf16 every "
     "layer is float32"},
    {"--calibration-cache-file", CompatKind::kUnsupported, true,
     "kilnc does not calibrate: calibrate and compile int8 from Python with kiln.ptq (README, "
     "8-bit)"},
    {"--torch-executed-mods", CompatKind::kUnsupported, true, kByModule},
    {"--tem", CompatKind::kUnsupported, true, kByModule},
    {"--embed-engine", CompatKind::kUnsupported, false,
     "embed a raw plan from Python with kiln.ts.embed_engine_in_new_module(plan)"},
    {"--threshold", CompatKind::kUnsupported, true, kThreshold},
    {"-t", CompatKind::kUnsupported, true, kThreshold},
    {"--truncate-long-double", CompatKind::kUnsupported, false, kTruncate},
    {"--truncate", CompatKind::kUnsupported, false, kTruncate},
    {"--truncate-64bit", CompatKind::kUnsupported, false, kTruncate},
};

}  // namespace

const CompatFlag* find_torchtrtc_flag(std::string_view name) {
  for (const CompatFlag& f : kFlags)
    if (f.name == name) return &f;
  return nullptr;
}

}  // namespace kiln::kilnc
