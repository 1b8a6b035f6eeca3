#!/usr/bin/env bash
# Everything that needs a CUDA GPU, in one go: the CUDA configurations of both benchmarks (the
# figures README and docs quote), the CUDA-only tests (the dalle sampler's CUDA graphs) and a
# smoke run of each CUDA code path on the shipped models (dalle and vqgan-clip generation, a
# short dalle training run under mixed precision).
#
#   bash benchmarks/gpu_figures.sh [OUTDIR]      # default OUTDIR: gpu-figures
#
# Run it from the repository root with the project installed (README). Each step's output goes
# to OUTDIR/<step>.log (and the benchmarks' JSON to OUTDIR/<step>.json); a failing step does not
# stop the others, and the script exits non-zero if any failed. About 10 minutes on one H100.
set -uo pipefail

out=${1:-gpu-figures}
mkdir -p "$out"
"${PYTHON:-python3}" -c 'import sys, torch; torch.cuda.is_available() or sys.exit("no CUDA device here: this script measures the GPU configurations"); print(torch.__version__, torch.cuda.get_device_name())' || exit 2

failed=()
step() {  # step [--json] NAME COMMAND...: run it, log it, remember a failure; with --json the
          # command's standard output is its JSON report, kept in OUTDIR/NAME.json apart from the log
    local report=""
    if [[ $1 == --json ]]; then report=yes; shift; fi
    local name=$1; shift
    echo "== $name: $*"
    local started=$SECONDS
    if [[ $report ]]; then "$@" >"$out/$name.json" 2>"$out/$name.log"; else "$@" >"$out/$name.log" 2>&1; fi
    if (($? == 0)); then
        echo "   ok ($((SECONDS - started)) s)"
    else
        echo "   FAILED ($((SECONDS - started)) s), see $out/$name.log"
        failed+=("$name")
    fi
}

prompt="a large red circle on the left on a black background"
step dalle-cuda-tests "${PYTHON:-python3}" -m pytest -q tests/test_dalle_cuda.py
step generate-dalle artengine generate "$prompt" -g dalle -n 16 --keep 4 --device cuda --out "$out/runs" --json
step generate-vqgan-clip artengine generate "$prompt" -g vqgan-clip --device cuda --out "$out/runs" --json
step train-dalle artengine train dalle --data shapes --data-count 2048 --vqgan vqgan:shapes --out "$out/dalle-train" \
    --steps 40 --batch-size 64 --layers 2 --width 128 --heads 4 --checkpoint-every 20 --sample-every 20 --device cuda
step --json vqgan-clip-benchmark "${PYTHON:-python3}" benchmarks/vqgan_clip.py --config cuda
step --json dalle-benchmark "${PYTHON:-python3}" benchmarks/dalle_sampling.py --config h100 --repeats 3
# DALL·E Mega's dimensions (random weights, bf16 for both) against min-dalle (a test dependency)
step dalle-bart-cuda-tests "${PYTHON:-python3}" -m pytest -q tests/test_dalle_bart_cuda.py tests/test_dalle_bart_min_dalle.py
# DALL·E 2: the shipped unclip on CUDA, a short training run, speed against dalle and against
# diffusers' own Kandinsky 2.2 pipelines (tiny random folder), the Kandinsky/SD oracle tests
step generate-unclip artengine generate "$prompt" -g unclip -n 16 --keep 4 --device cuda --out "$out/runs" --json
step train-unclip artengine train unclip --data shapes --data-count 2048 --out "$out/unclip-train" --steps 40 \
    --batch-size 64 --checkpoint-every 20 --sample-every 20 --device cuda
step --json unclip-speed "${PYTHON:-python3}" benchmarks/unclip_figures.py speed --device cuda
step --json unclip-kandinsky "${PYTHON:-python3}" benchmarks/unclip_figures.py kandinsky --device cuda
# CLIP-guided diffusion on CUDA (its previews and the losses' gradient on the device)
step generate-clip-diffusion artengine generate "$prompt" -g clip-diffusion -n 8 --keep 2 --device cuda \
    --set generator.save_every=10 --out "$out/runs" --json
# the diffusion loss: vqgan-clip's time per step with it against without it
step --json diffusion-loss "${PYTHON:-python3}" benchmarks/diffusion_loss.py --device cuda --rounds 3
step --json dalle-mega-benchmark "${PYTHON:-python3}" benchmarks/dalle_sampling.py --config mega --batch 8 --repeats 2

if ((${#failed[@]})); then
    echo "failed: ${failed[*]}"
    exit 1
fi
echo "all steps passed; figures in $out/*.json"
