"""Stand-in for transformers 4.53-4.55 at the points the trainers depend on.

- TrainingArguments: a dataclass of the fields the glue sets, with transformers' defaults; an unknown field is a
  TypeError, as for the real dataclass. `max_steps` > 0 overrides `num_train_epochs` (training_args.py, field
  `max_steps`: "If > 0: set total number of training steps to perform. Override num_train_epochs.").
- Trainer.train: the outer loop of Trainer._inner_training_loop: steps per epoch from the dataloader length and
  gradient accumulation (trainer.py `set_initial_training_values`), epochs repeated until max_steps, callbacks
  on_step_begin / on_step_end / on_log, `control.should_training_stop`, and an epoch with no batch stopping
  training at the current step ("There seems not to be a single sample in your epoch_iterator"). The learning
  rate follows get_scheduler's linear / cosine / constant(_with_warmup) schedules with warmup = ceil(ratio * steps).
- Tokenizers: apply_chat_template raises the ValueError of tokenization_utils_base.get_chat_template when
  `chat_template` is None (a gpt2-style model).
- from_pretrained: without `torch_dtype` the weights load in torch.get_default_dtype() (float32)
  (modeling_utils._get_dtype: "set fp32 as the default dtype for BC").
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Union

import _standin
import torch

# -- models and tokenizers ----------------------------------------------------------------------------------------

_VOCAB: Dict[str, int] = {}
_WORDS: List[str] = []


def _id(word: str) -> int:
    if word not in _VOCAB:
        _VOCAB[word] = len(_WORDS)
        _WORDS.append(word)
    return _VOCAB[word]


class PreTrainedTokenizerBase:
    def __init__(self, name: str, padding_side: str = "right") -> None:
        info = _standin.model_info(name)
        self.name_or_path = name
        self.chat_template: Optional[str] = info["chat_template"]
        self.pad_token: Optional[str] = info["pad"]
        self.eos_token = "<eos>"
        self.bos_token = None
        self.padding_side = padding_side

    @property
    def pad_token_id(self) -> Optional[int]:
        return None if self.pad_token is None else _id(self.pad_token)

    @property
    def eos_token_id(self) -> int:
        return _id(self.eos_token)

    @property
    def bos_token_id(self) -> Optional[int]:
        return None

    def tokenize(self, text: str) -> List[str]:
        return text.split()

    def __call__(self, text: Union[str, List[str]], add_special_tokens: bool = True, **kwargs: Any) -> Dict[str, Any]:
        texts = [text] if isinstance(text, str) else list(text)
        ids = [[_id(w) for w in self.tokenize(t)] for t in texts]
        out = ids[0] if isinstance(text, str) else ids
        return {
            "input_ids": out,
            "attention_mask": [[1] * len(i) for i in ids] if not isinstance(text, str) else [1] * len(ids[0]),
        }

    def decode(self, ids: List[int], skip_special_tokens: bool = False, **kwargs: Any) -> str:
        return " ".join(_WORDS[i] for i in ids)

    def batch_decode(self, batch: List[List[int]], **kwargs: Any) -> List[str]:
        return [self.decode(ids, **kwargs) for ids in batch]

    def apply_chat_template(
        self,
        conversation: List[Dict[str, Any]],
        tools: Any = None,
        tokenize: bool = True,
        add_generation_prompt: bool = False,
        continue_final_message: bool = False,
        **kwargs: Any,
    ) -> Any:
        if self.chat_template is None:
            raise ValueError(
                "Cannot use chat template functions because tokenizer.chat_template is not set and no template "
                "argument was passed! For information about writing templates and setting the "
                "tokenizer.chat_template attribute, please see the documentation at "
                "https://huggingface.co/docs/transformers/main/en/chat_templating"
            )
        text = " ".join(f"<|{m['role']}|> {m['content']}" for m in conversation)
        if add_generation_prompt:
            text += " <|assistant|>"
        elif not continue_final_message:
            text += " <|end|>"
        return self(text)["input_ids"] if tokenize else text

    def save_pretrained(self, directory: str, **kwargs: Any) -> None:
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, "tokenizer_config.json"), "w", encoding="utf-8") as f:
            json.dump({"name": self.name_or_path, "chat_template": self.chat_template}, f)


PreTrainedTokenizer = PreTrainedTokenizerBase


class ProcessorMixin:
    pass


class AutoTokenizer:
    @staticmethod
    def from_pretrained(name: str, **kwargs: Any) -> PreTrainedTokenizerBase:
        _standin.log("tokenizer_load", name=name, kwargs=kwargs)
        return PreTrainedTokenizerBase(name, padding_side=kwargs.get("padding_side", "right"))


class AutoProcessor(AutoTokenizer):
    pass


class _Config:
    def __init__(self, name: str) -> None:
        self._name_or_path = name
        self.architectures = ["StandinForCausalLM"]
        self.is_encoder_decoder = False
        self.model_type = "standin"


class AutoConfig:
    @staticmethod
    def from_pretrained(name: str, **kwargs: Any) -> _Config:
        _standin.model_info(name)
        return _Config(name)


class PreTrainedModel:
    def __init__(self, name: str, dtype: Any) -> None:
        self.config = _Config(name)
        self.name_or_path = name
        self.dtype = dtype
        self.warnings_issued: Dict[str, bool] = {}
        self.training = True

    @classmethod
    def from_pretrained(cls, name: str, torch_dtype: Any = None, **kwargs: Any) -> "PreTrainedModel":
        _standin.model_info(name)
        if isinstance(torch_dtype, str) and torch_dtype != "auto":
            torch_dtype = getattr(torch, torch_dtype)
        dtype = torch.get_default_dtype() if torch_dtype is None else torch_dtype
        _standin.log("model_load", name=name, dtype=getattr(dtype, "name", str(dtype)), kwargs=sorted(kwargs))
        return cls(name, dtype)

    def add_model_tags(self, tags: List[str]) -> None:
        pass

    def save_pretrained(self, directory: str, **kwargs: Any) -> None:
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, "model.safetensors"), "wb") as f:
            f.write(b"full-model")


class StandinForCausalLM(PreTrainedModel):
    pass


class AutoModelForCausalLM:
    @staticmethod
    def from_pretrained(name: str, **kwargs: Any) -> PreTrainedModel:
        return StandinForCausalLM.from_pretrained(name, **kwargs)


# -- training arguments, state, callbacks ---------------------------------------------------------------------------


@dataclass
class TrainingArguments:
    output_dir: Optional[str] = None
    per_device_train_batch_size: int = 8
    gradient_accumulation_steps: int = 1
    learning_rate: float = 5e-5
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    num_train_epochs: float = 3.0
    max_steps: int = -1
    lr_scheduler_type: str = "linear"
    warmup_ratio: float = 0.0
    warmup_steps: int = 0
    logging_steps: float = 500
    save_strategy: str = "steps"
    report_to: Union[None, str, List[str]] = None
    seed: int = 42
    bf16: bool = False
    fp16: bool = False
    remove_unused_columns: Optional[bool] = True
    gradient_checkpointing: bool = False
    dataloader_drop_last: bool = False
    disable_tqdm: Optional[bool] = None

    def __post_init__(self) -> None:
        if self.bf16 and self.fp16:
            raise ValueError("At most one of fp16 and bf16 can be True, but not both")
        if self.fp16 and not torch.cuda.is_available():
            raise ValueError(
                "FP16 Mixed precision training with AMP or APEX (`--fp16`) can only be used on CUDA devices."
            )
        if self.bf16 and torch.cuda.is_available() and not torch.cuda.is_bf16_supported():
            raise ValueError("Your setup doesn't support bf16/gpu.")
        if self.lr_scheduler_type not in ("linear", "cosine", "constant", "constant_with_warmup"):
            raise ValueError(f"{self.lr_scheduler_type} is not a valid SchedulerType")

    @property
    def world_size(self) -> int:
        return 1

    def get_warmup_steps(self, num_training_steps: int) -> int:
        return self.warmup_steps if self.warmup_steps > 0 else math.ceil(num_training_steps * self.warmup_ratio)


class TrainerState:
    def __init__(self) -> None:
        self.global_step = 0
        self.max_steps = 0
        self.epoch = 0.0
        self.log_history: List[Dict[str, Any]] = []
        self.num_input_tokens_seen = 0


class TrainerControl:
    def __init__(self) -> None:
        self.should_training_stop = False
        self.should_log = False


class TrainerCallback:
    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        pass

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        pass

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        pass

    def on_log(self, args: Any, state: Any, control: Any, logs: Optional[Dict[str, Any]] = None, **kwargs: Any) -> None:
        pass

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        pass


def _lr_factor(kind: str, step: int, total: int, warmup: int) -> float:
    # transformers/optimization.py: get_linear_schedule_with_warmup, get_cosine_schedule_with_warmup,
    # get_constant_schedule(_with_warmup).
    if kind == "constant":
        return 1.0
    if step < warmup:
        return step / max(1, warmup)
    if kind == "constant_with_warmup":
        return 1.0
    progress = (step - warmup) / max(1, total - warmup)
    if kind == "linear":
        return max(0.0, (total - step) / max(1, total - warmup))
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))


class _ListLoader:
    """A DataLoader over a sampler's indices: batches of `batch_size` rows read from the dataset (drop_last False)."""

    def __init__(self, dataset: Any, sampler: Any, batch_size: int) -> None:
        self.dataset, self.sampler, self.batch_size = dataset, sampler, batch_size

    def __len__(self) -> int:
        return math.ceil(len(self.sampler) / self.batch_size)

    def __iter__(self):
        batch: List[Any] = []
        for i in self.sampler:
            batch.append(self.dataset[i])
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch:
            yield batch


class _ShuffleSampler:
    def __init__(self, n: int, seed: int) -> None:
        import random

        self.n, self.rng = n, random.Random(seed)

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        order = list(range(self.n))
        self.rng.shuffle(order)
        return iter(order)


class Trainer:
    def __init__(
        self,
        model: Any = None,
        args: Optional[TrainingArguments] = None,
        data_collator: Any = None,
        train_dataset: Any = None,
        eval_dataset: Any = None,
        processing_class: Any = None,
        model_init: Any = None,
        compute_loss_func: Any = None,
        compute_metrics: Any = None,
        callbacks: Optional[List[TrainerCallback]] = None,
        optimizers: Any = (None, None),
        optimizer_cls_and_kwargs: Any = None,
        preprocess_logits_for_metrics: Any = None,
    ) -> None:
        self.model = model
        self.args = args
        self.train_dataset = train_dataset
        self.processing_class = processing_class
        self.callbacks = list(callbacks or [])
        self.state = TrainerState()
        self.control = TrainerControl()
        self._train_batch_size = args.per_device_train_batch_size
        self._loss_sum = 0.0

    def add_callback(self, callback: TrainerCallback) -> None:
        self.callbacks.append(callback)

    def _call(self, event: str, **kwargs: Any) -> None:
        for cb in self.callbacks:
            getattr(cb, event)(self.args, self.state, self.control, **kwargs)

    def get_train_dataloader(self) -> _ListLoader:
        return _ListLoader(
            self.train_dataset, _ShuffleSampler(len(self.train_dataset), self.args.seed), self._train_batch_size
        )

    def training_step(self, model: Any, inputs: Any, num_items_in_batch: Any = None) -> float:
        raise NotImplementedError

    def log(self, logs: Dict[str, float], start_time: Optional[float] = None) -> None:
        logs = {**logs, "epoch": self.state.epoch}
        self.state.log_history.append({**logs, "step": self.state.global_step})
        self._call("on_log", logs=logs)

    def train(self) -> Any:
        args = self.args
        started = time.monotonic()
        dl = self.get_train_dataloader()
        ga = args.gradient_accumulation_steps
        len_dl = len(dl)
        # trainer.py set_initial_training_values
        if len_dl:
            per_epoch = max(len_dl // ga + int(len_dl % ga > 0), 1)
            if args.max_steps > 0:
                max_steps = args.max_steps
                epochs = max_steps // per_epoch + int(max_steps % per_epoch > 0)
            else:
                max_steps = math.ceil(args.num_train_epochs * per_epoch)
                epochs = math.ceil(args.num_train_epochs)
        elif args.max_steps > 0:
            per_epoch, max_steps, epochs = args.max_steps, args.max_steps, 10**9
        else:
            raise ValueError("args.max_steps must be set to a positive value if dataloader does not have a length")
        self.state.max_steps = max_steps
        warmup = args.get_warmup_steps(max_steps)
        _standin.log(
            "train_plan",
            max_steps=max_steps,
            epochs=epochs,
            len_dataloader=len_dl,
            per_epoch=per_epoch,
            per_device=args.per_device_train_batch_size,
            accumulation=ga,
            warmup=warmup,
        )
        self._call("on_train_begin")
        losses: List[float] = []
        for epoch in range(epochs):
            step = -1
            for step, inputs in enumerate(dl):
                if step % ga == 0:
                    self._call("on_step_begin")
                loss = self.training_step(self.model, inputs)
                losses.append(loss)
                if (step + 1) % ga == 0 or step + 1 == len_dl:
                    self.state.global_step += 1
                    self.state.epoch = epoch + (step + 1) / len_dl
                    lr = args.learning_rate * _lr_factor(
                        args.lr_scheduler_type, self.state.global_step, max_steps, warmup
                    )
                    # DefaultFlowCallback: stop at max_steps, log every logging_steps.
                    if self.state.global_step >= max_steps:
                        self.control.should_training_stop = True
                    self._call("on_step_end")
                    if self.state.global_step % max(1, int(args.logging_steps)) == 0:
                        window = losses[-ga:]
                        self.log({"loss": sum(window) / len(window), "grad_norm": 1.0, "learning_rate": lr})
                    if self.control.should_training_stop:
                        break
            if step < 0:
                _standin.log("empty_epoch", global_step=self.state.global_step)
                self.control.should_training_stop = True
            if self.control.should_training_stop:
                break
        runtime = time.monotonic() - started
        train_loss = sum(losses) / len(losses) if losses else 0.0
        self.log(
            {
                "train_runtime": runtime,
                "train_samples_per_second": 0.0,
                "train_steps_per_second": 0.0,
                "total_flos": 0.0,
                "train_loss": train_loss,
            }
        )
        self._call("on_train_end")
        return {"global_step": self.state.global_step, "training_loss": train_loss}

    def save_model(self, output_dir: Optional[str] = None, _internal_call: bool = False) -> None:
        self.model.save_pretrained(output_dir)
        if self.processing_class is not None:
            self.processing_class.save_pretrained(output_dir)


def is_wandb_available() -> bool:
    return False
