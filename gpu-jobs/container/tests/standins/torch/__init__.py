"""Stand-in for the few torch names the trainers touch: dtypes and the CUDA probes."""

from __future__ import annotations

import os

import _standin

# What the process could see when torch initialised CUDA (it reads CUDA_VISIBLE_DEVICES once, at first use).
_standin.log("torch_import", cuda_visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"))


class dtype:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"torch.{self.name}"


float32 = dtype("float32")
float16 = dtype("float16")
bfloat16 = dtype("bfloat16")


def get_default_dtype() -> dtype:
    return float32


class cuda:
    @staticmethod
    def is_available() -> bool:
        return os.environ.get("STANDIN_CUDA", "1") == "1"

    @staticmethod
    def is_bf16_supported() -> bool:
        return os.environ.get("STANDIN_BF16", "1") == "1"
