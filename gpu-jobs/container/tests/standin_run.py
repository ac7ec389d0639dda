"""Runs a trainer entrypoint as the image does, with tests/standins importable as torch, transformers, trl, peft
and datasets, against the platform double (http_double.PlatformDouble)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

from http_double import PlatformDouble

HERE = os.path.dirname(os.path.abspath(__file__))
CONTAINER = os.path.join(HERE, "..")
STANDINS = os.path.join(HERE, "standins")


def run_with_standins(
    rows, hyperparams, script="trl_trainer.py", env=None, downloads=None, stop_reason=None, **spec_overrides
):
    """Runs a trainer entrypoint as the image does, with the stand-ins importable as torch/transformers/trl/peft/
    datasets; answers the double (what the platform saw), the stand-ins' event log and the process result."""
    double = PlatformDouble(rows, hyperparams, spec_overrides={"baseModel": "standin/chat", **spec_overrides})
    double.downloads.update(downloads or {})
    double.stop_reason = stop_reason
    fd, log = tempfile.mkstemp(prefix="standin-", suffix=".jsonl")
    os.close(fd)
    try:
        r = subprocess.run(
            [sys.executable, os.path.join(CONTAINER, script)],
            env={
                **os.environ,
                "PYTHONPATH": STANDINS,
                "STANDIN_LOG": log,
                "ASSAY_API_URL": double.url,
                "ASSAY_RUN_ID": double.run_id,
                "ASSAY_RUN_TOKEN": double.token,
                **(env or {}),
            },
            capture_output=True,
            text=True,
            timeout=120,
        )
        with open(log, encoding="utf-8") as f:
            events = [json.loads(line) for line in f]
    finally:
        double.close()
        os.unlink(log)
    return double, events, r


def of(events, name):
    return [e for e in events if e["event"] == name]


def rows_with_answers(n):
    return [{"prompt": f"question {i} ?", "answer": str(i)} for i in range(n)]
