#!/usr/bin/env python3
"""Runs the container's unit tests and prints one JSON object: {test id: {"status", "detail"}}.

    python3 -m unittest discover -s gpu-jobs/container/tests     # the plain way
    python3 gpu-jobs/container/tests/run_json.py                 # what tests/node/container-client.test.ts runs

Status is "ok", "fail", "error" or "skip"; detail holds the traceback or the skip reason. What the tests
print goes to stderr, so stdout is only the JSON.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


class JsonResult(unittest.TestResult):
    def __init__(self) -> None:
        super().__init__()
        self.outcomes: dict = {}

    def addSuccess(self, test: unittest.TestCase) -> None:
        self.outcomes[test.id()] = {"status": "ok", "detail": ""}

    def addFailure(self, test: unittest.TestCase, err) -> None:  # type: ignore[no-untyped-def]
        super().addFailure(test, err)
        self.outcomes[test.id()] = {"status": "fail", "detail": self.failures[-1][1]}

    def addError(self, test: unittest.TestCase, err) -> None:  # type: ignore[no-untyped-def]
        super().addError(test, err)
        self.outcomes[getattr(test, "id", lambda: str(test))()] = {"status": "error", "detail": self.errors[-1][1]}

    def addSkip(self, test: unittest.TestCase, reason: str) -> None:
        self.outcomes[test.id()] = {"status": "skip", "detail": reason}


def main() -> int:
    suite = unittest.defaultTestLoader.discover(HERE, top_level_dir=HERE)
    result = JsonResult()
    with contextlib.redirect_stdout(sys.stderr):
        suite.run(result)
    print(json.dumps(result.outcomes, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
