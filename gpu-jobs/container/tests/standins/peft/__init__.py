"""Stand-in for PEFT 0.17.0: LoraConfig's fields, get_peft_model, PeftModel.from_pretrained / load_adapter /
set_adapter / save_pretrained. Fields from peft v0.17.0 src/peft/tuners/lora/config.py (class LoraConfig) and
src/peft/config.py; signatures from src/peft/mapping_func.py:31 and src/peft/peft_model.py:377."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Union

import _standin


@dataclass
class LoraConfig:
    task_type: Optional[str] = None
    peft_type: Optional[str] = "LORA"
    base_model_name_or_path: Optional[str] = None
    revision: Optional[str] = None
    inference_mode: bool = False
    r: int = 8
    target_modules: Optional[Union[List[str], str]] = None
    exclude_modules: Optional[Union[List[str], str]] = None
    lora_alpha: int = 8
    lora_dropout: float = 0.0
    fan_in_fan_out: bool = False
    bias: str = "none"
    use_rslora: bool = False
    modules_to_save: Optional[List[str]] = None
    init_lora_weights: Any = True
    layers_to_transform: Any = None
    layers_pattern: Any = None
    rank_pattern: Dict[str, int] = field(default_factory=dict)
    alpha_pattern: Dict[str, int] = field(default_factory=dict)
    megatron_config: Optional[dict] = None
    megatron_core: Optional[str] = "megatron.core"
    trainable_token_indices: Any = None
    loftq_config: dict = field(default_factory=dict)
    eva_config: Any = None
    corda_config: Any = None
    use_dora: bool = False
    use_qalora: bool = False
    qalora_group_size: int = 16
    layer_replication: Any = None
    runtime_config: Any = None
    lora_bias: bool = False
    target_parameters: Optional[List[str]] = None


class PeftModel:
    def __init__(self, model: Any, config: LoraConfig, adapter_name: str = "default", trainable: bool = True) -> None:
        self.base_model = model
        self.config = model.config
        self.peft_config: Dict[str, LoraConfig] = {adapter_name: config}
        self.trainable = {adapter_name: trainable}
        self.active_adapter = adapter_name
        self.warnings_issued: Dict[str, bool] = {}
        self.training = True

    def get_base_model(self) -> Any:
        return self.base_model

    @classmethod
    def from_pretrained(
        cls,
        model: Any,
        model_id: Union[str, "os.PathLike[str]"],
        adapter_name: str = "default",
        is_trainable: bool = False,
        config: Optional[LoraConfig] = None,
        autocast_adapter_dtype: bool = True,
        ephemeral_gpu_offload: bool = False,
        low_cpu_mem_usage: bool = False,
        key_mapping: Optional[Dict[str, str]] = None,
        **kwargs: Any,
    ) -> "PeftModel":
        with open(os.path.join(model_id, "adapter_config.json"), encoding="utf-8") as f:
            saved = json.load(f)
        _standin.log("peft_from_pretrained", path=str(model_id), adapter_name=adapter_name, is_trainable=is_trainable)
        return cls(model, LoraConfig(**saved), adapter_name, is_trainable)

    def load_adapter(self, model_id: str, adapter_name: str, is_trainable: bool = False, **kwargs: Any) -> None:
        with open(os.path.join(model_id, "adapter_config.json"), encoding="utf-8") as f:
            self.peft_config[adapter_name] = LoraConfig(**json.load(f))
        self.trainable[adapter_name] = is_trainable
        _standin.log("peft_load_adapter", path=str(model_id), adapter_name=adapter_name, is_trainable=is_trainable)

    def set_adapter(self, adapter_name: str) -> None:
        if adapter_name not in self.peft_config:
            raise ValueError(f"Adapter {adapter_name} not found.")
        self.active_adapter = adapter_name

    def add_model_tags(self, tags: List[str]) -> None:
        pass

    def save_pretrained(
        self,
        save_directory: str,
        safe_serialization: bool = True,
        selected_adapters: Optional[List[str]] = None,
        **kwargs: Any,
    ) -> None:
        # peft_model.py:178 and :287 (v0.17.0): every adapter (or the selected ones); "default" at the top,
        # any other in a folder named after it.
        for name in selected_adapters or list(self.peft_config):
            config = self.peft_config[name]
            target = save_directory if name == "default" else os.path.join(save_directory, name)
            os.makedirs(target, exist_ok=True)
            with open(os.path.join(target, "adapter_config.json"), "w", encoding="utf-8") as f:
                json.dump(
                    {
                        k: v
                        for k, v in asdict(config).items()
                        if k in ("r", "lora_alpha", "lora_dropout", "target_modules", "task_type")
                    },
                    f,
                )
            with open(os.path.join(target, "adapter_model.safetensors"), "wb") as f:
                f.write(b"standin-weights:" + name.encode())


def get_peft_model(
    model: Any,
    peft_config: LoraConfig,
    adapter_name: str = "default",
    mixed: bool = False,
    autocast_adapter_dtype: bool = True,
    revision: Optional[str] = None,
    low_cpu_mem_usage: bool = False,
) -> PeftModel:
    _standin.log(
        "get_peft_model",
        r=peft_config.r,
        lora_alpha=peft_config.lora_alpha,
        target_modules=peft_config.target_modules,
        lora_dropout=peft_config.lora_dropout,
    )
    return PeftModel(model, peft_config, adapter_name)
