#!/usr/bin/env bash
# The code-expert figures in docs/benchmarks.md, in order of cost. Every run is a run folder
# under $RUNS; a run stopped half-way is finished with `latentcode bench --resume <folder>`.
# Then: python bench/expert_table.py $RUNS/* --out bench/results/expert.json
set -euo pipefail
RUNS=${RUNS:-runs/figures}
STAGES=${STAGES:-1 2 3 4 5}  # e.g. STAGES="1 2" for the quick ones
b() { latentcode bench --runs-dir "$RUNS" --quiet "$@"; }
stage() { [[ " $STAGES " == *" $1 "* ]]; }

# 1. the plain harness's reference settings (greedy, SmolLM2-135M, first 40)
if stage 1; then
  b --suite liststats --n 40 --mode code   --name liststats-code-0shot
  b --suite liststats --n 40 --mode direct --name liststats-direct-0shot
  b --suite gsm8k     --n 40 --mode code   --name gsm8k40-code-0shot
  b --suite gsm8k     --n 40 --mode code   --few-shot 3 --name gsm8k40-code-3shot
  b --suite mawps     --n 40 --mode code   --few-shot 3 --name mawps40-code-3shot
fi
# 2. a large-number suite (GSM-Hard style), where program-aided reasoning should help most
if stage 2; then
  b --suite arithmetic --n 40 --mode code   --few-shot 3 --name arithmetic-code-3shot
  b --suite arithmetic --n 40 --mode direct --few-shot 3 --name arithmetic-direct-3shot
fi
# 3. the first 200 of GSM8K and SVAMP, greedy, code vs direct
if stage 3; then
  for suite in gsm8k svamp; do
    b --suite $suite --n 200 --mode code   --few-shot 3 --name ${suite}200-code-3shot
    b --suite $suite --n 200 --mode direct --few-shot 3 --name ${suite}200-direct-3shot
  done
fi
# 4. the same with 4 samples at temperature 0.7, for maj@4 (about 25 minutes per run on 2 cores)
if stage 4; then
  for suite in gsm8k svamp; do
    b --suite $suite --n 200 --mode code   --few-shot 3 --samples 4 --batch-size 32 --name ${suite}200-code-3shot-k4
    b --suite $suite --n 200 --mode direct --few-shot 3 --samples 4 --batch-size 32 --name ${suite}200-direct-3shot-k4
  done
fi
# 5. the two generated suites with 4 samples at temperature 0.7, for maj@4
if stage 5; then
  b --suite liststats  --n 40 --mode code   --samples 4 --batch-size 32 --name liststats-code-0shot-k4
  b --suite liststats  --n 40 --mode direct --samples 4 --batch-size 32 --name liststats-direct-0shot-k4
  b --suite arithmetic --n 40 --mode code   --few-shot 3 --samples 4 --batch-size 32 --name arithmetic-code-3shot-k4
  b --suite arithmetic --n 40 --mode direct --few-shot 3 --samples 4 --batch-size 32 --name arithmetic-direct-3shot-k4
fi
