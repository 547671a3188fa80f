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
STAGES=${STAGES:-1 2 3 4}
EM="--config configs/em.yaml --eval-difficulty 2 --iterations 6 --questions 24 --eval-every 3 --runs-dir $RUNS"
stage() { [[ " $STAGES " == *" $1 "* ]]; }

# run NAME ARGS...: a new run folder, or `--resume` of the newest one of that name
run() {
  local name=$1; shift
  local last
  last=$(ls -d "$RUNS"/*-"$name" 2>/dev/null | tail -1 || true)
  if [[ -n "$last" ]]; then
    latentcode train em "$@" --run-name "$name" --resume "$last"
  else
    latentcode train em "$@" --run-name "$name"
  fi
}

# 1. expert iteration (lambda 0), seed 0: the headline run
stage 1 && run d2-lambda0-seed0 $EM --seed 0
# 2. the Occam prior: a program's weight halves per 50 extra bits. The same start as stage 1
#    (same seed, same held-out questions), so its step-0 evaluation is stage 1's
stage 2 && run d2-lambda002-seed0 $EM --seed 0 --mdl-lambda 0.02 --eval-start false
# 3. and 4. the second seed of both
stage 3 && run d2-lambda0-seed1 $EM --seed 1 --eval-start false
stage 4 && run d2-lambda002-seed1 $EM --seed 1 --mdl-lambda 0.02 --eval-start false
exit 0
