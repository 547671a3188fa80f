#!/usr/bin/env bash
# Every GPU figure the docs promise, on one GPU, meant to fit in 10 minutes: run it whenever a
# GPU is available and record what it prints (docs/benchmarks.md, "Figures that need a GPU").
#     bash bench/gpu.sh                 # OUT=bench/results/gpu by default
# Each step writes its JSON under $OUT and prints its table; a step that fails does not stop
# the others (their figures are still worth having), and the script exits non-zero at the end.
set -uo pipefail
OUT=${OUT:-bench/results/gpu}
mkdir -p "$OUT"
failed=()
step() { local name=$1; shift; echo "== $name: $*"; local t0=$SECONDS
  if "$@"; then echo "== $name: $((SECONDS - t0)) s"; else echo "== $name FAILED"; failed+=("$name"); fi; }

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/device.txt"
python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" | tee -a "$OUT/device.txt"

# 1. the MoE layer in bf16 against dense and transformers' Mixtral grouped_mm / eager (E = 8, 64)
step moe python bench/moe.py --device cuda --dtype bfloat16 --rounds 11 --out "$OUT/moe_bf16.json"
# 2. generation tokens/s, the project's decoder against transformers' generate, bf16
step generation python bench/generation_speed.py --device cuda --prompts liststats:0 gsm8k:3 \
    --batches 64 256 --dtypes bfloat16 --questions 256 --out "$OUT/generation.json"
# 2b. shared-prefix (cascade) attention on the GPU: the project's decode attention, which keeps
#     the shared prompt start once, against the same decoder with the prefix copied per row
step generation_shared python bench/generation_speed.py --device cuda --prompts gsm8k:3 liststats:0 \
    --batches 64 256 --dtypes bfloat16 --questions 256 --generate-max-batch 0 --copied \
    --attn-implementation latentcode_decode --out "$OUT/generation_shared.json"
# 2c. a GRPO step with the shared prompt start run once in the log-probability forward, and without
step grpo_step python bench/grpo_step.py --no-cpu --rounds 2 --steps 2 --arms fence-rows fence \
    --out "$OUT/grpo_step.json"
# 3. a short GRPO run and a short EM run on SmolLM2-135M (held-out accuracy before -> after, time)
step grpo latentcode train grpo --suite liststats --lora --learning-rate 2e-4 --max-steps 10 \
    --num-generations 8 --per-device-train-batch-size 32 --questions-per-step 8 --train-size 256 \
    --eval-size 200 --eval-every 10 --runs-dir "$OUT/runs" --run-name grpo-gpu
step em latentcode train em --config configs/em.yaml --iterations 2 --questions 64 --eval-size 200 \
    --eval-every 2 --runs-dir "$OUT/runs" --run-name em-gpu
# 4. the sandbox next to the GPU: programs/s of this node's cores, local pool and Ray actors
python -c "import ray" 2>/dev/null && step sandbox_ray python bench/sandbox_ray.py --programs 2000 --rounds 3 \
    --out "$OUT/sandbox_ray.json"

if ((${#failed[@]})); then echo "failed: ${failed[*]}"; exit 1; fi
