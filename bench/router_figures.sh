#!/usr/bin/env bash
# The router experiments of docs/results.md: SmolLM2-135M, greedy, both paths on every question.
# Training questions: five generated families at difficulty 1 (numbers 0-100), MAWPS and GSM8K
# train (3-shot). Held-out: all seven families at difficulty 2 (numbers 0-1000; dates and
# sorting never trained on), SVAMP and GSM8K test (3-shot). One job at a time; each label run
# resumes its folder if it exists, so a session cut mid-run continues where it stopped:
#     STAGES="1 2" bash bench/router_figures.sh
set -euo pipefail
RUNS=${RUNS:-runs/router}
STAGES=${STAGES:-1 2 3 4 5}
TRAINED="liststats arithmetic strings counting numtheory"
ALL="$TRAINED dates sorting"
stage() { [[ " $STAGES " == *" $1 "* ]]; }
last_of() { ls -d "$RUNS"/*-"$1" 2>/dev/null | tail -1 || true; }

# label NAME ARGS...: a `bench --mode both` run folder, or the resumption of the newest of that name
# (MODE=routed: a `bench --mode routed` run instead; pass --router RUN)
label() {
  local name=$1; shift
  local last
  last=$(last_of "$name")
  if [[ -n "$last" ]]; then
    [[ -f "$last/summary.json" ]] || latentcode bench --resume "$last" --quiet
  else
    latentcode bench --mode "${MODE:-both}" --max-new-tokens 256 --runs-dir "$RUNS" --name "$name" --quiet "$@"
  fi
}

# 1. training labels
if stage 1; then
  for f in $TRAINED; do label "train-$f" --suite "$f" --n 60 --difficulty 1 --task-seed 0; done
  label train-mawps --suite mawps --n 150 --few-shot 3
  label train-gsm8k --suite gsm8k_train --n 150 --few-shot 3
fi
# 2. held-out labels
if stage 2; then
  for f in $ALL; do label "heldout-$f" --suite "$f" --n 30 --difficulty 2 --task-seed 1; done
  label heldout-svamp --suite svamp --n 100 --few-shot 3
  label heldout-gsm8k --suite gsm8k --n 100 --few-shot 3
fi
# 3. what costs are made of, and the router's own overhead
stage 3 && python bench/router_speed.py --out bench/results/router_speed.json
# 4. the routers: both forms, both objectives, four cost weights each
if stage 4; then
  for form in probe slot; do
    for objective in ce pg; do
      name="$form-$objective"
      [[ -n "$(last_of "$name")" ]] && continue
      latentcode train router --labels $(ls -d "$RUNS"/*-train-*) --eval-labels $(ls -d "$RUNS"/*-heldout-*) \
        --form "$form" --objective "$objective" --runs-dir "$RUNS" --run-name "$name"
    done
  done
fi
# 5. the probe/CE router at c = 0.5 answering the held-out questions itself (bench --mode routed):
#    one path per question, chosen in the forward pass; compare with what stage 4 predicted
if stage 5; then
  router=$(last_of probe-ce)
  for f in $ALL; do
    MODE=routed label "routed-$f" --router "$router" --cost-weight 0.5 --suite "$f" --n 30 --difficulty 2 --task-seed 1
  done
  MODE=routed label routed-svamp --router "$router" --cost-weight 0.5 --suite svamp --n 100 --few-shot 3
  MODE=routed label routed-gsm8k --router "$router" --cost-weight 0.5 --suite gsm8k --n 100 --few-shot 3
fi
