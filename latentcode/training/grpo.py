"""GRPO on the code expert's programs, through TRL's GRPOTrainer.

    run = train_grpo(compose(GRPOSetup, model="smollm2-135m", mdl="ast", mdl_weight=0.2, max_steps=50))
    python -m latentcode.training.grpo --config run.yaml --mdl ast --mdl-weight 0.01 --max-steps 5

The model writes a program for each question; the sandbox runs the whole group's programs
in one batch; the reward is the executed output's grade (``correctness``) minus lambda
times the program's length (``mdl``), from ``latentcode.training.rewards``. The policy never sees
the output tokens as targets: the code is latent. Prompts are the ones ``latentcode
bench`` sends (``CodeExpert.messages``, chat template applied by TRL), so a bench run and
a training run are compared on the same text.

Thin over TRL: the trainer is GRPOTrainer with one method overridden (``CodeGRPOTrainer``:
completions end at the closing fence); two callbacks add the held-out evaluation (greedy, the
project's own decoder) and the run folder's JSON-lines logs. The run folder, its resume rules,
the rewards and held-out evaluation are the harness's (``training/harness.py``); the loop and
checkpoints are TRL's.
The run folder holds config.json, samples.jsonl (every training completion, bench's row
format plus ``step``: the optimizer step it was trained in), eval_samples.jsonl (the
held-out completions), metrics.jsonl, evals.jsonl, tensorboard/ and checkpoints/.
"""
from __future__ import annotations

import contextlib
import copy
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import torch

from transformers import ProgressCallback
from transformers.trainer_utils import get_last_checkpoint
from trl import GRPOConfig, GRPOTrainer
from trl.models import unwrap_model_for_generation

from latentcode.checkpoints import WarmStart
from latentcode.config import RunConfig, fill_from_run, setting
from latentcode.expert.code_expert import CodeExpert
from latentcode.expert.prompts import PromptConfig
from latentcode.expert.sampling import ExpertConfig
from latentcode.models import ModelArgs, bf16_autocast, bf16_is_fast, float32_logits, trained_weights_dtype
from latentcode.training import harness
from latentcode.training.harness import HeldOut, Rewards, open_run
from latentcode.training.heldout import RunLog
from latentcode.training.lora_merge import lora_merged
from latentcode.training.prefix_logps import per_token_logps
from latentcode.training.programs import e_step
from latentcode.training.quiet import trl_deprecations
from latentcode.training.rewards import RewardConfig, tasks_to_rows
from latentcode.training.trl_callbacks import HeldoutEval, MetricsLog, StepLine
from sandbox.config import SandboxConfig
from tasks.config import SplitConfig, TaskConfig, load_split


# vLLM stops on strings, not on a parse: a closing fence is three backticks alone on their
# line. An opening fence carries its language ("```python\n"), so it does not match, except a
# bare one after text, which then ends the reply without code (graded no_code).
VLLM_FENCE_STOP = "\n```\n"


@dataclass
class CodeGRPOConfig(GRPOConfig):
    """GRPOConfig plus the fence stop, the held-out evaluation and the run folder; the model,
    tasks, prompt, rewards and sandbox are their own sections of ``GRPOSetup``. The device is
    the trainer's (cuda when available; ``use_cpu`` forces the CPU)."""

    # what GRPOConfig's __post_init__ derives from other fields (or this project sets): a resumed
    # run re-derives them (latentcode.config)
    derived_fields: ClassVar[tuple[str, ...]] = ("generation_batch_size", "steps_per_generation",
                                                 "output_dir", "logging_dir")

    stop_at_fence: bool = setting(True, "a completion ends when its code block closes: sampled with the project's decoder (the shared prompt start prefilled once), or with --use-vllm by vLLM with the closing fence as a stop string (False: TRL's model.generate, which runs every completion to max_completion_length)")
    merge_lora_for_generation: bool = setting(True, "sample from the LoRA adapters merged into (a restored copy of) the base weights, with the adapters off: the same policy without two extra matmuls per adapted projection per token")
    share_prompt_prefix: bool = setting(True, "the log-probability forward runs the prompt start every completion of a batch shares once, its keys and values (and gradient) shared by all rows, instead of once per row; False: TRL's forward over every row")
    eval_every: int = setting(10, "held-out evaluation every N steps (0: only at start and end)")
    init_from: str | None = setting(None, "an EM, ES or GRPO run folder of the same base model (or one of its checkpoints, RUN/checkpoints/iter-3): start from its last checkpoint's weights (a LoRA run's adapters become this run's starting adapters, with the same lora_r / lora_alpha / targets)")
    questions_per_step: int | None = setting(None, "questions per optimizer step (per process): sets gradient_accumulation_steps to questions_per_step x num_generations / per_device_train_batch_size")
    curriculum_samples: int = setting(0, "before training, sample this many programs per training question with the starting model and train only on the questions it solves sometimes but not always (0 < pass rate < 1: the groups whose advantages are not all zero); 0: every question")

    # TRL's seed and run name, set from the run section's --seed and --run-name
    # (latentcode.config.fill_from_run): copies, not settings of this section
    seed: int = field(default=42, init=False)
    run_name: str | None = field(default=None, init=False)

    # GRPOConfig defaults changed for short runs of a small model on a CPU
    max_steps: int = setting(-1, "optimizer steps; -1: num_train_epochs over the training split (the number of steps that makes is printed before training starts)")
    output_dir: str | None = setting(None, "ignored: checkpoints go to the run folder's checkpoints/")
    learning_rate: float = setting(1e-5, "AdamW learning rate; 1e-5 for full weights, try 1e-4 to 5e-4 with LoRA")
    logging_steps: float = setting(1, "log (metrics.jsonl, TensorBoard) every N steps")
    save_steps: float = setting(10, "checkpoint every N steps (what resume continues from)")
    report_to: None | str | list[str] = setting(None, "logging integrations; TensorBoard writes to the run folder's tensorboard/",
                                                factory=lambda: ["tensorboard"])
    max_completion_length: int | None = setting(256, "token limit per completion")
    num_generations: int | None = setting(4, "completions per question (the GRPO group)")
    per_device_train_batch_size: int = setting(4, "completions per micro-batch; the generation batch must hold whole groups")
    beta: float = setting(0.0, "KL coefficient (0: no reference model)")
    temperature: float = setting(0.7, "sampling temperature of the completions")
    # None, not False: transformers 5 resolves this deprecated alias of activation_checkpointing
    # (default off) and warns whenever it is set, as TRL's default True is
    gradient_checkpointing: bool | None = setting(None, "deprecated alias of activation_checkpointing")
    bf16: bool | None = setting(None, "bf16 autocast (default: on GPUs with bf16 and on CPUs that multiply bf16 natively); trained weights stay float32 unless --dtype says otherwise, LoRA's frozen base weights are stored in bf16")

    def __post_init__(self):
        if self.max_steps == 0 or self.max_steps < -1:
            raise ValueError(f"max_steps ({self.max_steps}) must be at least 1 (or -1: train num_train_epochs "
                             "over the training split)")
        if self.questions_per_step is not None:
            total = self.questions_per_step * (self.num_generations or 1)
            if self.questions_per_step < 1 or total % self.per_device_train_batch_size:
                raise ValueError(
                    f"questions_per_step ({self.questions_per_step}) x num_generations ({self.num_generations}) "
                    f"must be a positive multiple of per_device_train_batch_size ({self.per_device_train_batch_size})")
            if self.gradient_accumulation_steps not in (1, total // self.per_device_train_batch_size):
                raise ValueError(f"gradient_accumulation_steps ({self.gradient_accumulation_steps}) contradicts "
                                 f"questions_per_step ({self.questions_per_step}); set one of them")
            self.gradient_accumulation_steps = total // self.per_device_train_batch_size
        if self.curriculum_samples < 0 or self.curriculum_samples == 1:
            raise ValueError(f"curriculum_samples ({self.curriculum_samples}) must be 0 (off) or at least 2: "
                             "one sample cannot tell sometimes from always")
        if self.bf16 is None:
            on_gpu = torch.cuda.is_available() and not self.use_cpu
            self.bf16 = bf16_is_fast("cuda" if on_gpu else "cpu")
        if self.bf16 and not torch.cuda.is_available():
            self.use_cpu = True  # transformers refuses CPU bf16 unless told the run is on CPU
        if self.eval_every < 0:
            raise ValueError(f"eval_every ({self.eval_every}) must be >= 0 (0: only at start and end)")
        if isinstance(self.generation_kwargs, str):  # from a flag: JSON
            try:
                self.generation_kwargs = json.loads(self.generation_kwargs)
            except ValueError as e:
                raise ValueError(f"generation_kwargs must be a JSON object, e.g. '{{\"stop\": [\"##\"]}}' ({e})") from None
            if not isinstance(self.generation_kwargs, dict):
                raise ValueError("generation_kwargs must be a JSON object, e.g. '{\"stop\": [\"##\"]}'")
        self._check_fence_stop()
        super().__post_init__()

    def _check_fence_stop(self) -> None:
        """stop_at_fence: with vLLM, the closing fence becomes its stop string; with the
        project's decoder, the options only TRL's own generation honours are refused."""
        if self.stop_at_fence and self.use_vllm:
            # vLLM generates (TRL's colocate or server mode); the fence becomes its stop string
            extra = dict(self.generation_kwargs or {})
            if "stop" in extra:
                raise ValueError("generation_kwargs 'stop' is set by stop_at_fence with use_vllm; "
                                 "leave it out, or set --stop-at-fence false")
            self.generation_kwargs = {**extra, "stop": [VLLM_FENCE_STOP], "include_stop_str_in_output": True}
        elif self.stop_at_fence:
            # each option's values that mean "off"; the first is the one to leave it at
            unsupported = {"top_k": (self.top_k, (0, None)), "min_p": (self.min_p, (None,)),
                           "repetition_penalty": (self.repetition_penalty, (1.0,)),
                           "generation_kwargs": (self.generation_kwargs, (None,)),
                           "mask_truncated_completions": (self.mask_truncated_completions, (False,))}
            for name, (value, off) in unsupported.items():
                if value not in off:
                    raise ValueError(
                        f"{name}={value!r} needs TRL's own generation: set stop_at_fence false "
                        f"(--stop-at-fence false), or leave {name} at {off[0]!r}. The fence-stopping "
                        "decoder samples with temperature and top_p only"
                        + (", and a completion it stops at the fence has no end-of-sequence token, "
                           "which TRL would count as truncated" if name == "mask_truncated_completions" else ""))

    def sampling(self, num_samples: int) -> ExpertConfig:
        """TRL's sampling fields as the decoder's settings (the curriculum filter samples with
        the project's decoder, as the policy will): GRPO has no ``expert`` section, since TRL
        owns ``temperature``, ``top_p`` and the completion length."""
        sampling = ExpertConfig(num_samples=num_samples, temperature=self.temperature, top_p=self.top_p,
                                max_new_tokens=self.max_completion_length)
        sampling.seed = self.seed
        return sampling

    @property
    def completions_per_step(self) -> int:
        """Completions generated per optimizer step, all processes: each generation batch
        serves ``steps_per_generation`` micro-steps, ``num_iterations`` times over."""
        return (self.per_device_train_batch_size * self.world_size
                * self.gradient_accumulation_steps // self.num_iterations)


@dataclass
class GRPOSetup:
    """Everything a GRPO run reads, one section per part (``latentcode.config``). LoRA is on by
    default here (``--lora false`` trains every weight). No ``expert`` section: the policy
    samples with TRL's settings (``CodeGRPOConfig.sampling``)."""
    KIND: ClassVar[str] = "grpo"  # what config.json records; resume refuses other kinds
    grpo: CodeGRPOConfig = field(default_factory=CodeGRPOConfig)
    run: RunConfig = field(default_factory=lambda: RunConfig(seed=42))  # TRL's default seed
    model: ModelArgs = field(default_factory=lambda: ModelArgs(use_peft=True))
    task: TaskConfig = field(default_factory=TaskConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    prompt: PromptConfig = field(default_factory=PromptConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    sandbox: SandboxConfig = field(default_factory=SandboxConfig)

    def __post_init__(self):
        fill_from_run(self)  # --seed is TRL's seed too
        if self.run.device is not None:
            raise ValueError(f"device ({self.run.device}): GRPO runs where TRL puts it; leave --device out "
                             "(--use-cpu for the CPU; CUDA_VISIBLE_DEVICES picks the GPUs)")
        if self.run.quiet:
            self.grpo.disable_tqdm = True


class CodeGRPOTrainer(GRPOTrainer):
    """GRPOTrainer whose completions end when their code block closes.

    Overrides one method, TRL's private ``_generate_single_turn`` (its signature is pinned by
    pyproject's TRL range and checked by tests/test_grpo.py). TRL's generation stops only at
    end-of-sequence. A small model keeps writing after its program (explanations, a second
    block), so without this every completion runs to max_completion_length: the extra
    tokens cost generation and backward time and add noise to the loss while changing no
    reward (only the first block is run). Sampling is the code expert's decoder
    (``CodeExpert.decode_ids``): the shared prompt start is prefilled once per generation
    batch, a finished row leaves the batch, sampling uses temperature and top_p from torch's
    global generator (which the trainer checkpoints, so a resume samples what the
    uninterrupted run sampled). Everything else (log-probs, advantages, loss) is TRL's,
    computed from the returned token ids.

    ``expert``: a CodeExpert (its prompts and stop rule); its model is pointed at the
    unwrapped trained model before each batch.
    """

    def __init__(self, *args, expert, **kwargs):
        super().__init__(*args, **kwargs)
        self.expert = expert

    def _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, logits_to_keep,
                                           batch_size=None, compute_entropy=False, compute_aux_loss=False,
                                           **extra):
        """TRL's, except that the prompt start all rows share (a group's whole prompt; the
        system prompt and examples across groups) is run once, not once per row
        (``prefix_logps``): the same values and gradients, a fraction of the prompt's work.
        TRL's own forward serves images, MoE auxiliary losses and rows sharing too little."""
        if (self.args.share_prompt_prefix and not compute_aux_loss
                and all(v is None for v in extra.values())):
            got = per_token_logps(model, input_ids, attention_mask, logits_to_keep, batch_size,
                                  compute_entropy, self.accelerator.autocast)
            if got is not None:
                return got[0], got[1], None
        return super()._get_per_token_logps_and_entropies(
            model, input_ids, attention_mask, logits_to_keep, batch_size=batch_size,
            compute_entropy=compute_entropy, compute_aux_loss=compute_aux_loss, **extra)

    def _generate_single_turn(self, prompt_ids, images, multimodal_fields, num_generations,
                              has_tool_images=False):
        if (not self.args.stop_at_fence or self.args.use_vllm
                or images is not None and any(images)):
            return super()._generate_single_turn(prompt_ids, images, multimodal_fields,
                                                 num_generations, has_tool_images)
        with (unwrap_model_for_generation(self.model_wrapped, self.accelerator,
                                          gather_deepspeed3_params=self.args.ds3_gather_for_generation,
                                          gradient_checkpointing_kwargs=self.args.gradient_checkpointing_kwargs)
              as unwrapped, torch.no_grad(), self.accelerator.autocast(),
              lora_merged(unwrapped) if self.args.merge_lora_for_generation else contextlib.nullcontext()):
            self.expert.model = unwrapped
            self.expert.forget_prefix()  # the weights moved since the last batch (fused AdamW leaves no trace)
            # a sampled end-of-sequence stays in the completion, as in TRL's generation
            completion_ids, _ = self.expert.decode_ids(
                [list(p) for p in prompt_ids], temperature=self.temperature, top_p=self.top_p,
                max_new_tokens=self.max_completion_length, eos_token_ids=set(self.eos_token_ids),
                keep_eos=True)
        return completion_ids, None


def _curriculum(setup: GRPOSetup, log: RunLog, model, tok, tasks):
    """(the training tasks the starting model solves sometimes but not always, completions
    spent finding them). Each task's pass rate over ``curriculum_samples`` programs (right and
    not hard-coded, as the EM E-step counts them) goes to curriculum.jsonl; a resumed run
    reads that file instead of sampling again."""
    config = setup.grpo
    by_id = {t.id: t for t in tasks}
    rows = log.read("curriculum.jsonl")
    if rows:
        if {r.get("task_id") for r in rows} != set(by_id) or not all(
                isinstance(r.get("train"), bool) for r in rows):
            raise ValueError(f"{log.path}/curriculum.jsonl does not match this run's training questions; "
                             "start a new run")
    else:
        k = config.curriculum_samples
        expert = CodeExpert(model, tok, config.sampling(k), prompt=setup.prompt, sandbox_config=setup.sandbox)
        rewards = Rewards(setup, tok, config.max_completion_length).training  # its own: not logged
        with bf16_autocast(model, config.bf16)(), torch.no_grad():
            _, kept = e_step(expert, rewards, tasks, [expert.prompt(t) for t in tasks], 0.0)
        rows = []
        for q, t in enumerate(tasks):
            rate = len(kept.get(q, ())) / k
            rows.append({"task_id": t.id, "pass_rate": rate, "samples": k, "train": 0 < rate < 1})
        log.append("curriculum.jsonl", rows)
    chosen = [by_id[r["task_id"]] for r in rows if r["train"]]
    if not chosen:
        raise ValueError(f"no training question has a pass rate strictly between 0 and 1 over "
                         f"{config.curriculum_samples} samples ({log.path}/curriculum.jsonl): raise "
                         "curriculum_samples or train_size, or warm-start with --init-from")
    return chosen, len(rows) * rows[0]["samples"]


def _training_samples(log: RunLog):
    """samples.jsonl rows labelled with the optimizer step they train: TRL scores a batch
    at global_step g, before step g + 1 (so a resume from checkpoint-g repeats them)."""
    write = log.samples_callback()

    def on_scored(scored, step):
        if step is not None:
            step += 1
            for s in scored:
                s.sample.step = step
        write(scored, step)
    return on_scored


# settings a resumed run may be given anew: how long it trains, how often it logs, evaluates and saves
_RESUMABLE = {"max_steps", "num_train_epochs", "eval_every", "save_steps", "logging_steps", "report_to"}


def _open_run(setup: GRPOSetup):
    """(run, TRL checkpoint to resume from or None), on every process of a distributed run
    (``accelerate launch``); checkpoints go to the run folder's checkpoints/."""
    _ = setup.grpo.device  # sets up the process group as the trainer will (use_cpu: gloo)

    def into_folder(run) -> None:
        setup.grpo.output_dir = str(run.path / "checkpoints")
    return open_run(setup, setup.grpo.distributed_state, _RESUMABLE | set(CodeGRPOConfig.derived_fields),
                    find_checkpoint=_last_trl_checkpoint, prepare=into_folder)


def _last_trl_checkpoint(run_path: Path) -> Path:
    """TRL's last checkpoint-N in the run folder; a resumed GRPO run needs one."""
    folder = run_path / "checkpoints"
    last = get_last_checkpoint(str(folder)) if folder.is_dir() else None
    if last is None:
        raise FileNotFoundError(f"{folder} has no checkpoint-* folder to resume from; "
                                "start a new run, or lower save_steps so runs checkpoint sooner")
    return Path(last)


def build_dataset(tasks, expert):
    """Conversational rows: TRL applies the chat template, as ``CodeExpert.prompt`` does."""
    from datasets import Dataset
    return Dataset.from_list([{"prompt": expert.messages(t), **row}
                              for t, row in zip(tasks, tasks_to_rows(tasks))])


@trl_deprecations()
def train_grpo(setup: GRPOSetup) -> Path:
    """Train, logging into a run folder (a new one, or ``setup.run.resume``); returns its path."""
    trainer, run_path, checkpoint = build_trainer(setup)
    trainer.train(resume_from_checkpoint=checkpoint)
    return run_path


@trl_deprecations()
def build_trainer(setup: GRPOSetup):
    """(trainer, run folder, checkpoint to resume from or None), ready for ``trainer.train``.
    ``trainer.remove_callback(HeldoutEval)`` leaves out the held-out evaluations."""
    from transformers import set_seed
    from transformers.integrations import TensorBoardCallback

    config = setup.grpo
    train_tasks, heldout = load_split(setup.task, setup.split)
    run, checkpoint = _open_run(setup)
    log = RunLog(run.path)

    set_seed(config.seed)  # LoRA's initial weights come from the global generator
    model, tok = setup.model.load(device=str(config.device), default_dtype=trained_weights_dtype(config.bf16, setup.model.use_peft))
    start = WarmStart(config.init_from, setup.model) if config.init_from else None
    if start is not None:
        model = start.into_base(model)
    if config.bf16:
        float32_logits(model)  # GRPO's log-probabilities (the ratio, the loss) in float32
    length_model = None
    if setup.reward.mdl == "model_bits":
        length_model = copy.deepcopy(model).requires_grad_(False)
    rewards = Rewards(setup, tok, config.max_completion_length, on_scored=_training_samples(log),
                      length_model=length_model)
    heldout_eval = HeldoutEval(config.eval_every, tok, HeldOut(heldout, log, rewards.heldout, setup.prompt,
                                                               config.max_completion_length, config.bf16))
    expert = CodeExpert(model, tok, prompt=setup.prompt, sandbox_config=setup.sandbox)
    metrics_log = MetricsLog(config.completions_per_step, log)
    trainer = CodeGRPOTrainer(model=model, reward_funcs=rewards.training.functions(), args=config,
                              train_dataset=build_dataset(train_tasks, expert), processing_class=tok,
                              peft_config=setup.model.peft_config(), expert=expert,
                              callbacks=[heldout_eval, metrics_log])
    heldout_eval.handler = trainer.callback_handler
    if trainer.pop_callback(ProgressCallback) is not None:  # shown unless --disable-tqdm
        trainer.add_callback(StepLine())
    if start is not None and checkpoint is None:  # a resumed run's own checkpoint has the adapters
        start.into_adapters(trainer.model)
    if config.curriculum_samples:  # filtered with the starting model, adapters and all
        metrics_log.first = _filter_by_curriculum(setup, trainer, log, train_tasks, expert, new=checkpoint is None)
    if config.max_steps == -1:  # TRL's "no step limit": say what it means before a long run starts
        print(f"max_steps -1: {config.num_train_epochs:g} epoch(s) over {len(trainer.train_dataset)} training "
              f"questions, about {_epoch_steps(config, len(trainer.train_dataset))} optimizer steps; "
              "--max-steps N sets the number", file=sys.stderr)
    for cb in trainer.callback_handler.callbacks:
        if isinstance(cb, TensorBoardCallback):  # transformers 5 has no logging_dir argument
            cb.logging_dir = str(run.path / "tensorboard")
    return trainer, run.path, str(checkpoint) if checkpoint is not None else None


def _filter_by_curriculum(setup: GRPOSetup, trainer, log: RunLog, train_tasks, expert, new: bool) -> int:
    """The trainer's dataset cut to the questions the curriculum keeps (``_curriculum``);
    returns the completions spent choosing them."""
    from transformers import set_seed
    if trainer.accelerator.num_processes > 1:
        raise ValueError("curriculum_samples runs on one process; filter once with one process "
                         "(its curriculum.jsonl is reused on resume), or set it to 0")
    try:
        chosen, spent = _curriculum(setup, log, trainer.model, trainer.processing_class, train_tasks)
    except ValueError:  # no question to train on: a new run's folder is left holding nothing
        if new and setup.run.resume is None:
            (log.path / "curriculum.jsonl").unlink(missing_ok=True)
        raise
    trainer.train_dataset = build_dataset(chosen, expert)  # read when train() builds its loader
    set_seed(setup.grpo.seed)  # the filter's sampling leaves the run's generators as without it
    return spent


def _epoch_steps(config: CodeGRPOConfig, questions: int) -> int:
    """Optimizer steps of ``num_train_epochs`` over ``questions`` (what max_steps -1 trains)."""
    import math
    per_step = config.per_device_train_batch_size * config.gradient_accumulation_steps * config.world_size
    return math.ceil(questions * config.num_generations * config.num_iterations / per_step) * math.ceil(config.num_train_epochs)


def parse_setup(argv: list[str] | None = None) -> GRPOSetup:
    """``--config run.yaml`` and flags (``--mdl ast --mdl-weight 0.01``); flags win."""
    return harness.parse_setup(GRPOSetup, argv)


def main(argv: list[str] | None = None) -> int:
    """``latentcode train grpo``; under ``accelerate launch`` every process runs this and the
    main one prints the summary."""
    return harness.run_command(GRPOSetup, train_grpo, argv)


if __name__ == "__main__":
    raise SystemExit(main())
