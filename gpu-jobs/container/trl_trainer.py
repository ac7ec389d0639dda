#!/usr/bin/env python3
"""The GPU trainer: TRL's GRPOTrainer with a PEFT LoRA adapter, rewarded by the Assay platform.

The container's ENTRYPOINT. With ASSAY_API_URL, ASSAY_RUN_ID and ASSAY_RUN_TOKEN set (see assay_client.py):

1. reads the run's spec and its training rows from the API;
2. trains `baseModel` with GRPO + LoRA; every batch of completions is scored by `POST /v1/runs/{id}/rewards`
   (item = the dataset row, group = the prompt's index), invalid results taking no part (see trl_glue.py);
3. posts TRL's logged KPIs as metrics, heartbeats, and stops when any answer says `stop` (early stopping,
   a limit, a cancel) or on SIGTERM (AWS Batch's terminate), finishing the current step;
4. saves the adapter, uploads it as `adapter.tar.gz`, and completes the run.

Everything that does not need TRL lives in trl_glue.py (tested without a GPU); this file is the thin wiring.
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
    StepHooks,
    grpo_config_kwargs,
    lora_config_kwargs,
    reward_step,
    rewards_for_trl,
    samples_from_trl,
    to_trl_row,
)

_signal: Dict[str, Optional[str]] = {"name": None}


def _on_signal(signum: int, _frame: Any) -> None:
    _signal["name"] = signal.Signals(signum).name
    print(f"received {_signal['name']}: stopping after the current step", flush=True)


def tar_directory(path: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name in sorted(os.listdir(path)):
            tar.add(os.path.join(path, name), arcname=name)
    return buf.getvalue()


def run(client: AssayClient) -> int:
    try:
        import torch
        from datasets import Dataset
        from peft import LoraConfig
        from transformers import TrainerCallback
        from trl import GRPOConfig, GRPOTrainer
    except ImportError as e:
        message = f"the GPU trainer's dependencies are missing ({e}); build the image from gpu-jobs/container/Dockerfile"
        print(message, file=sys.stderr, flush=True)
        client.complete("failed", summary={"trainer": "trl"}, error=message)
        return 2

    started = time.monotonic()
    spec = client.spec()
    hp = spec["hyperparams"]
    client.heartbeat(step=0, message=f"trl trainer starting on {spec['baseModel']}")
    rows = list(client.rows("train", spec))
    dataset = Dataset.from_list([to_trl_row(r) for r in rows])
    hooks = StepHooks(client, interrupted=lambda: _signal["name"])
    group = int(hp.get("groupSize", 8))

    def assay(prompts: List[Any], completions: List[Any], **kwargs: Any) -> List[float]:
        samples = samples_from_trl(completions, kwargs, group)
        answer = client.rewards(reward_step(kwargs, hooks.step or 1), samples)
        return rewards_for_trl(answer["results"], samples)

    class AssayCallback(TrainerCallback):
        def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            hooks.step_begin(state.global_step)

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if hooks.step_end(state.global_step):
                control.should_training_stop = True

        def on_log(self, args: Any, state: Any, control: Any, logs: Optional[Dict[str, Any]] = None, **kwargs: Any) -> None:
            if logs and hooks.log(logs, state.global_step):
                control.should_training_stop = True

    out_dir = tempfile.mkdtemp(prefix="assay-trl-")
    bf16 = bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    trainer = GRPOTrainer(
        model=spec["baseModel"],
        reward_funcs=[assay],
        args=GRPOConfig(**grpo_config_kwargs(hp, out_dir, bf16)),
        train_dataset=dataset,
        peft_config=LoraConfig(**lora_config_kwargs(hp)),
        callbacks=[AssayCallback()],
    )
    error: Optional[str] = None
    try:
        trainer.train()
    except (AssayError, RuntimeError, ValueError) as e:
        error = f"{type(e).__name__}: {e}"
        print(f"training failed at step {hooks.step}: {error}", file=sys.stderr, flush=True)
    hooks.flush()

    artifacts = []
    adapter_dir = os.path.join(out_dir, "adapter")
    trainer.save_model(adapter_dir)  # a PEFT model saves only the adapter (adapter_model.safetensors + config)
    stored = client.upload_artifact("adapter.tar.gz", tar_directory(adapter_dir))
    artifacts.append({"kind": stored.get("kind") or "lora-adapter", "uri": stored["uri"]})

    if error is None and _signal["name"]:
        error = f"interrupted by {_signal['name']}"
    summary = {
        "trainer": "trl-grpo",
        "steps": hooks.step,
        "stoppedBy": "error" if error else ("platform" if client.stop_requested else "plan"),
        "wallSeconds": round(time.monotonic() - started, 3),
        **hooks.summary,
    }
    if client.stop_reason:
        summary["stopReason"] = client.stop_reason
    client.complete("failed" if error else "succeeded", artifacts=artifacts, summary=summary, error=error)
    return 1 if error else 0


def main() -> int:
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _on_signal)
    try:
        client = AssayClient.from_env()
    except ValueError as e:
        print(f"trl_trainer: {e}", file=sys.stderr)
        return 2
    return run(client)


if __name__ == "__main__":
    sys.exit(main())
