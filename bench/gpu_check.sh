#!/usr/bin/env bash
# Every GPU check of the project in one prepared script, for a lent GPU machine (no network).
#
#   bash bench/gpu_check.sh fetch   # here, where the package registry answers: -> .whl/
#   bash bench/gpu_check.sh run compiled     # call 1 (timeout_s 595): -> $OUT
#   bash bench/gpu_check.sh run eager profile tests  # call 2, at once while warm (timeout_s 500)
#   bash bench/gpu_check.sh run              # all four steps in one call (~11 min: too
#                                            # long for one call on a cold compile cache)
#
# The GPU image has python3 (3.12) with torch, einops, numpy, scipy, scikit-learn,
# matplotlib, tqdm, pyyaml, safetensors, transformers, torchmetrics and pytest. `fetch`
# downloads CPython 3.12 wheels of what it lacks (.whl/ is git-ignored, ~1.2 MB):
# pyfaidx, pyBigWig and jsonschema (with referencing, rpds-py, jsonschema-specifications)
# for the package, and enformer-pytorch 0.8.12 with what its model imports, for the
# side-by-side. polars, which only its BED loader uses, is 55 MB of wheels: the bench
# stands in an empty module for it (bench/train_throughput.py).
#
# `run` steps (each has its own limit so that a hang does not eat the rest, and each
# step's output lands in $OUT as it ends):
#   env.txt                 nvidia-smi, python, torch, CUDA, the wheels installed
#   compiled: throughput.md bench/train_throughput.py --device cuda --compile: ours against
#      (.json)              enformer-pytorch at configs/gpu.yaml's size (dim 1536, depth
#                           11, 196,608 bp, batch 4): seq/s, MFU against the datasheet and
#                           the measured bf16 peak, the >= 37 seq/s goal. Limit 480 s,
#                           220 s per model: on 2026-12-04 (H200, cold cache) ours
#                           compiled in ~100 s and enformer-pytorch took over 140 s.
#   eager: throughput_eager.md  the same pair without torch.compile (~80 s)
#   profile: profile.md     bench/gpu_profile.py: our step time per part (stem, stages,
#      (.json)              blocks, head) with cudnn.benchmark off and on, and device time
#                           per kernel kind (not yet run on a GPU; limit 150 s)
#   tests: pytest.log       the gpu-marked tests: bf16 autocast and torch.compile for every
#                           model, and CUDA + bf16 + compile training killed and resumed
#                           (176 s on 2026-12-04)
# Multi-GPU DDP (NCCL) needs more than the one GPU lent; torchrun over gloo is tested on CPU.
set -uo pipefail
cd "$(dirname "$0")/.."

WHEELS=(
    pyfaidx==0.9.2.2 pybigwig==0.3.29
    jsonschema==4.26.0 jsonschema-specifications==2025.9.1 referencing==0.37.0
    rpds-py==2026.9.1
    enformer-pytorch==0.8.12 discrete-key-value-bottleneck-pytorch==0.1.1
    vector-quantize-pytorch==1.32.0 einx==0.4.3 frozendict==2.5.1 loguru==0.7.3
    torch-einops-utils==0.2.0
)

case "${1:-}" in
fetch)
    mkdir -p .whl
    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux_2_28_x86_64 \
        --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 -d .whl "${WHEELS[@]}"
    ls -l .whl
    ;;
run)
    : "${OUT:?set OUT to the folder for the logs (the device tool sets it)}"
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH="/tmp/site:$PWD" PYTHONUNBUFFERED=1
    {
        date -u
        nvidia-smi
        python3 -c 'import sys, torch; print(sys.version); print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name() if torch.cuda.is_available() else "NO GPU")'
        ls .whl
    } >"$OUT/env.txt" 2>&1
    shift
    steps=("$@")
    [[ ${#steps[@]} -eq 0 ]] && steps=(compiled eager profile tests)
    for step in "${steps[@]}"; do
        case $step in
        compiled)
            timeout 480 python3 bench/train_throughput.py --device cuda --compile \
                --worker-timeout 220 --models ours,enformer --json "$OUT/throughput.json" \
                >"$OUT/throughput.md" 2>"$OUT/throughput.err"
            echo "compiled throughput: exit $?" | tee -a "$OUT/env.txt"
            tail -n 25 "$OUT/throughput.md"
            ;;
        eager)
            timeout 170 python3 bench/train_throughput.py --device cuda \
                --worker-timeout 120 --models ours,enformer --json "$OUT/throughput_eager.json" \
                >"$OUT/throughput_eager.md" 2>"$OUT/throughput_eager.err"
            echo "eager throughput: exit $?" | tee -a "$OUT/env.txt"
            grep -A4 "^| model" "$OUT/throughput_eager.md"
            ;;
        profile)
            timeout 150 python3 bench/gpu_profile.py --device cuda --json "$OUT/profile.json" \
                >"$OUT/profile.md" 2>"$OUT/profile.err"
            echo "profile: exit $?" | tee -a "$OUT/env.txt"
            grep -A22 "^| part" "$OUT/profile.md"
            ;;
        tests)
            timeout 240 python3 -m pytest -q -m gpu -p no:cacheprovider tests/ \
                >"$OUT/pytest.log" 2>&1
            echo "pytest: exit $?" | tee -a "$OUT/env.txt"
            tail -n 8 "$OUT/pytest.log"
            ;;
        *)
            echo "unknown step '$step': choose from compiled, eager, profile, tests" >&2
            exit 2
            ;;
        esac
    done
    ;;
*)
    echo "usage: bash bench/gpu_check.sh fetch|run (see the comments at the top)" >&2
    exit 2
    ;;
esac
