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
- `grpo_config_kwargs` / `lora_config_kwargs`: the run's Hyperparams in TRL's and PEFT's terms.
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


def to_trl_row(row: JsonObject, chat: bool = True) -> JsonObject:
    """A TRL dataset row: the prompt (as a one-message chat when `chat` and it is plain text) and the row itself."""
    prompt = prompt_of(row)
    if chat and isinstance(prompt, str):
        prompt = [{"role": "user", "content": prompt}]
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


def grpo_config_kwargs(hp: JsonObject, output_dir: str, bf16: bool) -> JsonObject:
    """GRPOConfig arguments for the run's Hyperparams.

    `batchSize` counts prompts per optimiser step and `groupSize` completions per prompt: one device batch is one
    group, accumulated `batchSize` times, so each step trains on batchSize x groupSize completions.
    """
    group = int(hp.get("groupSize", 8))
    return {
        "output_dir": output_dir,
        "learning_rate": float(hp.get("learningRate", 1e-5)),
        "per_device_train_batch_size": group,
        "gradient_accumulation_steps": int(hp.get("batchSize", 16)),
        "num_generations": group,
        "num_train_epochs": int(hp.get("epochs", 1)),
        "max_steps": int(hp.get("maxSteps", 500)),
        "beta": float(hp.get("klBeta", 0.04)),
        "temperature": max(float(hp.get("temperature", 1.0)), 1e-3),
        "max_completion_length": int(hp.get("maxCompletionLength", 256)),
        "seed": int(hp.get("seed", 0)),
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": "none",
        "remove_unused_columns": False,
        "bf16": bf16,
    }


def lora_config_kwargs(hp: JsonObject) -> JsonObject:
    rank = int(hp.get("loraRank", 16))
    return {
        "r": rank,
        "lora_alpha": int(hp.get("loraAlpha") or 2 * rank),
        "lora_dropout": 0.05,
        "target_modules": "all-linear",
        "task_type": "CAUSAL_LM",
    }


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
    ) -> None:
        self.client = client
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
        if self.clock() - self._last_beat >= self.heartbeat_every:
            self.client.heartbeat(step=global_step)
            self._last_beat = self.clock()
        return self.should_stop()

    def log(self, logs: JsonObject, global_step: int) -> bool:
        self.summary.update(summary_from_logs(logs))
        points = self._pending + kpi_points(logs, global_step)
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
