#!/usr/bin/env python3
"""The GPU trainer: TRL's GRPOTrainer with a PEFT LoRA adapter, rewarded by the Assay platform.

The container's ENTRYPOINT. With ASSAY_API_URL, ASSAY_RUN_ID and ASSAY_RUN_TOKEN set (see assay_client.py):

1. reads the run's spec and its training rows from the API;
2. trains `baseModel` with GRPO + LoRA; every batch of completions is scored by `POST /v1/runs/{id}/rewards`
   (item = the dataset row, group = the prompt's index), invalid results taking no part (see trl_glue.py);
3. posts TRL's logged KPIs as metrics, heartbeats, and stops when any answer says `stop` (early stopping,
   a limit, a cancel) or on SIGTERM (AWS Batch's terminate), finishing the current step;
4. saves the adapter, uploads it as `adapter.tar.gz`, and completes the run.

Everything that does not need TRL lives in trl_glue.py (tested without a GPU); this file is the thin wiring,
and its helpers (`select_one_gpu`, `load_tokenizer`, `assay_callback`, `finish`) are shared with trl_pref.py,
the SFT / DPO / KTO trainer. `main` dispatches on the spec's `kind`.
"""

from __future__ import annotations

import io
import os
import signal
import sys
import tarfile
import tempfile
import time
from typing import Any, Dict, List, Optional

from assay_client import AssayClient, AssayError
from trl_glue import (
    ITEM_COLUMN,
    StepHooks,
    TruncationMeter,
    grpo_config_kwargs,
    has_chat_template,
    lora_config_kwargs,
    plan_steps,
    reward_step,
    rewards_for_trl,
    samples_from_trl,
    to_trl_row,
)

_signal: Dict[str, Optional[str]] = {"name": None}
MISSING = "the GPU trainer's dependencies are missing ({}); build the image from gpu-jobs/container/Dockerfile"


def _on_signal(signum: int, _frame: Any) -> None:
    _signal["name"] = signal.Signals(signum).name
    print(f"received {_signal['name']}: stopping after the current step", flush=True)


def select_one_gpu(env: Optional[Dict[str, str]] = None) -> str:
    """Exposes exactly one GPU to this single process: the first of CUDA_VISIBLE_DEVICES, or 0.

    With several GPUs visible, transformers' Trainer in one process wraps the model in nn.DataParallel
    (training_args.py `_setup_devices`: n_gpu = torch.cuda.device_count(); trainer.py `_wrap_model`), which GRPO's
    generation and PEFT do not survive. Under a distributed launcher (LOCAL_RANK set) it leaves the variable
    alone. Must run before torch is imported.
    """
    env = os.environ if env is None else env
    if env.get("LOCAL_RANK") is not None:
        return env.get("CUDA_VISIBLE_DEVICES", "")
    first = (env.get("CUDA_VISIBLE_DEVICES") or "0").split(",")[0].strip() or "0"
    env["CUDA_VISIBLE_DEVICES"] = first
    return first


def tar_directory(path: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name in sorted(os.listdir(path)):
            tar.add(os.path.join(path, name), arcname=name)
    return buf.getvalue()


def load_tokenizer(base_model: str, padding_side: str = "left") -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(base_model, padding_side=padding_side)


def assay_callback(hooks: StepHooks) -> Any:
    """The TrainerCallback: step timing, heartbeats, KPIs on each log, and a stop when any answer said stop."""
    from transformers import TrainerCallback

    class AssayCallback(TrainerCallback):
        def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            hooks.step_begin(state.global_step)

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if hooks.step_end(state.global_step):
                control.should_training_stop = True

        def on_log(self, args: Any, state: Any, control: Any, logs: Optional[Dict[str, Any]] = None, **kwargs: Any) -> None:
            if logs and hooks.log(logs, state.global_step):
                control.should_training_stop = True

    return AssayCallback()


def fail_early(client: AssayClient, trainer_name: str, error: str) -> int:
    """Ends a run that cannot start (bad rows, no rows, an impossible precision) with the reason."""
    print(f"{trainer_name}: {error}", file=sys.stderr, flush=True)
    client.complete("failed", summary={"trainer": trainer_name, "steps": 0, "stoppedBy": "error"}, error=error)
    return 1


def train_and_finish(
    client: AssayClient, trainer: Any, hooks: StepHooks, out_dir: str, trainer_name: str, started: float,
    summary: Optional[Dict[str, Any]] = None, adapter_name: str = "default",
) -> int:
    """trainer.train(), then the trained adapter uploaded as adapter.tar.gz and the run completed.

    PEFT saves an adapter other than "default" in a folder named after it (peft_model.py:287), so a model that
    also holds a frozen reference adapter saves only the trained one, and that folder is what is uploaded."""
    error: Optional[str] = None
    try:
        trainer.train()
    except (AssayError, RuntimeError, ValueError, KeyError, TypeError) as e:
        error = f"{type(e).__name__}: {e}"
        print(f"training failed at step {hooks.step}: {error}", file=sys.stderr, flush=True)
    hooks.flush()

    artifacts = []
    adapter_dir = os.path.join(out_dir, "adapter")
    if adapter_name == "default":
        trainer.save_model(adapter_dir)  # a PEFT model saves only the adapter (adapter_model.safetensors + config)
    else:
        trainer.model.save_pretrained(adapter_dir, selected_adapters=[adapter_name])
        adapter_dir = os.path.join(adapter_dir, adapter_name)
    stored = client.upload_artifact("adapter.tar.gz", tar_directory(adapter_dir))
    artifacts.append({"kind": stored.get("kind") or "lora-adapter", "uri": stored["uri"]})

    if error is None and _signal["name"]:
        error = f"interrupted by {_signal['name']}"
    result = {
        "trainer": trainer_name,
        "steps": hooks.step,
        "stoppedBy": "error" if error else ("platform" if client.stop_requested else "plan"),
        "wallSeconds": round(time.monotonic() - started, 3),
        **(summary or {}),
        **hooks.summary,
    }
    if client.stop_reason:
        result["stopReason"] = client.stop_reason
    client.complete("failed" if error else "succeeded", artifacts=artifacts, summary=result, error=error)
    return 1 if error else 0


def prompt_lengths(trl_rows: List[Dict[str, Any]], tokenizer: Any) -> Dict[str, int]:
    """Each row's prompt length in tokens, as GRPO measures it: chat template applied, no special tokens."""
    from trl.data_utils import maybe_apply_chat_template

    lengths = {}
    for r in trl_rows:
        text = maybe_apply_chat_template({"prompt": r["prompt"]}, tokenizer)["prompt"]
        lengths[r[ITEM_COLUMN]] = len(tokenizer(text, add_special_tokens=False)["input_ids"])
    return lengths


def run(client: AssayClient, spec: Optional[Dict[str, Any]] = None) -> int:
    try:
        import torch
        from datasets import Dataset
        from peft import LoraConfig
        from trl import GRPOConfig, GRPOTrainer
    except ImportError as e:
        message = MISSING.format(e)
        print(message, file=sys.stderr, flush=True)
        client.complete("failed", summary={"trainer": "trl"}, error=message)
        return 2

    started = time.monotonic()
    spec = spec or client.spec()
    hp = spec["hyperparams"]
    client.heartbeat(step=0, message=f"trl grpo trainer starting on {spec['baseModel']}")
    rows = list(client.rows("train", spec))
    out_dir = tempfile.mkdtemp(prefix="assay-trl-")
    try:
        tokenizer = load_tokenizer(spec["baseModel"])
    except (OSError, ValueError) as e:
        return fail_early(client, "trl-grpo", f"cannot load the tokenizer of {spec['baseModel']}: {e}")
    chat = has_chat_template(tokenizer)
    try:
        trl_rows = [to_trl_row(r, chat=chat, index=i) for i, r in enumerate(rows)]
        cuda = torch.cuda.is_available()
        config = grpo_config_kwargs(hp, out_dir, len(rows), cuda=cuda, bf16_supported=cuda and torch.cuda.is_bf16_supported())
    except ValueError as e:
        return fail_early(client, "trl-grpo", str(e))
    plan = plan_steps(hp, len(rows))
    meter = TruncationMeter(prompt_lengths(trl_rows, tokenizer), config["max_prompt_length"])
    client.heartbeat(
        step=0,
        message=(
            f"trl grpo on {spec['baseModel']}: {config['max_steps']} steps of {plan['prompts']} prompts x "
            f"{config['num_generations']}, device batch {config['per_device_train_batch_size']} x "
            f"{config['gradient_accumulation_steps']}, {'chat' if chat else 'plain-text'} prompts, "
            f"{config['model_init_kwargs']['torch_dtype']}"
        ),
    )
    hooks = StepHooks(client, interrupted=lambda: _signal["name"], meters=[meter])
    group = int(hp.get("groupSize", 8))

    def assay(prompts: List[Any], completions: List[Any], **kwargs: Any) -> List[float]:
        samples = samples_from_trl(completions, kwargs, group)
        step = reward_step(kwargs, hooks.step or 1)
        meter.record(step, kwargs[ITEM_COLUMN])
        answer = client.rewards(step, samples)
        return rewards_for_trl(answer["results"], samples)

    try:
        trainer = GRPOTrainer(
            model=spec["baseModel"],
            reward_funcs=[assay],
            args=GRPOConfig(**config),
            train_dataset=Dataset.from_list(trl_rows),
            processing_class=tokenizer,
            peft_config=LoraConfig(**lora_config_kwargs(hp)),
            callbacks=[assay_callback(hooks)],
        )
    except (OSError, ValueError, TypeError) as e:  # a model that cannot be loaded, a config TRL refuses
        return fail_early(client, "trl-grpo", f"{type(e).__name__}: {e}")
    summary = {"promptsOverMaxPromptLength": meter.over_limit(), "plannedSteps": config["max_steps"]}
    return train_and_finish(client, trainer, hooks, out_dir, "trl-grpo", started, summary)


def main() -> int:
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _on_signal)
    select_one_gpu()
    try:
        client = AssayClient.from_env()
    except ValueError as e:
        print(f"trl_trainer: {e}", file=sys.stderr)
        return 2
    spec = client.spec()
    kind = spec.get("kind") or "rft"
    if kind in ("sft", "dpo", "kto"):
        import trl_pref

        return trl_pref.run(client, spec)
    if kind not in ("rft", "grpo"):
        message = f"this trainer runs kinds rft, sft, dpo and kto, not {kind!r}"
        client.complete("failed", summary={"trainer": "trl"}, error=message)
        return 2
    return run(client, spec)


if __name__ == "__main__":
    sys.exit(main())
