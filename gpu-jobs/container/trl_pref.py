#!/usr/bin/env python3
"""The SFT, DPO and KTO trainers: TRL 0.20.0's SFTTrainer, DPOTrainer and KTOTrainer with a PEFT LoRA adapter.

trl_trainer.py's `main` calls `run` for a spec of kind sft, dpo or kto; the protocol side (heartbeats, KPIs,
stop, adapter upload, complete) is the GRPO trainer's (`assay_callback`, `train_and_finish`). What a spec means:

- rows in TRL's formats (trl/data_utils.py): SFT `{prompt, completion}` or `{messages}`, DPO
  `{prompt, chosen, rejected}`, KTO `{prompt, completion, label}`; strings or chat messages, one format per
  dataset. Other keys of a row (`meta`, ...) are left out. Without a chat template (a gpt2-style base model)
  messages are flattened to text, since TRL applies the template to every conversational row and transformers
  raises without one.
- hyperparams: learningRate, epochs, maxSteps, batchSize (rows per optimiser step, clamped to the rows),
  lora {r, alpha}, loraTargets, loraDropout, lrScheduler, warmupRatio, precision; DPO and KTO: beta, lossType;
  optional maxLength / maxPromptLength (TRL's defaults, 1024 / 512, otherwise).
- warmStart `{ run, uri, url }`: the adapter archive (adapter.tar.gz of an earlier run) at `url`, a path on
  this API read with the run token, is loaded as the trainable adapter. For DPO and KTO it is loaded a second
  time, frozen, as the reference (TRL's `ref_adapter_name`), so the policy is held near where it started, not
  near the bare base model.

The TRL-free parts (row conversion, configs, KPI names) are plain functions, tested without TRL.
"""

from __future__ import annotations

import io
import os
import sys
import tarfile
import tempfile
import time
import urllib.parse
from typing import Any, Dict, List, Optional, Sequence

from trl_glue import (
    MAX_MICRO_BATCH,
    PLATFORM_METRICS,
    SUMMARY_KEYS,
    JsonObject,
    StepHooks,
    _BAD_NAME_CHARS,
    flatten_messages,
    lora_config_kwargs,
    plan_steps,
    precision_kwargs,
    schedule_kwargs,
)

KINDS = ("sft", "dpo", "kto")
# trl/trainer/dpo_config.py (v0.20.0), field `loss_type`, and kto_config.py's `loss_type` choices.
DPO_LOSS_TYPES = (
    "sigmoid",
    "hinge",
    "ipo",
    "exo_pair",
    "nca_pair",
    "robust",
    "bco_pair",
    "sppo_hard",
    "aot",
    "aot_pair",
    "discopop",
    "apo_zero",
    "apo_down",
    "sft",
)
KTO_LOSS_TYPES = ("kto", "apo_zero_unpaired")
TRAIN_ADAPTER, REFERENCE_ADAPTER = "train", "reference"


def _is_messages(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(m, dict) and isinstance(m.get("role"), str) and "content" in m for m in value)
    )


def _text_or_messages(row: JsonObject, key: str, where: str) -> Any:
    value = row.get(key)
    if isinstance(value, str) or _is_messages(value):
        return value
    raise ValueError(f"{where}: `{key}` must be a string or a list of {{role, content}} messages")


def row_format(kind: str, row: JsonObject) -> str:
    """The TRL format of one row: sft "prompt-completion" or "messages", dpo "preference", kto "unpaired"."""
    if kind == "sft":
        return "messages" if "messages" in row else "prompt-completion"
    return "preference" if kind == "dpo" else "unpaired"


def to_pref_row(kind: str, row: JsonObject, chat: bool, index: int) -> JsonObject:
    """One dataset row in the TRL format of `kind`, only TRL's columns, flattened to text without `chat`."""
    where = f"row {index}"
    if kind == "sft" and "messages" in row:
        messages = _text_or_messages(row, "messages", where)
        if isinstance(messages, str):
            raise ValueError(f"{where}: `messages` must be a list of messages")
        return {"messages": messages} if chat else {"text": flatten_messages(messages)}
    keys = {"sft": ("prompt", "completion"), "dpo": ("prompt", "chosen", "rejected"), "kto": ("prompt", "completion")}[
        kind
    ]
    out = {k: _text_or_messages(row, k, where) for k in keys}
    conversational = [_is_messages(out[k]) for k in keys]
    if any(conversational) and not all(conversational):
        raise ValueError(f"{where}: {', '.join(keys)} must all be strings or all be messages")
    if all(conversational):
        if chat and out["prompt"][-1]["role"] not in ("user", "assistant"):
            # data_utils.py:100-109: TRL raises "Invalid role in the last message" at the first batch.
            raise ValueError(
                f"{where}: a chat prompt must end with a user or assistant turn, not {out['prompt'][-1]['role']!r}"
            )
        if not chat:
            out = {k: flatten_messages(v) for k, v in out.items()}
            out["prompt"] += "\n\n"
    if kind == "kto":
        if not isinstance(row.get("label"), bool):
            raise ValueError(f"{where}: `label` must be true (desirable) or false (undesirable)")
        out["label"] = row["label"]
    return out


def pref_rows(kind: str, rows: Sequence[JsonObject], chat: bool) -> List[JsonObject]:
    """Every row converted; one format per dataset (TRL reads the columns of the first row)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be sft, dpo or kto, not {kind!r}")
    out, formats = [], set()
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise ValueError(f"row {i}: not an object")
        formats.add(row_format(kind, row))
        if len(formats) > 1:
            raise ValueError(f"row {i}: the dataset mixes {' and '.join(sorted(formats))} rows; use one format")
        out.append(to_pref_row(kind, row, chat, i))
    return out


def pref_batch(kind: str, hp: JsonObject, n_rows: int) -> JsonObject:
    """Rows per optimiser step (`batchSize`, clamped to the rows) as device batches of at most MAX_MICRO_BATCH
    rows times accumulation, and the step count (`plan_steps`). KTO's default loss estimates its KL term from
    the other rows of a device batch and refuses a batch of one (kto_trainer.py:665), so there it is at least 2
    (a prime batchSize above MAX_MICRO_BATCH is then rounded down to an even one)."""
    plan = plan_steps(hp, n_rows)
    prompts = plan["prompts"]
    per_device = max(d for d in range(1, min(prompts, MAX_MICRO_BATCH) + 1) if prompts % d == 0)
    needs_pairs = kind == "kto" and (hp.get("lossType") or "kto") == "kto"
    if needs_pairs and per_device < 2:
        if prompts < 2:
            raise ValueError("KTO needs at least 2 rows per batch (its KL term pairs rows of a batch)")
        per_device = 2
    return {**plan, "per_device_train_batch_size": per_device, "gradient_accumulation_steps": prompts // per_device}


def pref_config_kwargs(
    kind: str,
    hp: JsonObject,
    output_dir: str,
    n_rows: int,
    cuda: bool = True,
    bf16_supported: bool = True,
    warm_start: bool = False,
) -> JsonObject:
    """SFTConfig / DPOConfig / KTOConfig arguments, by the field names of TRL 0.20.0's config classes.

    With a warm start the model is built here (base + adapter), so `model_init_kwargs` is left out: KTOTrainer
    raises when it is given with an instantiated model (kto_trainer.py:355), SFT and DPO ignore it; the dtype
    goes to from_pretrained directly (see `run`).
    """
    batch = pref_batch(kind, hp, n_rows)
    precision = precision_kwargs(hp, cuda, bf16_supported)
    config: JsonObject = {
        "output_dir": output_dir,
        "learning_rate": float(hp.get("learningRate", 1e-5 if kind == "sft" else 1e-6)),
        "per_device_train_batch_size": batch["per_device_train_batch_size"],
        "gradient_accumulation_steps": batch["gradient_accumulation_steps"],
        "num_train_epochs": batch["epochs"],
        "max_steps": batch["steps"],
        "seed": int(hp.get("seed", 0)),
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": "none",
        **schedule_kwargs(hp),
        "bf16": precision["bf16"],
        "fp16": precision["fp16"],
    }
    if not warm_start:
        config["model_init_kwargs"] = precision["model_init_kwargs"]
    if hp.get("maxLength"):
        config["max_length"] = int(hp["maxLength"])
    if kind in ("dpo", "kto"):
        if hp.get("maxPromptLength"):
            config["max_prompt_length"] = int(hp["maxPromptLength"])
        config["beta"] = float(hp.get("beta", 0.1))
        loss = hp.get("lossType") or ("sigmoid" if kind == "dpo" else "kto")
        allowed = DPO_LOSS_TYPES if kind == "dpo" else KTO_LOSS_TYPES
        if loss not in allowed:
            raise ValueError(f"lossType for {kind} must be one of {', '.join(allowed)}, not {loss!r}")
        # DPOConfig.loss_type is a list (several losses can be combined); KTOConfig.loss_type is a string.
        config["loss_type"] = [loss] if kind == "dpo" else loss
    if kind == "dpo" and warm_start:
        config["model_adapter_name"] = TRAIN_ADAPTER
        config["ref_adapter_name"] = REFERENCE_ADAPTER
    return config


def kto_weights(labels: Sequence[bool]) -> JsonObject:
    """KTOConfig desirable_weight / undesirable_weight for the data's balance. KTOTrainer only warns when the
    weights are off the range the KTO paper recommends for unequal counts (kto_trainer.py:713-735:
    desirable_weight x n_desirable / (undesirable_weight x n_undesirable) in [1, 4/3]); this up-weights the
    rarer side to the bottom of that range."""
    n_desirable = max(sum(1 for x in labels if x), 1)
    n_undesirable = max(len(labels) - n_desirable, 1)
    if n_desirable < n_undesirable:
        return {"desirable_weight": round(n_undesirable / n_desirable, 4), "undesirable_weight": 1.0}
    return {"desirable_weight": 1.0, "undesirable_weight": round(n_desirable / n_undesirable, 4)}


def length_report(kind: str, data: Sequence[JsonObject], tokenizer: Any, config: JsonObject) -> JsonObject:
    """How many rows TRL will cut: longer than `max_length` in all (SFT cuts from the right; DPO/KTO keep the
    end), or with a prompt longer than `max_prompt_length` (DPO/KTO). Measured as TRL tokenizes: the chat
    template applied to conversational rows. TRL's defaults apply when the spec sets neither."""
    from trl.data_utils import maybe_apply_chat_template

    max_length = config.get("max_length", 1024)
    max_prompt = config.get("max_prompt_length", 512) if kind != "sft" else None

    def count(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    over_length = over_prompt = 0
    for row in data:
        if "messages" in row:
            total, prompt = count(tokenizer.apply_chat_template(row["messages"], tokenize=False)), 0
        else:
            text = maybe_apply_chat_template(dict(row), tokenizer)
            answers = [text[k] for k in ("completion", "chosen", "rejected") if k in text]
            if "text" in text:
                answers = [text["text"]]
            prompt = count(text.get("prompt", ""))
            total = prompt + max(count(a) for a in answers)
        over_length += int(max_length is not None and total > max_length)
        over_prompt += int(max_prompt is not None and prompt > max_prompt)
    report = {"rowsOverMaxLength": over_length}
    if kind != "sft":
        report["promptsOverMaxPromptLength"] = over_prompt
    return report


def pref_kpi_points(logs: JsonObject, step: int) -> List[JsonObject]:
    """TRL's log keys as they are (`loss`, `rewards/chosen`, `logps/rejected`, `mean_token_accuracy`, ...):
    these trainers post no reward telemetry of the platform's, so there is nothing to rename; only names the
    platform records itself are dropped, and end-of-training figures go to the summary."""
    points = []
    for key in sorted(logs):
        value = logs[key]
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or value != value
            or value in (float("inf"), float("-inf"))
        ):
            continue
        if key in SUMMARY_KEYS or key == "step":
            continue
        name = _BAD_NAME_CHARS.sub("_", key)[:200]
        if name and name not in PLATFORM_METRICS:
            points.append({"name": name, "step": int(step), "value": float(value)})
    return points


def warm_start_path(spec: JsonObject, api_url: str) -> Optional[str]:
    """Where the warm start's adapter archive is: `warmStart.url`, a path on this API (an absolute URL only
    when it is this API's; the run token is never sent elsewhere). None without a warm start."""
    warm = spec.get("warmStart") or (spec.get("hyperparams") or {}).get("warmStart")
    if not warm:
        return None
    if isinstance(warm, str):
        raise ValueError(f"warmStart names {warm[:64]} but the spec carries no url for its adapter archive")
    if not isinstance(warm, dict):
        raise ValueError("warmStart must be an object { run, uri, url }")
    url = warm.get("url") or warm.get("uri")
    if not isinstance(url, str) or not url:
        raise ValueError("warmStart has no url to read the adapter from")
    if url.startswith("/"):
        return url
    ours, theirs = urllib.parse.urlsplit(api_url), urllib.parse.urlsplit(url)
    if (theirs.scheme, theirs.netloc) == (ours.scheme, ours.netloc):
        return url
    raise ValueError(f"warmStart url {url[:200]} is not on this API (an r2:// uri needs warmStart.url)")


def unpack_adapter(archive: bytes, into: str) -> str:
    """An adapter.tar.gz unpacked into `into`; only plain files at the top level (no paths out of it)."""
    os.makedirs(into, exist_ok=True)
    try:
        tar = tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz")
    except (tarfile.TarError, OSError, EOFError) as e:
        raise ValueError(f"the warm-start adapter is not a readable .tar.gz ({e})") from None
    with tar:
        for member in tar.getmembers():
            name = member.name
            if not member.isfile() or "/" in name.strip("./") or name.startswith(("/", "..")):
                raise ValueError(f"the warm-start archive holds {name!r}: only adapter files are accepted")
            data = tar.extractfile(member)
            with open(os.path.join(into, os.path.basename(name)), "wb") as f:
                f.write(data.read() if data else b"")
    if not os.path.exists(os.path.join(into, "adapter_config.json")):
        raise ValueError("the warm-start archive has no adapter_config.json")
    return into


def run(client: Any, spec: Optional[JsonObject] = None) -> int:
    import trl_trainer as base

    try:
        import torch
        from datasets import Dataset
        from peft import LoraConfig, PeftModel
        from transformers import AutoModelForCausalLM
        import trl
    except ImportError as e:
        message = base.MISSING.format(e)
        print(message, file=sys.stderr, flush=True)
        client.complete("failed", summary={"trainer": "trl"}, error=message)
        return 2

    started = time.monotonic()
    spec = spec or client.spec()
    kind = spec.get("kind")
    name = f"trl-{kind}"
    hp = spec.get("hyperparams") or {}
    client.heartbeat(step=0, message=f"trl {kind} trainer starting on {spec['baseModel']}")
    rows = list(client.rows("train", spec))
    out_dir = tempfile.mkdtemp(prefix=f"assay-{kind}-")
    try:
        # Right padding for training (the tokenizer's own default); GRPO pads left because it generates.
        tokenizer = base.load_tokenizer(spec["baseModel"], padding_side="right")
    except (OSError, ValueError) as e:
        return base.fail_early(client, name, f"cannot load the tokenizer of {spec['baseModel']}: {e}")
    if tokenizer.pad_token is None:
        # DPOTrainer refuses a tokenizer without a pad token (dpo_trainer.py:278-291) and KTO's collator pads with
        # its id (kto_trainer.py:514); SFT falls back to eos itself. Padding is masked out, so eos is safe.
        tokenizer.pad_token = tokenizer.eos_token
    chat = base.has_chat_template(tokenizer)
    try:
        data = pref_rows(kind, rows, chat)
        warm_url = warm_start_path(spec, client.api_url)
        cuda = torch.cuda.is_available()
        bf16_ok = cuda and torch.cuda.is_bf16_supported()
        config = pref_config_kwargs(kind, hp, out_dir, len(rows), cuda, bf16_ok, warm_start=warm_url is not None)
        dtype = precision_kwargs(hp, cuda, bf16_ok)["model_init_kwargs"]["torch_dtype"]
        adapter_dir = (
            unpack_adapter(client.download(warm_url), os.path.join(out_dir, "warm-start")) if warm_url else None
        )
    except ValueError as e:
        return base.fail_early(client, name, str(e))

    if kind == "kto":
        config.update(kto_weights([bool(r["label"]) for r in data]))
    lengths = length_report(kind, data, tokenizer, config)
    client.heartbeat(
        step=0,
        message=(
            f"trl {kind} on {spec['baseModel']}: {lengths} (TRL cuts those rows), {config['max_steps']} steps of "
            f"{config['per_device_train_batch_size'] * config['gradient_accumulation_steps']} rows, "
            f"{'chat' if chat else 'plain-text'} rows, {dtype}" + (", warm start" if adapter_dir else "")
        ),
    )
    hooks = StepHooks(client, interrupted=lambda: base._signal["name"], kpi_names=pref_kpi_points)
    model: Any = spec["baseModel"]
    peft_config: Any = LoraConfig(**lora_config_kwargs(hp))
    extra: Dict[str, Any] = {}
    # A model or adapter that cannot be loaded, or a config TRL refuses, fails the run with the reason.
    try:
        if adapter_dir:
            model = AutoModelForCausalLM.from_pretrained(spec["baseModel"], torch_dtype=getattr(torch, dtype))
            if kind == "sft":
                model = PeftModel.from_pretrained(model, adapter_dir, is_trainable=True)
            else:
                model = PeftModel.from_pretrained(model, adapter_dir, adapter_name=TRAIN_ADAPTER, is_trainable=True)
                model.load_adapter(adapter_dir, adapter_name=REFERENCE_ADAPTER)
                if kind == "kto":  # KTOTrainer takes the adapter names as arguments, DPO in DPOConfig
                    extra = {"model_adapter_name": TRAIN_ADAPTER, "ref_adapter_name": REFERENCE_ADAPTER}
            peft_config = None  # the model already is a PeftModel

        common = dict(
            model=model,
            train_dataset=Dataset.from_list(data),
            processing_class=tokenizer,
            callbacks=[base.assay_callback(hooks)],
            peft_config=peft_config,
        )
        if kind == "sft":
            trainer = trl.SFTTrainer(args=trl.SFTConfig(**config), **common)
        elif kind == "dpo":
            trainer = trl.DPOTrainer(args=trl.DPOConfig(**config), **common)
        else:
            trainer = trl.KTOTrainer(args=trl.KTOConfig(**config), **common, **extra)
    except (OSError, ValueError, KeyError, TypeError) as e:
        return base.fail_early(client, name, f"{type(e).__name__}: {e}")
    summary = {
        "plannedSteps": config["max_steps"],
        "warmStart": (spec.get("warmStart") or hp.get("warmStart") or {}).get("run"),
        **lengths,
    }
    trained = TRAIN_ADAPTER if adapter_dir and kind != "sft" else "default"
    return base.train_and_finish(client, trainer, hooks, out_dir, name, started, summary, adapter_name=trained)
