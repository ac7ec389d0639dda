"""The parts of the GPU trainer that do not need TRL, torch or transformers, so they can be tested anywhere.

trl_trainer.py wires these into TRL's GRPOTrainer:

- `to_trl_row` / `samples_from_trl`: a dataset row becomes a TRL row (`prompt` + the row kept whole as JSON in
  `assay_item`), and TRL's reward-function arguments become Assay samples `{completion, item, group}`.
- `rewards_for_trl`: Assay results become the floats TRL wants. TRL has no way to leave a sample out of the
  group statistics (a None reward is summed as 0), so an invalid result gets the mean of the valid scores of its
  group: the group mean is unchanged and that sample's advantage is exactly 0, so the evaluator's failure
  neither rewards nor penalises the policy. (The group's std then counts it as a sample at the mean, which
  scales the valid advantages slightly up; with no valid sample the whole group gets 0 and no signal.)
- `kpi_points`: TRL's log dict becomes metric points under names that never collide with the reward
  telemetry the platform records itself from the rewards calls (`reward/mean`, `reward/std`, ...).
- `plan_steps` / `grpo_batch_layout` / `precision_kwargs` / `schedule_kwargs`: what a step is (the CPU
  trainer's meaning of batchSize, epochs and maxSteps), how it is cut into bounded device batches, the dtype the
  weights load in, the learning-rate schedule.
- `grpo_config_kwargs` / `lora_config_kwargs`: the run's Hyperparams in TRL's and PEFT's terms.
- `TruncationMeter`: the share of prompts longer than `maxPromptLength` (which TRL cuts from the left), per step.
- `StepHooks`: what the TrainerCallback does (post KPIs on log, heartbeat, decide to stop), minus the class.
"""

from __future__ import annotations

import json
import math
import re
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

JsonObject = Dict[str, Any]

ITEM_COLUMN = "assay_item"

# Recorded by the platform from the rewards calls: a trainer must not post these names.
PLATFORM_METRICS = frozenset(
    {
        "reward/mean",
        "reward/std",
        "reward/invalid_rate",
        "reward/samples",
        "frac_reward_zero_std",
        "verifier/latency_p50_ms",
        "verifier/latency_p99_ms",
    }
)
# TRL's names for its own view of the rewards, renamed under train/ (the platform owns the plain ones).
_RENAMES = {
    "reward": "train/reward_mean",
    "reward_std": "train/reward_std",
    "frac_reward_zero_std": "train/frac_reward_zero_std",
}
# Written once at the end of training by transformers' Trainer: they belong in the run summary.
SUMMARY_KEYS = frozenset(
    {"train_runtime", "train_samples_per_second", "train_steps_per_second", "total_flos", "train_loss"}
)
_BAD_NAME_CHARS = re.compile(r"[^\w.:/@-]")


def prompt_of(row: JsonObject) -> Any:
    """A row's prompt: `prompt` (a string or chat messages), else `question` or `input`."""
    for key in ("prompt", "question", "input"):
        value = row.get(key)
        if isinstance(value, str) or (isinstance(value, list) and all(isinstance(m, dict) for m in value)):
            return value
    raise ValueError(f"row has no prompt, question or input: {json.dumps(row)[:200]}")


def has_chat_template(tokenizer: Any) -> bool:
    """Whether TRL may treat prompts as chat: it applies the tokenizer's chat template to every conversational
    prompt (grpo_trainer.py:1379 via data_utils.maybe_apply_chat_template), and transformers raises when the
    tokenizer has none (a gpt2-style base model)."""
    return bool(getattr(tokenizer, "chat_template", None))


def flatten_messages(messages: Sequence[JsonObject]) -> str:
    """A message list as plain text, for a model without a chat template: the contents, a blank line apart."""
    return "\n\n".join(str(m.get("content", "")) for m in messages)


def to_trl_row(row: JsonObject, chat: bool = True, index: Optional[int] = None) -> JsonObject:
    """A TRL dataset row: the prompt and the row itself (as JSON in `assay_item`).

    With `chat` (the tokenizer has a chat template) a plain-text prompt becomes one user message and a message
    list is kept; TRL requires it to end with a user turn (a generation prompt is added) or an assistant turn
    (continued), and raises at the first step otherwise (data_utils.py:100-109), so that is refused here, before
    the model loads. Without `chat` a message list is flattened to text.
    """
    where = f"row {index}" if index is not None else "row"
    prompt = prompt_of(row)
    if chat and isinstance(prompt, str):
        prompt = [{"role": "user", "content": prompt}]
    elif chat:
        if not prompt:
            raise ValueError(f"{where}: the prompt is an empty message list")
        last = prompt[-1].get("role")
        if last not in ("user", "assistant"):
            raise ValueError(f"{where}: a chat prompt must end with a user or assistant turn, not {last!r}")
    elif not isinstance(prompt, str):
        prompt = flatten_messages(prompt)
    return {"prompt": prompt, ITEM_COLUMN: json.dumps(row, separators=(",", ":"), sort_keys=True)}


def completion_text(completion: Any) -> str:
    """TRL gives a string (plain prompts) or a list of messages (chat prompts): the text the model wrote."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):
        return "".join(str(m.get("content", "")) for m in completion if isinstance(m, dict))
    if isinstance(completion, dict):
        return str(completion.get("content", ""))
    return str(completion)


def samples_from_trl(completions: Sequence[Any], kwargs: JsonObject, num_generations: int) -> List[JsonObject]:
    """Assay samples for one call of a TRL reward function.

    TRL repeats each prompt `num_generations` times in a row, and passes every dataset column in `kwargs` as a
    list aligned with `completions`; the row comes back from `assay_item`, and `group` is the prompt's index
    within the call.
    """
    items = kwargs.get(ITEM_COLUMN)
    if not isinstance(items, (list, tuple)) or len(items) != len(completions):
        raise ValueError(f"the reward function needs the {ITEM_COLUMN} column, one entry per completion")
    if num_generations < 1:
        raise ValueError("num_generations must be at least 1")
    return [
        {"completion": completion_text(c), "item": json.loads(items[i]), "group": i // num_generations}
        for i, c in enumerate(completions)
    ]


def rewards_for_trl(results: Sequence[JsonObject], samples: Sequence[JsonObject]) -> List[float]:
    """Floats for TRL, one per sample; an invalid result gets its group's valid mean (advantage 0)."""
    if len(results) != len(samples):
        raise ValueError(f"{len(results)} results for {len(samples)} samples")
    valid_by_group: Dict[Any, List[float]] = {}
    for r, s in zip(results, samples):
        if r.get("valid") is True:
            valid_by_group.setdefault(s.get("group"), []).append(float(r["score"]))
    out = []
    for r, s in zip(results, samples):
        if r.get("valid") is True:
            out.append(float(r["score"]))
        else:
            valid = valid_by_group.get(s.get("group"), [])
            out.append(sum(valid) / len(valid) if valid else 0.0)
    return out


def metric_name(key: str) -> Optional[str]:
    """Our name for a TRL log key, or None for keys that are not step KPIs."""
    if key in SUMMARY_KEYS or key == "step":
        return None
    name = _RENAMES.get(key)
    if name is None:
        name = "train/" + key if key.startswith("rewards/") else key
    name = _BAD_NAME_CHARS.sub("_", name)[:200]
    if not name or name in PLATFORM_METRICS:
        return None
    return name


def kpi_points(logs: JsonObject, step: int) -> List[JsonObject]:
    """Metric points for one TRL `on_log` call at `step`; non-numeric and non-finite values are dropped."""
    points = []
    for key in sorted(logs):
        value = logs[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if not math.isfinite(value):
            continue
        name = metric_name(key)
        if name is not None:
            points.append({"name": name, "step": int(step), "value": float(value)})
    return sorted(points, key=lambda p: p["name"])


def summary_from_logs(logs: JsonObject) -> JsonObject:
    return {k: v for k, v in logs.items() if k in SUMMARY_KEYS and isinstance(v, (int, float))}


# Bounds of the GRPO batch mapping (see grpo_batch_layout): sequences in one forward/backward pass, and in one
# generate() call. Up to the spec's maximum (batchSize 4096 x groupSize 64) memory stays that of these sizes.
MAX_MICRO_BATCH = 8
MAX_GENERATION_BATCH = 64


def plan_steps(hp: JsonObject, n_rows: int) -> JsonObject:
    """What a run trains, with the CPU trainer's meaning: `batchSize` prompts per step (clamped to the rows
    there are), `epochs` passes of ⌊rows / batchSize⌋ steps, at most `maxSteps` steps.

    TRL needs this decided up front: a positive `max_steps` overrides `num_train_epochs` in transformers
    (TrainingArguments.max_steps; Trainer.set_initial_training_values), and GRPO's repeat sampler drops a chunk
    with fewer prompts than the batch (grpo_trainer.py:177), so fewer rows than `batchSize` gave an empty data
    loader: no step, a "succeeded" run, an untrained adapter.
    """
    if n_rows < 1:
        raise ValueError("the run has no training rows")
    prompts = max(1, min(int(hp.get("batchSize", 16)), n_rows))
    epochs = max(1, int(hp.get("epochs", 1)))
    steps = min(epochs * (n_rows // prompts), max(1, int(hp.get("maxSteps", 500))))
    return {"prompts": prompts, "epochs": epochs, "steps": steps, "rows": n_rows}


def _largest_divisor_at_most(n: int, bound: int) -> int:
    return max(d for d in range(1, min(n, max(1, bound)) + 1) if n % d == 0)


def grpo_batch_layout(
    prompts: int, group: int, max_micro: int = MAX_MICRO_BATCH, max_generation: int = MAX_GENERATION_BATCH
) -> JsonObject:
    """per_device_train_batch_size, gradient_accumulation_steps and steps_per_generation for one optimiser step
    of `prompts` x `group` completions, single process.

    TRL generates once per `steps_per_generation` micro-batches, for the whole generation batch
    (per_device x steps_per_generation sequences, grpo_trainer.py:940 and :1577), and its sampler hands the data
    loader that generation batch once per micro-batch (repeat_count, :992). So: a generation batch holds whole
    groups of at most `max_generation` sequences (`prompts_per_generation` prompts, a divisor of `prompts`), a
    micro-batch at most `max_micro` sequences (a divisor of the generation batch), and accumulation covers the
    step exactly (a multiple of steps_per_generation, so TRL needs no old-policy log-probs). Groups are not tied
    to micro-batches: TRL shuffles the scored generation batch before cutting it (shuffle_sequence_dict, :1281).
    """
    per_generation = _largest_divisor_at_most(prompts, max(1, max_generation // group))
    generation = per_generation * group
    per_device = _largest_divisor_at_most(generation, max_micro)
    steps_per_generation = generation // per_device
    return {
        "per_device_train_batch_size": per_device,
        "steps_per_generation": steps_per_generation,
        "gradient_accumulation_steps": (prompts // per_generation) * steps_per_generation,
        "prompts_per_generation": per_generation,
    }


_DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}


def precision_kwargs(hp: JsonObject, cuda: bool, bf16_supported: bool) -> JsonObject:
    """The dtype the weights load in (`model_init_kwargs.torch_dtype`) and the matching mixed-precision flag.

    Without `torch_dtype` from_pretrained loads float32 (about 28 GB for a 7B model), and `bf16=True` only turns
    on autocast. `precision` (bf16|fp16|fp32) picks it; unset, bf16 where the GPU has it, else fp16 on a GPU,
    else fp32. bf16 and fp16 need a GPU that has them. TRL's configs default `bf16` to True unless fp16 is set
    (grpo_config.py `__post_init__`), so both flags are always passed.
    """
    precision = hp.get("precision") or ("bf16" if cuda and bf16_supported else "fp16" if cuda else "fp32")
    if precision not in _DTYPES:
        raise ValueError(f"precision must be bf16, fp16 or fp32, not {precision!r}")
    if precision == "bf16" and not (cuda and bf16_supported):
        raise ValueError("precision bf16 needs a GPU with bfloat16 support")
    if precision == "fp16" and not cuda:
        raise ValueError("precision fp16 needs a GPU")
    return {
        "model_init_kwargs": {"torch_dtype": _DTYPES[precision]},
        "bf16": precision == "bf16",
        "fp16": precision == "fp16",
    }


def schedule_kwargs(hp: JsonObject) -> JsonObject:
    """`lrScheduler` (constant|linear|cosine, default linear) and `warmupRatio` in transformers' terms: a
    constant schedule with warmup is "constant_with_warmup" (plain "constant" ignores the warmup)."""
    kind = hp.get("lrScheduler") or "linear"
    if kind not in ("constant", "linear", "cosine"):
        raise ValueError(f"lrScheduler must be constant, linear or cosine, not {kind!r}")
    warmup = float(hp.get("warmupRatio") or 0.0)
    if not 0.0 <= warmup < 1.0:
        raise ValueError("warmupRatio must be in [0, 1)")
    if kind == "constant" and warmup > 0:
        kind = "constant_with_warmup"
    return {"lr_scheduler_type": kind, "warmup_ratio": warmup}


def grpo_config_kwargs(
    hp: JsonObject, output_dir: str, n_rows: int, cuda: bool = True, bf16_supported: bool = True
) -> JsonObject:
    """GRPOConfig arguments for the run's Hyperparams and its number of training rows.

    A step is `plan_steps`'s: batchSize prompts (clamped to the rows) x groupSize completions, cut into bounded
    device batches by `grpo_batch_layout`; `max_steps` is the planned step count, so the schedule ends there.
    `max_prompt_length` is `maxPromptLength` or None: TRL's default (512) cuts longer prompts from the left,
    dropping the chat header and system prompt.
    """
    group = int(hp.get("groupSize", 8))
    plan = plan_steps(hp, n_rows)
    layout = grpo_batch_layout(plan["prompts"], group)
    max_prompt = hp.get("maxPromptLength")
    return {
        "output_dir": output_dir,
        "learning_rate": float(hp.get("learningRate", 1e-5)),
        "per_device_train_batch_size": layout["per_device_train_batch_size"],
        "gradient_accumulation_steps": layout["gradient_accumulation_steps"],
        "steps_per_generation": layout["steps_per_generation"],
        "num_generations": group,
        "num_train_epochs": plan["epochs"],
        "max_steps": plan["steps"],
        "beta": float(hp.get("klBeta", 0.04)),
        "temperature": max(float(hp.get("temperature", 1.0)), 1e-3),
        "max_prompt_length": int(max_prompt) if max_prompt else None,
        "max_completion_length": int(hp.get("maxCompletionLength", 256)),
        "seed": int(hp.get("seed", 0)),
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": "none",
        "remove_unused_columns": False,
        **schedule_kwargs(hp),
        **precision_kwargs(hp, cuda, bf16_supported),
    }


def lora_config_kwargs(hp: JsonObject) -> JsonObject:
    """PEFT LoraConfig arguments: `lora: { r, alpha }` (or the RFT names `loraRank` / `loraAlpha`), alpha
    defaulting to 2r; `loraTargets` (module names, default every linear layer); `loraDropout` (default 0.05)."""
    lora = hp.get("lora") if isinstance(hp.get("lora"), dict) else {}
    rank = int(lora.get("r") or hp.get("loraRank") or 16)
    alpha = lora.get("alpha") or hp.get("loraAlpha") or 2 * rank
    targets = hp.get("loraTargets")
    if targets is not None and (not isinstance(targets, list) or not all(isinstance(t, str) and t for t in targets)):
        raise ValueError("loraTargets must be a list of module names")
    dropout = hp.get("loraDropout")
    return {
        "r": rank,
        "lora_alpha": int(alpha),
        "lora_dropout": 0.05 if dropout is None else float(dropout),
        "target_modules": list(targets) if targets else "all-linear",
        "task_type": "CAUSAL_LM",
    }


class TruncationMeter:
    """The share of prompts a step trained on that TRL cut to `max_prompt_length` tokens, posted as
    `train/prompts_truncated_fraction` (0 when nothing is cut, always when there is no limit).

    `lengths` maps a row's `assay_item` to its prompt's token count, measured as TRL measures it (chat
    template applied, no special tokens added).
    """

    NAME = "train/prompts_truncated_fraction"

    def __init__(self, lengths: Dict[str, int], limit: Optional[int]) -> None:
        self.lengths, self.limit = lengths, limit
        self._by_step: Dict[int, List[int]] = {}

    def over_limit(self) -> int:
        return 0 if self.limit is None else sum(1 for n in self.lengths.values() if n > self.limit)

    def record(self, step: int, items: Sequence[str]) -> None:
        counts = self._by_step.setdefault(int(step), [0, 0])
        for item in items:
            counts[0] += int(self.limit is not None and self.lengths.get(item, 0) > self.limit)
            counts[1] += 1

    def points(self, step: int) -> List[JsonObject]:
        counts = self._by_step.pop(int(step), None)
        if not counts or not counts[1]:
            return []
        return [{"name": self.NAME, "step": int(step), "value": counts[0] / counts[1]}]


def reward_step(kwargs: JsonObject, fallback: int) -> int:
    """The optimiser step a reward call belongs to: TRL passes `trainer_state` (global_step counts finished
    steps, so the one being computed is global_step + 1); older versions do not, and the callback's count is used."""
    state = kwargs.get("trainer_state")
    step = getattr(state, "global_step", None)
    return int(step) + 1 if isinstance(step, int) else fallback


class StepHooks:
    """The TrainerCallback's logic: KPIs on log, step time, heartbeats, and whether to stop.

    `client` is an AssayClient; `interrupted` answers a signal name once SIGTERM/SIGINT arrived.
    """

    def __init__(
        self,
        client: Any,
        heartbeat_every: float = 30.0,
        interrupted: Callable[[], Optional[str]] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
        meters: Sequence[Any] = (),
        kpi_names: Callable[[JsonObject, int], List[JsonObject]] = kpi_points,
    ) -> None:
        self.client = client
        self.meters = list(meters)
        self.kpi_names = kpi_names
        self.heartbeat_every = heartbeat_every
        self.interrupted = interrupted
        self.clock = clock
        self.step = 0
        self.summary: JsonObject = {}
        self._pending: List[JsonObject] = []
        self._step_started: Optional[float] = None
        self._last_beat = clock()

    def step_begin(self, global_step: int) -> None:
        self.step = global_step + 1
        self._step_started = self.clock()

    def step_end(self, global_step: int) -> bool:
        """After an optimiser step: notes its duration (posted with the step's log), heartbeats when due;
        answers True when training should stop."""
        self.step = global_step
        if self._step_started is not None:
            self._pending.append({"name": "step_time_s", "step": global_step, "value": self.clock() - self._step_started})
            self._step_started = None
        for meter in self.meters:
            self._pending.extend(meter.points(global_step))
        if self.clock() - self._last_beat >= self.heartbeat_every:
            self.client.heartbeat(step=global_step)
            self._last_beat = self.clock()
        return self.should_stop()

    def log(self, logs: JsonObject, global_step: int) -> bool:
        self.summary.update(summary_from_logs(logs))
        points = self._pending + self.kpi_names(logs, global_step)
        self._pending = []
        if points:
            self.client.metrics(points)
        return self.should_stop()

    def flush(self) -> None:
        if self._pending:
            self.client.metrics(self._pending)
            self._pending = []

    def should_stop(self) -> bool:
        return bool(self.client.stop_requested or self.interrupted())
