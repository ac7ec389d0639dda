"""Stand-in for TRL 0.20.0's GRPO, SFT, DPO and KTO trainers, at the points the Assay glue depends on.

Configs: the fields and defaults of trl/trainer/{grpo,sft,dpo,kto}_config.py at tag v0.20.0 (an unknown field is
a TypeError, as for the real dataclasses), with their __post_init__ checks. Trainers: the constructor signatures
of the same tag, model loading with `model_init_kwargs` (a dtype string becomes getattr(torch, ...)), the
tokenizer loaded when `processing_class` is None, PEFT wrapping, and for GRPO the data path that decides what a
run does: RepeatSampler (grpo_trainer.py:91, incomplete chunks dropped at :177), the generation-batch dataloader
(:940), _prepare_inputs buffering one generation for `steps_per_generation` micro-steps (:1258), the chat
template applied to every conversational prompt (:1379), left truncation to `max_prompt_length` (:1398), the
reward-function call with every other column and `trainer_state` (:1293), and the metric names it logs (:1700-1732).
The "model" writes a fixed completion per row (its `answer` in the think/answer shape on even positions of a
group, "no" on odd ones), so rewards are real answers of the platform double and groups have variance.

Why one file over 600 lines: it mirrors the one public module `trl` that the glue imports from (`from trl import
GRPOConfig, GRPOTrainer, ...`); four config dataclasses copied field by field from upstream make most of its length,
and splitting it into submodules would invent a package layout that the real TRL does not have at this import path.
"""

from __future__ import annotations

import json
import math
import random
import statistics
from dataclasses import field, make_dataclass
from typing import Any, Callable, Dict, List, Optional, Union

import _standin
import torch
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoProcessor,
    AutoTokenizer,
    PreTrainedModel,
    Trainer,
    TrainingArguments,
    _ListLoader,
)

import peft

from .data_utils import apply_chat_template, is_conversational, maybe_apply_chat_template, maybe_extract_prompt


def _config(name: str, fields: Dict[str, Any], post: Callable[[Any], None]) -> type:
    specs = []
    for key, default in fields.items():
        if callable(default):
            specs.append((key, Any, field(default_factory=default)))
        else:
            specs.append((key, Any, field(default=default)))

    def __post_init__(self: Any) -> None:
        self.bf16 = not self.fp16 if self.bf16 is None else self.bf16
        TrainingArguments.__post_init__(self)
        post(self)

    return make_dataclass(name, specs, bases=(TrainingArguments,), namespace={"__post_init__": __post_init__})


def _grpo_post(self: Any) -> None:
    # grpo_config.py __post_init__ (v0.20.0, line 574)
    n = self.world_size
    if self.generation_batch_size is None and self.steps_per_generation is None:
        self.steps_per_generation = self.gradient_accumulation_steps
        self.generation_batch_size = self.per_device_train_batch_size * n * self.steps_per_generation
    elif self.generation_batch_size is not None and self.steps_per_generation is None:
        if self.generation_batch_size % (self.per_device_train_batch_size * n) != 0:
            raise ValueError("generation_batch_size must be divisible by the global batch size")
        self.steps_per_generation = self.generation_batch_size // (self.per_device_train_batch_size * n)
    elif self.generation_batch_size is None and self.steps_per_generation is not None:
        self.generation_batch_size = self.per_device_train_batch_size * n * self.steps_per_generation
    else:
        raise ValueError(
            "'generation_batch_size' and 'steps_per_generation' can not be both configured at the same time"
        )
    if self.generation_batch_size % self.num_generations != 0:
        raise ValueError(
            f"generation_batch_size ({self.generation_batch_size}) must be divisible by num_generations ({self.num_generations})."
        )
    if self.num_generations < 2:
        raise ValueError("GRPO requires at least 2 generations per prompt to calculate the advantages.")


GRPOConfig = _config(
    "GRPOConfig",
    {
        "learning_rate": 1e-6,
        "logging_steps": 10,
        "bf16": None,
        "model_init_kwargs": None,
        "disable_dropout": False,
        "remove_unused_columns": False,
        "max_prompt_length": 512,
        "num_generations": 8,
        "max_completion_length": 256,
        "ds3_gather_for_generation": True,
        "shuffle_dataset": True,
        "generation_batch_size": None,
        "steps_per_generation": None,
        "temperature": 1.0,
        "top_p": 1.0,
        "top_k": None,
        "min_p": None,
        "generation_kwargs": None,
        "repetition_penalty": 1.0,
        "use_transformers_paged": False,
        "cache_implementation": None,
        "use_vllm": False,
        "vllm_mode": "server",
        "beta": 0.0,
        "num_iterations": 1,
        "epsilon": 0.2,
        "delta": None,
        "epsilon_high": None,
        "importance_sampling_level": "token",
        "reward_weights": None,
        "scale_rewards": True,
        "loss_type": "bnpo",
        "mask_truncated_completions": False,
        "sync_ref_model": False,
        "top_entropy_quantile": 1.0,
        "use_liger_loss": False,
        "log_completions": False,
        "num_completions_to_print": None,
        "wandb_log_unique_prompts": False,
    },
    _grpo_post,
)

SFTConfig = _config(
    "SFTConfig",
    {
        "learning_rate": 2e-5,
        "logging_steps": 10,
        "bf16": None,
        "average_tokens_across_devices": True,
        "model_init_kwargs": None,
        "chat_template_path": None,
        "dataset_text_field": "text",
        "dataset_kwargs": None,
        "dataset_num_proc": None,
        "eos_token": None,
        "pad_token": None,
        "max_length": 1024,
        "packing": False,
        "packing_strategy": "bfd",
        "padding_free": False,
        "pad_to_multiple_of": None,
        "eval_packing": None,
        "completion_only_loss": None,
        "assistant_only_loss": False,
        "activation_offloading": False,
    },
    lambda self: None,
)

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


def _dpo_post(self: Any) -> None:
    # dpo_config.py __post_init__: a one-element list becomes its string.
    if hasattr(self.loss_type, "__len__") and len(self.loss_type) == 1:
        self.loss_type = self.loss_type[0]


DPOConfig = _config(
    "DPOConfig",
    {
        "learning_rate": 1e-6,
        "logging_steps": 10,
        "bf16": None,
        "model_init_kwargs": None,
        "ref_model_init_kwargs": None,
        "model_adapter_name": None,
        "ref_adapter_name": None,
        "force_use_ref_model": False,
        "disable_dropout": True,
        "use_logits_to_keep": False,
        "dataset_num_proc": None,
        "padding_value": None,
        "label_pad_token_id": -100,
        "max_prompt_length": 512,
        "max_completion_length": None,
        "max_length": 1024,
        "truncation_mode": "keep_end",
        "padding_free": False,
        "precompute_ref_log_probs": False,
        "precompute_ref_batch_size": None,
        "tools": None,
        "loss_type": lambda: ["sigmoid"],
        "use_liger_loss": False,
        "base_model_attribute_name": "model",
        "beta": 0.1,
        "f_divergence_type": "reverse_kl",
        "f_alpha_divergence_coef": 1.0,
        "reference_free": False,
        "label_smoothing": 0.0,
        "use_weighting": False,
        "rpo_alpha": None,
        "ld_alpha": None,
        "discopop_tau": 0.05,
        "loss_weights": None,
        "sync_ref_model": False,
        "ref_model_mixup_alpha": 0.6,
        "ref_model_sync_steps": 512,
        "generate_during_eval": False,
    },
    _dpo_post,
)

KTOConfig = _config(
    "KTOConfig",
    {
        "learning_rate": 1e-6,
        "logging_steps": 10,
        "bf16": None,
        "max_length": 1024,
        "max_prompt_length": 512,
        "max_completion_length": None,
        "beta": 0.1,
        "loss_type": "kto",
        "desirable_weight": 1.0,
        "undesirable_weight": 1.0,
        "label_pad_token_id": -100,
        "padding_value": None,
        "truncation_mode": "keep_end",
        "generate_during_eval": False,
        "is_encoder_decoder": None,
        "disable_dropout": True,
        "precompute_ref_log_probs": False,
        "model_init_kwargs": None,
        "ref_model_init_kwargs": None,
        "dataset_num_proc": None,
        "use_liger_loss": False,
        "base_model_attribute_name": "model",
    },
    lambda self: None,
)


def _load(model: Any, init_kwargs: Optional[Dict[str, Any]], which: str) -> Any:
    """grpo_trainer.py:545-560 / sft_trainer.py _create_model_from_path: a dtype string becomes a torch dtype."""
    if not isinstance(model, str):
        return model
    kwargs = dict(init_kwargs or {})
    dtype = kwargs.get("torch_dtype")
    if isinstance(dtype, str) and dtype != "auto":
        kwargs["torch_dtype"] = getattr(torch, dtype)
    elif dtype is not None and not isinstance(dtype, torch.dtype) and dtype != "auto":
        raise ValueError(f"Invalid `torch_dtype` passed to `{which}`")
    if which == "GRPOConfig":
        config = AutoConfig.from_pretrained(model)
        import transformers

        return getattr(transformers, config.architectures[0]).from_pretrained(model, **kwargs)
    return AutoModelForCausalLM.from_pretrained(model, **kwargs)


def _wrap_peft(model: Any, peft_config: Any) -> Any:
    if peft_config is not None:
        return peft.get_peft_model(model, peft_config)
    return model


class _MetricsMixin:
    def _init_metrics(self) -> None:
        self._metrics: Dict[str, List[float]] = {}

    def _note(self, key: str, value: float) -> None:
        self._metrics.setdefault(key, []).append(float(value))

    def log(self, logs: Dict[str, float], start_time: Optional[float] = None) -> None:
        if "loss" in logs:
            logs = {**logs, **{k: sum(v) / len(v) for k, v in self._metrics.items() if v}}
            self._metrics = {}
        Trainer.log(self, logs, start_time)


# -- GRPO -------------------------------------------------------------------------------------------------------------


class RepeatSampler:
    """grpo_trainer.py:91-186 (v0.20.0), with Python's random in place of torch.randperm."""

    def __init__(
        self,
        data_source: Any,
        mini_repeat_count: int,
        batch_size: int = 1,
        repeat_count: int = 1,
        shuffle: bool = True,
        seed: Optional[int] = None,
    ) -> None:
        self.data_source, self.mini_repeat_count, self.batch_size = data_source, mini_repeat_count, batch_size
        self.repeat_count, self.num_samples, self.shuffle = repeat_count, len(data_source), shuffle
        self.rng = random.Random(seed)

    def __iter__(self):
        indexes = list(range(self.num_samples))
        if self.shuffle:
            self.rng.shuffle(indexes)
        chunks = [indexes[i : i + self.batch_size] for i in range(0, len(indexes), self.batch_size)]
        chunks = [c for c in chunks if len(c) == self.batch_size]  # grpo_trainer.py:177
        for chunk in chunks:
            for _ in range(self.repeat_count):
                for index in chunk:
                    for _ in range(self.mini_repeat_count):
                        yield index

    def __len__(self) -> int:
        return (self.num_samples // self.batch_size) * self.batch_size * self.mini_repeat_count * self.repeat_count


class GRPOTrainer(_MetricsMixin, Trainer):
    def __init__(
        self,
        model: Union[str, PreTrainedModel],
        reward_funcs: Any,
        args: Optional[Any] = None,
        train_dataset: Any = None,
        eval_dataset: Any = None,
        processing_class: Any = None,
        reward_processing_classes: Any = None,
        callbacks: Any = None,
        optimizers: Any = (None, None),
        peft_config: Any = None,
    ) -> None:
        model = _load(model, args.model_init_kwargs, "GRPOConfig")
        model = _wrap_peft(model, peft_config)
        if processing_class is None:
            processing_class = AutoProcessor.from_pretrained(model.config._name_or_path)
        _standin.log("grpo_init", processing_class_given=processing_class is not None)
        if processing_class.pad_token is None:
            processing_class.pad_token = processing_class.eos_token
        self.reward_funcs = reward_funcs if isinstance(reward_funcs, list) else [reward_funcs]
        self.reward_func_names = [f.__name__ for f in self.reward_funcs]
        self.num_generations = args.num_generations
        self.max_prompt_length = args.max_prompt_length
        self._step = 0
        self._buffered_inputs: Optional[List[List[Dict[str, Any]]]] = None
        super().__init__(
            model=model,
            args=args,
            train_dataset=train_dataset,
            processing_class=processing_class,
            callbacks=callbacks,
            optimizers=optimizers,
        )
        self._init_metrics()

    def get_train_dataloader(self) -> _ListLoader:
        sampler = RepeatSampler(
            self.train_dataset,
            mini_repeat_count=self.num_generations,
            batch_size=self.args.generation_batch_size // self.num_generations,
            repeat_count=self.args.num_iterations * self.args.steps_per_generation,
            shuffle=self.args.shuffle_dataset,
            seed=self.args.seed,
        )
        return _ListLoader(self.train_dataset, sampler, self._train_batch_size * self.args.steps_per_generation)

    def training_step(self, model: Any, inputs: Any, num_items_in_batch: Any = None) -> float:
        generate_every = self.args.steps_per_generation * self.args.num_iterations
        if self._step % generate_every == 0 or self._buffered_inputs is None:
            batch = self._generate_and_score_completions(inputs)
            random.Random(self._step).shuffle(batch)  # shuffle_sequence_dict: groups are mixed across micro-batches
            size = len(batch) // self.args.steps_per_generation
            self._buffered_inputs = [batch[i * size : (i + 1) * size] for i in range(self.args.steps_per_generation)]
        micro = self._buffered_inputs[self._step % self.args.steps_per_generation]
        self._step += 1
        return -sum(s["advantage"] for s in micro) / max(1, len(micro))

    def _generate_and_score_completions(self, inputs: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
        tok = self.processing_class
        prompts = [x["prompt"] for x in inputs]
        prompts_text = [maybe_apply_chat_template(x, tok)["prompt"] for x in inputs]  # grpo_trainer.py:1379
        ids = [tok(t, add_special_tokens=False)["input_ids"] for t in prompts_text]
        truncated = 0
        if self.max_prompt_length is not None:  # grpo_trainer.py:1392-1405: keep the last max_prompt_length tokens
            truncated = sum(1 for i in ids if len(i) > self.max_prompt_length)
            ids = [i[-self.max_prompt_length :] for i in ids]
            prompts_text = [tok.decode(i) for i in ids]
        _standin.log(
            "generate",
            sequences=len(inputs),
            truncated=truncated,
            prompt_text=prompts_text[0],
            dataset_fetches=self.train_dataset.fetches,
            global_step=self.state.global_step,
        )
        texts = []
        for i, x in enumerate(inputs):
            row = json.loads(x["assay_item"]) if "assay_item" in x else {}
            right = i % self.num_generations % 2 == 0
            texts.append(f"<think>t</think><answer>{row.get('answer')}</answer>" if right else "no")
        conversational = is_conversational(inputs[0])
        completions = [[{"role": "assistant", "content": t}] for t in texts] if conversational else texts
        keys = [k for k in inputs[0] if k not in ("prompt", "completion", "completion_ids")]
        reward_kwargs: Dict[str, Any] = {k: [x[k] for x in inputs] for k in keys}
        reward_kwargs["trainer_state"] = self.state
        totals = [0.0] * len(inputs)
        for func in self.reward_funcs:
            out = func(
                prompts=prompts,
                completions=completions,
                completion_ids=[tok(t)["input_ids"] for t in texts],
                **reward_kwargs,
            )
            out = [math.nan if r is None else float(r) for r in out]
            finite = [r for r in out if not math.isnan(r)]
            self._note(f"rewards/{func.__name__}/mean", sum(finite) / len(finite) if finite else math.nan)
            totals = [t + (0.0 if math.isnan(r) else r) for t, r in zip(totals, out)]  # nansum
        g = self.num_generations
        batch, means, stds, zero = [], [], [], 0
        for start in range(0, len(inputs), g):
            group = totals[start : start + g]
            mean, std = sum(group) / g, statistics.stdev(group)
            means.append(mean)
            stds.append(std)
            zero += int(abs(std) < 1e-8)
            for j, r in enumerate(group):
                batch.append({"advantage": (r - mean) / (std + 1e-4), "prompt": prompts[start + j]})
        self.state.num_input_tokens_seen += sum(len(i) for i in ids)
        self._note("num_tokens", self.state.num_input_tokens_seen)
        self._note("completions/mean_length", sum(len(t.split()) for t in texts) / len(texts))
        self._note("reward", sum(means) / len(means))
        self._note("reward_std", sum(stds) / len(stds))
        self._note("frac_reward_zero_std", zero / len(means))
        return batch


# -- SFT, DPO, KTO ----------------------------------------------------------------------------------------------------


class _OfflineTrainer(_MetricsMixin, Trainer):
    """What SFT, DPO and KTO share here: rows tokenized up front, a shuffled dataloader of
    per_device_train_batch_size rows, one loss per micro-batch."""

    kind = ""

    def _setup(
        self,
        model: Any,
        args: Any,
        train_dataset: Any,
        processing_class: Any,
        callbacks: Any,
        peft_config: Any,
        config_name: str,
    ) -> None:
        model_id = model if isinstance(model, str) else model.config._name_or_path
        if self.kind == "kto" and args.model_init_kwargs is not None and not isinstance(model, str):
            # kto_trainer.py:355 (SFT and DPO only warn and ignore them: sft_trainer.py:387, dpo_trainer.py:300)
            raise ValueError("You passed model_kwargs to the KTOTrainer. But your model is already instantiated.")
        if processing_class is None:
            processing_class = AutoTokenizer.from_pretrained(model_id)
        _standin.log(f"{self.kind}_init", processing_class_given=processing_class is not None)
        model = _load(model, args.model_init_kwargs, config_name)
        if peft_config is not None and isinstance(model, peft.PeftModel):
            raise ValueError("You passed a `PeftModel` instance together with a `peft_config`: pass one of them.")
        model = _wrap_peft(model, peft_config)
        self.rows = [self._prepare(dict(r), processing_class) for r in train_dataset]
        Trainer.__init__(
            self,
            model=model,
            args=args,
            train_dataset=train_dataset,
            processing_class=processing_class,
            callbacks=callbacks,
        )
        self._init_metrics()

    def training_step(self, model: Any, inputs: Any, num_items_in_batch: Any = None) -> float:
        return self._loss(inputs)


class SFTTrainer(_OfflineTrainer):
    kind = "sft"

    def __init__(
        self,
        model: Union[str, Any],
        args: Optional[Any] = None,
        data_collator: Any = None,
        train_dataset: Any = None,
        eval_dataset: Any = None,
        processing_class: Any = None,
        compute_loss_func: Any = None,
        compute_metrics: Any = None,
        callbacks: Any = None,
        optimizers: Any = (None, None),
        optimizer_cls_and_kwargs: Any = None,
        preprocess_logits_for_metrics: Any = None,
        peft_config: Any = None,
        formatting_func: Any = None,
    ) -> None:
        self._truncated = 0
        self._setup(model, args, train_dataset, processing_class, callbacks, peft_config, "SFTConfig")
        _standin.log(
            "sft_dataset",
            rows=len(self.rows),
            truncated=self._truncated,
            first=self.rows[0]["text"] if self.rows else None,
        )

    def _prepare(self, example: Dict[str, Any], tok: Any) -> Dict[str, Any]:
        # sft_trainer.py _prepare_dataset / tokenize: "messages" through the chat template, prompt-completion
        # (conversational through the template), then right truncation to max_length.
        if self._text_field in example:  # language modeling rows: SFTConfig.dataset_text_field
            text = example[self._text_field]
        elif "messages" in example:
            text = tok.apply_chat_template(example["messages"], tokenize=False)
        elif is_conversational(example):
            out = apply_chat_template({"prompt": example["prompt"], "completion": example["completion"]}, tok)
            text = out["prompt"] + out["completion"]
        elif self.args_text_keys_ok(example):
            text = example["prompt"] + example["completion"]
        else:
            raise KeyError(f"Invalid keys in the example: {sorted(example)}")
        ids = tok(text)["input_ids"]
        if self._max_length is not None and len(ids) > self._max_length:
            self._truncated += 1
        return {"text": text, "ids": ids}

    @staticmethod
    def args_text_keys_ok(example: Dict[str, Any]) -> bool:
        return isinstance(example.get("prompt"), str) and isinstance(example.get("completion"), str)

    def _setup(self, model: Any, args: Any, *rest: Any) -> None:
        self._max_length = args.max_length
        self._text_field = args.dataset_text_field
        super()._setup(model, args, *rest)

    def _loss(self, inputs: List[Dict[str, Any]]) -> float:
        self._note("mean_token_accuracy", 0.5 + 0.01 * self.state.global_step)
        self._note("num_tokens", sum(len(str(x).split()) for x in inputs))
        return 2.0 / (1 + self.state.global_step)


class DPOTrainer(_OfflineTrainer):
    kind = "dpo"

    def __init__(
        self,
        model: Union[str, Any],
        ref_model: Any = None,
        args: Optional[Any] = None,
        data_collator: Any = None,
        train_dataset: Any = None,
        eval_dataset: Any = None,
        processing_class: Any = None,
        compute_metrics: Any = None,
        callbacks: Any = None,
        optimizers: Any = (None, None),
        optimizer_cls_and_kwargs: Any = None,
        preprocess_logits_for_metrics: Any = None,
        peft_config: Any = None,
    ) -> None:
        loss_types = args.loss_type if isinstance(args.loss_type, list) else [args.loss_type]
        for lt in loss_types:
            if lt not in DPO_LOSS_TYPES:
                raise ValueError(f"Unknown loss type: {lt}")
        self._setup(model, args, train_dataset, processing_class, callbacks, peft_config, "DPOConfig")
        if args.padding_value is None and self.processing_class.pad_token_id is None:  # dpo_trainer.py:278-291
            raise ValueError(
                "`padding_value` is not specified in `DPOConfig`, and `pad_token_id` is missing in the "
                "`processing_class`. Please either set the `padding_value` argument in `DPOConfig`, or set "
                "`tokenizer.pad_token` (e.g., `tokenizer.pad_token = tokenizer.eos_token`) before instantiating "
                "the trainer."
            )
        is_peft = isinstance(self.model, peft.PeftModel)
        if args.ref_adapter_name:
            reference = f"adapter:{args.ref_adapter_name}"
            self.model.set_adapter(args.ref_adapter_name)
            self.model.set_adapter(args.model_adapter_name or "default")
        elif ref_model is not None:
            reference = "model"
        else:
            reference = "adapter-disabled" if is_peft else "copy"
        _standin.log(
            "dpo_reference",
            reference=reference,
            loss_type=args.loss_type,
            beta=args.beta,
            first=self.rows[0] if self.rows else None,
        )

    def _prepare(self, example: Dict[str, Any], tok: Any) -> Dict[str, Any]:
        example = maybe_extract_prompt(example)  # dpo_trainer.py:631
        return maybe_apply_chat_template(example, tok)  # dpo_trainer.py:637

    def _loss(self, inputs: List[Dict[str, Any]]) -> float:
        s = self.state.global_step
        for k, v in (
            ("rewards/chosen", 0.1 * s),
            ("rewards/rejected", -0.1 * s),
            ("rewards/accuracies", 1.0),
            ("rewards/margins", 0.2 * s),
            ("logps/chosen", -10.0),
            ("logps/rejected", -12.0),
            ("logits/chosen", 0.5),
            ("logits/rejected", 0.4),
        ):
            self._note(k, v)
        return math.log(2) / (1 + s)


class KTOTrainer(_OfflineTrainer):
    kind = "kto"

    def __init__(
        self,
        model: Any = None,
        ref_model: Any = None,
        args: Any = None,
        train_dataset: Any = None,
        eval_dataset: Any = None,
        processing_class: Any = None,
        data_collator: Any = None,
        model_init: Any = None,
        callbacks: Any = None,
        optimizers: Any = (None, None),
        preprocess_logits_for_metrics: Any = None,
        peft_config: Any = None,
        compute_metrics: Any = None,
        model_adapter_name: Optional[str] = None,
        ref_adapter_name: Optional[str] = None,
    ) -> None:
        if args.loss_type not in ("kto", "apo_zero_unpaired"):
            raise ValueError(f"Unknown loss type: {args.loss_type}")
        self._setup(model, args, train_dataset, processing_class, callbacks, peft_config, "KTOConfig")
        # kto_trainer.py:664-668: the KL term needs more than one row per device batch.
        if args.loss_type == "kto" and args.per_device_train_batch_size <= 1:
            raise ValueError(
                "Actual (not effective) batch size must be > 1. KTO will not work properly because the KL "
                "term will be equivalent to the implied reward."
            )
        if ref_adapter_name:
            self.model.set_adapter(ref_adapter_name)
            self.model.set_adapter(model_adapter_name or "default")
        _standin.log(
            "kto_reference",
            reference=f"adapter:{ref_adapter_name}" if ref_adapter_name else "adapter-disabled",
            loss_type=args.loss_type,
            beta=args.beta,
            first=self.rows[0] if self.rows else None,
        )

    def _prepare(self, example: Dict[str, Any], tok: Any) -> Dict[str, Any]:
        if not isinstance(example.get("label"), bool):
            raise ValueError("KTO rows need a boolean label")
        return maybe_apply_chat_template(example, tok)  # kto_trainer.py:600

    def _loss(self, inputs: List[Dict[str, Any]]) -> float:
        # kto_trainer.py:514: the collator pads with processing_class.pad_token_id, None for a gpt2-style
        # tokenizer. (What torch raises for a None padding value was not checked; the stand-in raises a TypeError.)
        if self.processing_class.pad_token_id is None:
            raise TypeError("DPODataCollatorWithPadding: pad_token_id is None, cannot pad the batch")
        s = self.state.global_step
        for k, v in (
            ("rewards/chosen", 0.1 * s),
            ("rewards/rejected", -0.1 * s),
            ("rewards/margins", 0.2 * s),
            ("logps/chosen", -10.0),
            ("logps/rejected", -12.0),
            ("kl", 0.01),
        ):
            self._note(k, v)
        return 0.5 / (1 + s)
