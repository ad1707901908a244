#!/usr/bin/env bash
# On the GPU machine: build with all cores, run the GPU tests (and the benchmark when asked), print a
# short table last. Logs go to $OUT (or ./gpu_out). Usage:
#   scripts/gpu_check.sh [carried] [tests] [sanitizer] [torch] [bench] [profile] [opperf] [zoo] [llm] [demo] [FILTER=gtest_filter]
# llm: kiln.llm's GPU tests (tests/python/test_llm.py -k cuda) and bench/llm.py (--quick unless LLM_ARGS)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu_out}
mkdir -p "$OUT"
want=" $* "
jobs=$(nproc)
PY=${KILN_PYTHON:-python3}
CUDNN_ROOT=$($PY -c 'import nvidia.cudnn as c; print(list(c.__path__)[0])' 2>/dev/null || true)
TORCH_OPT=OFF
[[ "$want" == *" torch "* || "$want" == *" bench "* || "$want" == *" llm "* ]] && TORCH_OPT=ON
FILTER=$(echo "$want" | grep -o 'FILTER=[^ ]*' | cut -d= -f2-)
{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  nvcc --version | tail -1
  $PY -c 'import torch; print("torch", torch.__version__)'
} 2>&1 | tee "$OUT/env.txt"

# "carried": binaries built elsewhere and carried in .carry/ (saves device time); else build here.
BIN=build-gpu
if [[ "$want" == *" carried "* ]]; then
  BIN=.carry
  TORCH_LIB=$($PY -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
  NV=$($PY -c 'import nvidia, os; print(list(nvidia.__path__)[0])')
  export LD_LIBRARY_PATH="$PWD/.carry:$TORCH_LIB:$CUDNN_ROOT/lib:$NV/cu13/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
  mkdir -p .carry/tests .carry/tools/kilnc .carry/kiln_torch
  for t in .carry/test_*; do [ -f "$t" ] && ln -sf "../$(basename $t)" .carry/tests/; done
  mkdir -p .carry/tools/kiln_profile
  ln -sf ../../kilnc .carry/tools/kilnc/kilnc; ln -sf ../libkiln_runtime.so .carry/kiln_torch/libkiln_runtime.so
  ln -sf ../../kiln_profile .carry/tools/kiln_profile/kiln_profile
  mkdir -p .carry/kiln_torch/python  # kiln._C for KILN_BUILD_DIR=.carry (bench/zoo.py)
  for f in .carry/_C*.so .carry/_build_info.py; do [ -f "$f" ] && ln -sf "../../$(basename $f)" .carry/kiln_torch/python/; done
  ldd .carry/test_cuda_core | grep -E "not found" && echo "missing libraries above"
fi

t0=$(date +%s)
if [[ "$want" != *" carried "* ]]; then
cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DKILN_CUDA=ON -DKILN_TORCH=$TORCH_OPT -DKILN_PYTHON=$PY \
  -DKILN_CUDNN_ROOT="$CUDNN_ROOT" -DKILN_GTEST_SOURCE_DIR="$PWD/.deps/googletest" -DKILN_BUILD_EXAMPLES=OFF \
  -DKILN_CUDA_ARCHITECTURES=90 \
  >"$OUT/configure.log" 2>&1 || { tail -30 "$OUT/configure.log"; exit 1; }
targets="test_cuda_core test_cuda_reduce_norm test_cuda_data_indexing test_cuda_spatial test_cuda_attention test_cuda_fusion test_cuda_pointwise_fusion test_cuda_op_cases test_cuda_kv_cache test_cuda_quantized test_cuda_nonzero test_cuda_vision test_pointwise_codegen kiln_profile"
[[ "$want" == *" torch "* || "$want" == *" bench "* ]] && targets="$targets kiln_torch kiln_bench_driver"
[[ "$want" == *" llm "* ]] && targets="$targets kiln_torch kiln_python_ext"
cmake --build build-gpu -j"$jobs" --target $targets >"$OUT/build.log" 2>&1
build_rc=$?
t1=$(date +%s)
echo "build rc=$build_rc in $((t1 - t0)) s"
[ $build_rc -ne 0 ] && { grep -E "error" "$OUT/build.log" | head -40; }
fi

declare -A result
if [[ "$want" == *" tests "* ]]; then
  for t in test_cuda_core test_cuda_reduce_norm test_cuda_data_indexing test_cuda_spatial test_cuda_attention test_cuda_fusion test_cuda_pointwise_fusion test_cuda_op_cases test_cuda_kv_cache test_cuda_quantized test_cuda_nonzero test_cuda_vision test_pointwise_codegen; do
    bin=$BIN/tests/$t
    [ -x "$bin" ] || { result[$t]="not built"; continue; }
    args=(--gtest_brief=1)
    [ -n "$FILTER" ] && args+=(--gtest_filter="$FILTER")
    timeout 400 "$bin" "${args[@]}" >"$OUT/$t.log" 2>&1
    rc=$?
    pass=$(grep -c "^\[       OK \]" "$OUT/$t.log")
    fail=$(grep -c "^\[  FAILED  \]" "$OUT/$t.log")
    total=$(grep -oE "[0-9]+ tests? from [0-9]+ test suites? ran" "$OUT/$t.log" | head -1)
    result[$t]="rc=$rc ${total:-?} failed_lines=$fail"
    grep -E "Failure|FAILED|error|Which is|Actual|worst" "$OUT/$t.log" | head -25
  done
fi
if [[ "$want" == *" sanitizer "* ]]; then
  timeout 300 compute-sanitizer --tool memcheck --error-exitcode 9 $BIN/tests/test_cuda_core \
    --gtest_filter='CudaCore.MatmulLinear*:CudaCore.Conv*:CudaCore.Graphs*' >"$OUT/memcheck.log" 2>&1
  result[memcheck]="rc=$? $(grep -E 'ERROR SUMMARY' "$OUT/memcheck.log" | tail -1)"
  # Generated pointwise kernels and the CUTLASS GEMM epilogue.
  timeout 300 compute-sanitizer --tool memcheck --error-exitcode 9 $BIN/tests/test_cuda_pointwise_fusion \
    --gtest_filter='*Chains*:*Broadcast*' >"$OUT/memcheck_pointwise.log" 2>&1
  result[memcheck_pointwise]="rc=$? $(grep -E 'ERROR SUMMARY' "$OUT/memcheck_pointwise.log" | tail -1)"
  timeout 300 compute-sanitizer --tool memcheck --error-exitcode 9 $BIN/tests/test_cuda_fusion \
    --gtest_filter='*ExactGelu*' >"$OUT/memcheck_gelu.log" 2>&1
  result[memcheck_gelu]="rc=$? $(grep -E 'ERROR SUMMARY' "$OUT/memcheck_gelu.log" | tail -1)"
  # Newer kernels: shared-memory depthwise, split-K decode attention, cuDNN int8 conv chains.
  for spec in "test_cuda_vision:*Depthwise*" "test_cuda_kv_cache:CudaDecodeAttention.*" \
              "test_cuda_quantized:*ConvChain*" "test_cuda_attention:*AttentionThroughViews*"; do
    t=${spec%%:*}; f=${spec#*:}
    timeout 300 compute-sanitizer --tool memcheck --error-exitcode 9 $BIN/tests/$t --gtest_filter="$f" \
      >"$OUT/memcheck_$t.log" 2>&1
    result[memcheck_$t]="rc=$? $(grep -E 'ERROR SUMMARY' "$OUT/memcheck_$t.log" | tail -1)"
  done
fi
if [[ "$want" == *" bench "* ]]; then
  PYTHONUNBUFFERED=1 KILN_BUILD_DIR=$PWD/$BIN timeout ${BENCH_TIMEOUT:-540} $PY bench/benchmark.py --out "$OUT/bench.json" --dump-plans $PWD/gpu_plans ${BENCH_ARGS:-} \
    >"$OUT/bench.log" 2>&1
  result[bench]="rc=$?"
  tail -40 "$OUT/bench.log"
  if [[ "$want" == *" profile "* ]]; then
    for p in $PWD/gpu_plans/*.plan; do
      [ -f "$p" ] || continue
      { echo "== profile $(basename $p)"
        timeout 60 $BIN/tools/kiln_profile/kiln_profile "$p" 10 2>&1 | head -16; } >>"$OUT/profile.log"
      # PROFILE_ORDER=<plan name substring>: every kernel of that plan in execution order
      if [ -n "${PROFILE_ORDER:-}" ] && [[ "$(basename $p)" == *"$PROFILE_ORDER"* ]]; then
        timeout 60 $BIN/tools/kiln_profile/kiln_profile "$p" 10 order >"$OUT/profile_order_$(basename $p .plan).log" 2>&1
      fi
    done
  fi
fi
if [[ "$want" == *" opperf "* ]]; then
  # The shared op cases at their perf sizes in f16: time per run, plans for kiln_profile.
  KILN_OP_CASES_PERF=$PWD/gpu_op_plans timeout 400 $BIN/tests/test_cuda_op_cases --gtest_filter='*PerfMode*' \
    >"$OUT/opperf.log" 2>&1
  result[opperf]="rc=$?"
  grep "\[ perf" "$OUT/opperf.log" | awk '{print $4, $5, $6}' | column -t | tee "$OUT/opperf_table.txt"
fi
if [[ "$want" == *" zoo "* ]]; then
  # The dynamo path (kiln.compile, ir="default") on every zoo model in fp16; needs kiln._C for this
  # Python (carried: scripts/build_carry.sh with KILN_PYTHON set to a 3.12 interpreter).
  PYTHONUNBUFFERED=1 KILN_BUILD_DIR=$PWD/$BIN timeout ${ZOO_TIMEOUT:-400} $PY bench/zoo.py --device cuda --dtype fp16 ${ZOO_ARGS:-} \
    --json "$OUT/zoo.json" >"$OUT/zoo.log" 2>&1
  result[zoo]="rc=$? $(tail -1 "$OUT/zoo.log")"
  tail -30 "$OUT/zoo.log"
fi
if [[ "$want" == *" llm "* ]]; then
  # kiln.llm on the GPU: greedy fp32 == HF, batched == alone, fp16 logits cosine; then the benchmark.
  PYTHONUNBUFFERED=1 KILN_BUILD_DIR=$PWD/$BIN timeout ${LLM_TEST_TIMEOUT:-400} $PY -m pytest -q tests/python/test_llm.py -k cuda \
    >"$OUT/llm_tests.log" 2>&1
  result[llm_tests]="rc=$? $(tail -1 "$OUT/llm_tests.log")"
  tail -15 "$OUT/llm_tests.log"
  PYTHONUNBUFFERED=1 KILN_BUILD_DIR=$PWD/$BIN timeout ${LLM_TIMEOUT:-540} $PY bench/llm.py ${LLM_ARGS:---quick} \
    --out "$OUT/llm.json" >"$OUT/llm.log" 2>&1
  result[llm_bench]="rc=$?"
  tail -20 "$OUT/llm.log"
fi
if [[ "$want" == *" demo "* ]]; then
  # The README's first command on the GPU (python -m kiln.demo: resnet18 + BertModel in fp16, speedup over
  # eager and torch.compile); needs kiln._C for this Python, as zoo does.
  PYTHONUNBUFFERED=1 KILN_BUILD_DIR=$PWD/$BIN PYTHONPATH=$PWD/python timeout ${DEMO_TIMEOUT:-600} $PY -m kiln.demo \
    ${DEMO_ARGS:-} >"$OUT/demo.log" 2>&1
  result[demo]="rc=$? $(grep -c PASS "$OUT/demo.log") PASS"
  tail -40 "$OUT/demo.log"
fi
echo
echo "==== summary ($(head -1 "$OUT/env.txt")) ===="
for k in "${!result[@]}"; do printf '%-28s %s\n' "$k" "${result[$k]}"; done
