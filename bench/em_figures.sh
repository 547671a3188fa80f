#!/usr/bin/env bash
# The EM experiments of docs/results.md: SmolLM2-135M, zero-shot list statistics, trained on
# difficulty 1 (numbers 0-100, ~6 per list) and evaluated on 200 held-out questions of
# difficulty 2 (numbers 0-1000, ~7.4 per list). One job at a time (two torch jobs on 2 cores
# slow each other far more than 2x). Each stage resumes its run folder if it exists, so a
# session cut mid-run continues where it stopped:
#     STAGES="2 3" bash bench/em_figures.sh
# Then: python bench/training_report.py $RUNS/*-<name> --out docs/img/<figure> --json bench/results/<figure>.json
set -euo pipefail
RUNS=${RUNS:-runs/em}
STAGES=${STAGES:-1 2 3 4 5 6 7 8 9 10 11 12}
EM="--config configs/em.yaml --eval-difficulty 2 --iterations 6 --questions 24 --eval-every 3 --runs-dir $RUNS"
stage() { [[ " $STAGES " == *" $1 "* ]]; }

# the newest run folder of that name, or nothing
last_of() { ls -d "$RUNS"/*-"$1" 2>/dev/null | tail -1 || true; }

# train KIND NAME ARGS...: a new run folder, or `--resume` of the newest one of that name
train() {
  local kind=$1 name=$2; shift 2
  local last
  last=$(last_of "$name")
  if [[ -n "$last" ]]; then
    latentcode train "$kind" "$@" --run-name "$name" --resume "$last"
  else
    latentcode train "$kind" "$@" --run-name "$name"
  fi
}
run() { train em "$@"; }

# 1. expert iteration (lambda 0), seed 0: the headline run
stage 1 && run d2-lambda0-seed0 $EM --seed 0
# 2. the Occam prior: a program's weight halves per 50 extra bits. The same start as stage 1
#    (same seed, same held-out questions), so its step-0 evaluation is stage 1's
stage 2 && run d2-lambda002-seed0 $EM --seed 0 --mdl-lambda 0.02 --eval-start false
# 3. the second seed of stage 1
stage 3 && run d2-lambda0-seed1 $EM --seed 1 --eval-start false
# 4. stage 2 with programs kept only when also right on 3 re-askings of their question (stage 2
#    taught the median of odd-length lists: the shortest program right on one example)
stage 4 && run d2-lambda002-reask3-seed0 $EM --seed 0 --mdl-lambda 0.02 --reask-variants 3 --eval-start false
# 8. the second seed of stage 2
stage 8 && run d2-lambda002-seed1 $EM --seed 1 --mdl-lambda 0.02 --eval-start false
# 11. lambda 0 with stage 4's three re-askings: separates the prior from the stricter check
stage 11 && run d2-lambda0-reask3-seed0 $EM --seed 0 --reask-variants 3 --eval-start false
# 12. the second seed of stage 4
stage 12 && run d2-lambda002-reask3-seed1 $EM --seed 1 --mdl-lambda 0.02 --reask-variants 3 --eval-start false

# Word problems: EM on MAWPS with the 3-shot PAL prompt, evaluated on 200 SVAMP questions
# (another dataset: ASDiv-A problems varied by reordering and distracting quantities)
# 9. training
stage 9 && run wp-mawps-svamp-seed0 --config configs/em.yaml --suite mawps --eval-suite svamp --few-shot 3 \
  --train-size 1024 --iterations 6 --questions 32 --eval-every 3 --runs-dir $RUNS --seed 0
# 10. GSM8K test[:200], 3-shot, before and after stage 9 (bench runs; --resume finishes a cut one)
bench() {
  local name=$1; shift
  local last
  last=$(last_of "$name")
  if [[ -n "$last" ]]; then
    [[ -f "$last/summary.json" ]] || latentcode bench --resume "$last" --quiet true
  else
    latentcode bench --suite gsm8k --n 200 --few-shot 3 --mode code --runs-dir "$RUNS" --name "$name" --quiet true "$@"
  fi
}
stage 10 && bench gsm8k200-base && bench gsm8k200-wp-em --weights "$(last_of wp-mawps-svamp-seed0)"

# The other methods at EM's budget of 1152 completions, on the same split and token limit.
GRPO="--suite liststats --eval-size 200 --eval-difficulty 2 --num-generations 8 --per-device-train-batch-size 8 \
  --questions-per-step 4 --max-completion-length 256 --learning-rate 2e-4 --temperature 0.7 \
  --lr-scheduler-type constant --save-steps 2 --runs-dir $RUNS"
# 5. GRPO from the start: the curriculum keeps the questions the model solves sometimes
#    (64 questions x 8 samples = 512 completions), then 20 steps of 4 questions x 8 = 640
stage 5 && train grpo grpo-d2-seed0 $GRPO --train-size 64 --curriculum-samples 8 --max-steps 20 \
  --eval-every 10 --seed 0
# 6. EM -> GRPO: EM's first 3 iterations (576 completions, stage 1's checkpoint), then GRPO
#    with its curriculum (32 x 4 = 128) and 14 steps (448)
stage 6 && train grpo em3-grpo-d2-seed0 $GRPO --init-from "$(last_of d2-lambda0-seed0)/checkpoints/iter-3" \
  --train-size 32 --curriculum-samples 4 --max-steps 14 --eval-every 7 --seed 0
# 7. ES on every weight, bench/train_figures.sh's stage 3 settings: 8 members x 8 questions
#    = 64 greedy completions a step, 18 steps
stage 7 && train es es-d2-seed0 --suite liststats --eval-size 200 --eval-difficulty 2 \
  --population 8 --tasks-per-step 8 --sigma 1e-3 --optimizer sgd --lr 1.7e-6 --max-new-tokens 256 \
  --max-steps 18 --eval-every 9 --save-every 3 --runs-dir $RUNS --seed 0 --quiet true
exit 0
