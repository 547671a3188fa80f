#!/usr/bin/env bash
# The training figures in docs/results.md: SmolLM2-135M, generated tasks, held-out families.
# One job at a time (two torch jobs on 2 cores slow each other far more than 2x).
# Then: python bench/train_curves.py $RUNS/* --out docs/img/reward_vs_completions \
#           --json bench/results/train_curves.json
set -euo pipefail
RUNS=${RUNS:-runs/train-figures}
STAGES=${STAGES:-1 2 3 4 5}
TASKS="--suite mixed --held-out-families sorting,numtheory --train-size 256 --eval-size 48"
stage() { [[ " $STAGES " == *" $1 "* ]]; }

# 1. GRPO with LoRA, lambda = 0
if stage 1; then
  latentcode train grpo $TASKS --runs-dir "$RUNS" --run-name grpo-l0 --max-steps 40 \
    --num-generations 8 --per-device-train-batch-size 8 --max-completion-length 192 \
    --learning-rate 2e-4 --eval-every 20 --save-steps 10
fi
# 2. the same with the MDL term (AST nodes, counted against correct programs only)
if stage 2; then
  latentcode train grpo $TASKS --runs-dir "$RUNS" --run-name grpo-ast --max-steps 40 \
    --num-generations 8 --per-device-train-batch-size 8 --max-completion-length 192 \
    --learning-rate 2e-4 --eval-every 20 --save-steps 10 --mdl ast --mdl-weight 0.005
fi
# 3. evolution strategies on the full weights, fewer members than Qiu et al. (30) for a CPU.
#    Their update, theta += alpha / N * sum_n z_n eps_n (alpha 5e-4, sigma 1e-3, z-scored
#    rewards), is ours, theta += lr * sum_j (r+_j - r-_j) eps_j / (N sigma) with centered ranks
#    r (std 0.29), with SGD at lr = alpha * sigma / 0.29 = 1.7e-6.
if stage 3; then
  latentcode train es $TASKS --runs-dir "$RUNS" --run-name es-full --max-steps 15 \
    --population 8 --sigma 1e-3 --optimizer sgd --lr 1.7e-6 --tasks-per-step 8 --max-new-tokens 192 \
    --eval-every 5 --save-every 5 --quiet true
fi
# 4. stage 1 with the 3-shot PAL prompt (the worked examples bench uses): denser reward, since
#    more programs run and come out right; the prompt is 3x longer, so fewer steps fit
if stage 4; then
  latentcode train grpo $TASKS --runs-dir "$RUNS" --run-name grpo-l0-3shot --max-steps 30 \
    --num-generations 8 --per-device-train-batch-size 8 --max-completion-length 192 \
    --learning-rate 2e-4 --eval-every 15 --save-steps 10 --few-shot 3
fi
# 5. stage 4 with the MDL term: the length comparison where more programs are right
if stage 5; then
  latentcode train grpo $TASKS --runs-dir "$RUNS" --run-name grpo-ast-3shot --max-steps 30 \
    --num-generations 8 --per-device-train-batch-size 8 --max-completion-length 192 \
    --learning-rate 2e-4 --eval-every 15 --save-steps 10 --few-shot 3 --mdl ast --mdl-weight 0.005
fi
