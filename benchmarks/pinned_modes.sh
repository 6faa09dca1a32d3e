#!/bin/bash
# Timing modes side by side on pinned cores of another x86 host (a VNNI or AMX Xeon, say): realsize.py
# as four jobs side by side, each pinned (taskset) to its own physical cores so they share no core,
# or one mode per pair of cores.
#
#   bash benchmarks/pinned_modes.sh          # from the repository root; results under $OUT
#   bash benchmarks/pinned_modes.sh alone    # ResNet-18 at batch 1 alone on 2 cores, more rounds,
#                                            # then OpenVINO's per-layer counters on its IRs
#   bash benchmarks/pinned_modes.sh convs    # ORT's INT8 convolutions on MLAS's indirect kernels vs
#                                            # its GEMM (AMX on an AMX CPU): ort_option_ab.py
#   bash benchmarks/pinned_modes.sh cold     # the default run, cold cache, on 2 pinned cores
#   SLOT=1 bash benchmarks/pinned_modes.sh convs   # a single mode on the second pair of cores, so
#                                            # two modes can run side by side, sharing no core
#                                            # (cold also needs torch-pruning and safetensors in
#                                            # .whl/ where the host lacks them)
#
# For a host with python3 and torch, onnx and onnxruntime but no openvino, nncf or pydantic, and no
# network: .whl/ (kept out of git) carries their cp312 wheels, unpacked here onto
# PYTHONPATH: openvino (its GPU/NPU plugins, GPU kernel cache, headers and the TensorFlow, TFLite,
# Paddle and GGUF frontends removed to fit the 64 MiB transfer: 33 MB), onnxruntime 1.32 (the
# pinned one; its C-API libonnxruntime.so removed, which the Python module does not load: 15 MB),
# openvino_telemetry, nncf, pydantic, pydantic_core, annotated_types, typing_inspection,
# typing_extensions, pydot, onnxslim and torch-pruning (`pip download --python-version 3.12
# --implementation cp --only-binary=:all: --no-deps --platform manylinux_2_28_x86_64 ... -d .whl`).
MODE=${1:-side-by-side}
PY=${PY:-python3}
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
{ date -u; lscpu; nproc; free -g; uptime; } > "$OUT/host.txt" 2>&1
grep -m1 "model name" /proc/cpuinfo; grep -o -w -E "avx512f|avx512_vnni|avx512_bf16|amx_int8|amx_bf16|avx_vnni" /proc/cpuinfo | sort -u | tr '\n' ' '; echo
lscpu | grep -E "^(Thread|Core|Socket|NUMA node\(s\)|L3)"
if ! "$PY" -c "import openvino, nncf, pydantic" 2>/dev/null; then
  mkdir -p /tmp/site
  for w in .whl/*.whl; do "$PY" -m zipfile -e "$w" /tmp/site || exit 1; done
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD
fi
"$PY" -c "import edge_pipeline, onnx, onnxruntime as ort, openvino as ov, nncf, torch, pydantic; print('versions', torch.__version__, onnx.__version__, ort.__version__, ov.get_version(), nncf.__version__, pydantic.__version__)" || exit 2
# First logical CPU of each physical core, in (package, core) order; core 0 left to the system.
mapfile -t FIRST < <(for c in /sys/devices/system/cpu/cpu[0-9]*; do n=${c##*cpu}; echo "$(cat $c/topology/physical_package_id) $(cat $c/topology/core_id) $n"; done | sort -n -k1,1 -k2,2 -k3,3 | awk '!seen[$1" "$2]++ {print $3}')
echo "physical cores: ${#FIRST[@]} (first logical CPUs: ${FIRST[*]})"
SIZES=(2 2 4 2); START=1
if [ ${#FIRST[@]} -lt 11 ]; then SIZES=(2 2 2 2); [ ${#FIRST[@]} -lt 9 ] && START=0; fi
cpus_for() {  # job index -> comma list of its physical cores' logical CPUs (siblings included)
  local i=$1 from=$START k list=""
  for ((k = 0; k < i; k++)); do from=$((from + SIZES[k])); done
  for ((k = from; k < from + SIZES[i]; k++)); do
    list+="$(cat /sys/devices/system/cpu/cpu${FIRST[k]}/topology/thread_siblings_list),"
  done
  echo "${list%,}"
}
COMMON="--calibration 32 --eval 16"
LIMIT=${LIMIT:-420}
if [ "$MODE" = cold ]; then
  # What a 2-core machine sees: two cores, and OpenMP told so (the guest has more).
  cpus=$(cpus_for "${SLOT:-0}"); PIN="taskset -c $cpus"; command -v taskset >/dev/null || PIN=""
  rm -rf /tmp/ep-cold; start=$(date +%s)
  OMP_NUM_THREADS=2 EDGE_PIPELINE_CACHE=/tmp/ep-cold/cache timeout -s TERM -k 10 "$LIMIT" $PIN \
    "$PY" -m edge_pipeline run --out /tmp/ep-cold/bundle > "$OUT/cold.log" 2>&1
  echo "== cold default run on CPUs $cpus: rc=$? in $(( $(date +%s) - start )) s"
  grep -E "^\[" "$OUT/cold.log" | grep -E " start$|epoch [0-9]+/[0-9]+ .*\(100%\)|bundle written"
  exit 0
fi
if [ "$MODE" = convs ]; then
  cpus=$(cpus_for "${SLOT:-0}"); PIN="taskset -c $cpus"; command -v taskset >/dev/null || PIN=""
  start=$(date +%s)
  timeout -s TERM -k 10 "$LIMIT" $PIN "$PY" benchmarks/ort_option_ab.py --set conv_kernel=gemm \
    --rounds "${ROUNDS:-8}" \
    > "$OUT/conv-kernel.md" 2> "$OUT/conv-kernel.err"
  echo "== conv kernels on CPUs $cpus: rc=$? in $(( $(date +%s) - start )) s"
  cat "$OUT/conv-kernel.md"; grep -E "^  |Error" "$OUT/conv-kernel.err"
  exit 0
fi
if [ "$MODE" = alone ]; then
  # Alone: nothing else runs beside it. The per-layer counters come after the timed rounds, in
  # their own untimed sessions, at 1 and 2 threads (does the second core halve the INT8 time?).
  cpus=$(cpus_for "${SLOT:-0}"); PIN="taskset -c $cpus"; command -v taskset >/dev/null || PIN=""
  echo "ResNet-18 alone on CPUs $cpus"
  start=$(date +%s)
  timeout -s TERM -k 30 "$LIMIT" $PIN "$PY" benchmarks/realsize.py --models resnet18 --batch-sizes 1 \
    --rounds "${ROUNDS:-8}" --iterations 40 --warmup 5 --budget 3 $COMMON --no-olive --work /tmp/rs \
    > "$OUT/alone-resnet18.md" 2> "$OUT/alone-resnet18.err"
  echo "== resnet18 alone rc=$? in $(( $(date +%s) - start )) s"
  sed -n '/^host:/,$p' "$OUT/alone-resnet18.md"; tail -3 "$OUT/alone-resnet18.err"
  mapfile -t IRS < <(find /tmp/rs -name "*.xml" -path "*resnet18*" | grep -v -e /cache/ | sort)
  echo "IRs: ${IRS[*]}"
  timeout -s TERM -k 10 "${PROFILE_LIMIT:-90}" $PIN "$PY" -m edge_pipeline benchmark "${IRS[@]}" \
    --threads 1,2 --iterations 30 --warmup 5 --time-budget 2 --profile --profile-top 12 \
    --out "$OUT/profile.json" > "$OUT/profile.txt" 2>&1
  echo "== profile rc=$?"; cat "$OUT/profile.txt"
  exit 0
fi
JOBS=(
  "resnet18|--batch-sizes 1,8 --rounds 4 --iterations 40 --warmup 5 --budget 3 $COMMON"
  "mobilenet_v2|--batch-sizes 1,8 --rounds 4 --iterations 40 --warmup 5 --budget 3 $COMMON"
  "bert|--batch-sizes 1 --rounds 3 --iterations 20 --warmup 3 --budget 4 $COMMON"
  "digits_teacher,digits_student|--batch-sizes 1 --rounds 5 --iterations 2000 --warmup 200 --budget 2 --calibration 64 --eval 32"
)
for i in "${!JOBS[@]}"; do
  model=${JOBS[$i]%%|*}; args=${JOBS[$i]#*|}; cpus=$(cpus_for "$i"); tag=${model%%,*}
  echo "job $tag on CPUs $cpus: $args"
  ( start=$(date +%s)
    PIN="taskset -c $cpus"; command -v taskset >/dev/null || PIN=""
    timeout -s TERM -k 30 "$LIMIT" $PIN "$PY" benchmarks/realsize.py --models "$model" $args \
      > "$OUT/realsize-$tag.md" 2> "$OUT/realsize-$tag.err"
    echo "== $tag rc=$? in $(( $(date +%s) - start )) s" >> "$OUT/done.txt" ) &
done
wait
uptime
cat "$OUT/done.txt"
for f in "$OUT"/realsize-*.md; do echo "#### $f"; sed -n '/^host:/,$p' "$f" | grep -v "^  .*per round" | head -60; done
for f in "$OUT"/realsize-*.err; do echo "#### $f"; tail -4 "$f"; done
exit 0
