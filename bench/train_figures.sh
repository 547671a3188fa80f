#!/usr/bin/env bash
# The training figures in docs/results.md: SmolLM2-135M, generated tasks, held-out families.
# One job at a time (two torch jobs on 2 cores slow each other far more than 2x).
# Then: python bench/train_curves.py $RUNS/* --out docs/img/reward_vs_completions.svg \
#           --json bench/results/train_curves.json
set -euo pipefail
RUNS=${RUNS:-runs/train-figures}
STAGES=${STAGES:-1 2 3}
TASKS="--suite mixed --held-out-families sorting,numtheory --train-size 256 --eval-size 48"
stage() { [[ " $STAGES " == *" $1 "* ]]; }

# 1. GRPO with LoRA, lambda = 0
if stage 1; then
  latentcode train grpo $TASKS --runs-dir "$RUNS" --run-name grpo-l0 --max-steps 40 \
    --num-generations 8 --per-device-train-batch-size 8 --max-completion-length 192 \
    --learning-rate 2e-4 --eval-every 10 --save-steps 10
fi
# 2. the same with the MDL term (AST nodes, counted against correct programs only)
if stage 2; then
  latentcode train grpo $TASKS --runs-dir "$RUNS" --run-name grpo-ast --max-steps 40 \
    --num-generations 8 --per-device-train-batch-size 8 --max-completion-length 192 \
    --learning-rate 2e-4 --eval-every 10 --save-steps 10 --mdl ast --mdl-weight 0.005
fi
# 3. evolution strategies on the full weights (Qiu et al.: sigma 1e-3), fewer members for a CPU
if stage 3; then
  latentcode train es $TASKS --runs-dir "$RUNS" --run-name es-full --max-steps 20 \
    --population 16 --sigma 1e-3 --lr 5e-4 --batch-size 8 --max-new-tokens 192 \
    --eval-every 5 --save-every 5 --quiet true
fi
