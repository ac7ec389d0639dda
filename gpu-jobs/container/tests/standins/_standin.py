"""Shared pieces of the TRL stand-ins: the event log the tests read, and the stand-in model registry.

The stand-ins (packages torch, transformers, trl, peft, datasets beside this file) exist because TRL cannot be
installed here. Each reproduces, at the points the trainers depend on, what the real library does at the
versions pinned in requirements.txt; every such point names the source file and line it was read from. Everything
else is left out, so an attribute the glue uses that the stand-in lacks fails loudly instead of passing.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Optional

# A chat model (has a chat template) and a gpt2-style base model (has none, and no pad token).
MODELS: Dict[str, Dict[str, Any]] = {
    "standin/chat": {
        "chat_template": "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% endfor %}",
        "pad": "<pad>",
    },
    "standin/plain": {"chat_template": None, "pad": None},
}


def model_info(name: str) -> Dict[str, Any]:
    if name not in MODELS:
        # What from_pretrained does for an unknown id offline: OSError.
        raise OSError(f"{name} is not a local folder and is not a valid model identifier")
    return MODELS[name]


def log(event: str, **fields: Any) -> None:
    """Appends one JSON line to $STANDIN_LOG (when set): what the stand-ins were asked to do."""
    path: Optional[str] = os.environ.get("STANDIN_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"event": event, **fields}, sort_keys=True, default=str) + "\n")
