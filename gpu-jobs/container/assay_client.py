"""The container's side of the Assay training protocol, on the Python standard library only.

A training container is started with three variables and talks to nothing but the Assay API::

    ASSAY_API_URL    https://assay.example.com          (base URL, no trailing /v1)
    ASSAY_RUN_ID     run_01…                            (for an AWS Batch array job: run_a,run_b,…)
    ASSAY_RUN_TOKEN  rt_…                               (for an array job: one token per run, same order)

Example::

    from assay_client import AssayClient, StopRequested

    client = AssayClient.from_env()
    spec = client.spec()
    rows = list(client.rows("train"))
    client.heartbeat(step=0, message="starting")
    for step in range(1, spec["hyperparams"]["maxSteps"] + 1):
        answer = client.rewards(step, [{"completion": "42", "item": rows[0], "group": 0}])
        client.metrics([{"name": "loss", "step": step, "value": 0.5}])
        if client.stop_requested:          # any answer with stop: true sets it
            break
    uri = client.upload_artifact("adapter.json", b"{}")["uri"]
    client.complete("succeeded", artifacts=[{"kind": "adapter", "uri": uri}])

Every call retries, with exponential backoff and full jitter, on network errors, 5xx and 429 (honouring
Retry-After), a bounded number of times; it never retries another 4xx, which raises `AssayError` at once.
Retrying is safe because every endpoint the container calls is idempotent: metric points are keyed by
(run, name, step) and an identical replay is counted as a duplicate; rewards are keyed by (step, batchKey)
and this client sends a batchKey derived from the samples, so a replayed batch is scored and recorded once;
an artifact PUT overwrites the same name; a repeated complete changes nothing.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import random
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Union

__all__ = ["AssayClient", "AssayError", "StopRequested", "batch_key", "resolve_run_env"]

JsonObject = Dict[str, Any]

# Errors raised below urllib's HTTPError for a connection that was refused, reset, dropped or timed out.
_NETWORK_ERRORS = (
    urllib.error.URLError,
    http.client.HTTPException,
    ConnectionError,
    socket.timeout,
    TimeoutError,
    OSError,
)


class AssayError(Exception):
    """A call that failed for good: a 4xx other than 429, or a retryable failure that outlived its retries."""

    def __init__(
        self,
        message: str,
        status: Optional[int] = None,
        code: Optional[str] = None,
        request_id: Optional[str] = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.request_id = request_id
        self.body = body


class StopRequested(Exception):
    """The platform answered `stop: true` (early stopping, a limit, a cancel): finish the step and stop."""

    def __init__(self, reason: Optional[str]) -> None:
        super().__init__(reason or "stop requested")
        self.reason = reason


def resolve_run_env(env: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """Reads the three variables; for an array job picks entry AWS_BATCH_JOB_ARRAY_INDEX of each list."""
    env = dict(os.environ if env is None else env)
    missing = [k for k in ("ASSAY_API_URL", "ASSAY_RUN_ID", "ASSAY_RUN_TOKEN") if not env.get(k)]
    if missing:
        raise ValueError(f"missing environment variable(s): {', '.join(missing)}")
    ids = [s.strip() for s in env["ASSAY_RUN_ID"].split(",")]
    tokens = [s.strip() for s in env["ASSAY_RUN_TOKEN"].split(",")]
    if len(ids) != len(tokens):
        raise ValueError(f"ASSAY_RUN_ID has {len(ids)} entries but ASSAY_RUN_TOKEN has {len(tokens)}")
    if len(ids) == 1:
        index = 0
    else:
        raw = env.get("AWS_BATCH_JOB_ARRAY_INDEX")
        if raw is None or not raw.strip().isdigit():
            raise ValueError("ASSAY_RUN_ID lists several runs but AWS_BATCH_JOB_ARRAY_INDEX is not set to an index")
        index = int(raw)
        if index >= len(ids):
            raise ValueError(f"AWS_BATCH_JOB_ARRAY_INDEX {index} is out of range for {len(ids)} runs")
    if not ids[index] or not tokens[index]:
        raise ValueError(f"entry {index} of ASSAY_RUN_ID or ASSAY_RUN_TOKEN is empty")
    return {"api_url": env["ASSAY_API_URL"].rstrip("/"), "run_id": ids[index], "token": tokens[index]}


def batch_key(step: int, samples: Sequence[JsonObject]) -> str:
    """A stable key for a reward batch: the same step and samples always give the same key."""
    canonical = json.dumps({"step": step, "samples": list(samples)}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


class AssayClient:
    """A run's client. Methods return the parsed JSON answer; `stop_requested` latches any `stop: true`."""

    def __init__(
        self,
        api_url: str,
        run_id: str,
        token: str,
        *,
        max_attempts: int = 6,
        base_delay: float = 0.5,
        max_delay: float = 30.0,
        timeout: float = 60.0,
        rewards_timeout: float = 300.0,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Optional[random.Random] = None,
        user_agent: str = "assay-container/1",
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.api_url = api_url.rstrip("/")
        self.run_id = run_id
        self.token = token
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.timeout = timeout
        self.rewards_timeout = rewards_timeout
        self._sleep = sleep
        # Its own generator, so retries never disturb a trainer's seeded randomness.
        self._jitter = jitter or random.Random()
        self.user_agent = user_agent
        self.stop_reason: Optional[str] = None
        self.stop_requested = False
        self.retries = 0

    @classmethod
    def from_env(cls, env: Optional[Dict[str, str]] = None, **options: Any) -> "AssayClient":
        v = resolve_run_env(env)
        return cls(v["api_url"], v["run_id"], v["token"], **options)

    # -- protocol ---------------------------------------------------------------------------------

    def spec(self) -> JsonObject:
        """The run's ContainerSpec: baseModel, grader, hyperparams, earlyStopping, limits, dataset."""
        return self._request("GET", self._run_path("spec"))

    def rows(self, split: str = "train", spec: Optional[JsonObject] = None) -> Iterator[JsonObject]:
        """Every row of a dataset split ("train" or "holdout"), following `nextCursor` page by page."""
        if split not in ("train", "holdout"):
            raise ValueError('split must be "train" or "holdout"')
        spec = spec or self.spec()
        path = spec["dataset"]["trainRows" if split == "train" else "holdoutRows"]
        cursor: Optional[str] = None
        while True:
            url = path if cursor is None else f"{path}{'&' if '?' in path else '?'}cursor={urllib.parse.quote(cursor, safe='')}"
            page = self._request("GET", url)
            for row in page.get("data", []):
                yield row
            cursor = page.get("nextCursor")
            if not cursor:
                return

    def rewards(self, step: int, samples: Sequence[JsonObject], key: Optional[str] = None) -> JsonObject:
        """Scores samples with the run's grader. `results[i]` answers `samples[i]`; skip those with valid false."""
        body = {"step": int(step), "samples": list(samples), "batchKey": key or batch_key(step, samples)}
        answer = self._request("POST", self._run_path("rewards"), body, timeout=self.rewards_timeout)
        results = answer.get("results")
        if not isinstance(results, list) or len(results) != len(samples):
            raise AssayError(f"rewards answered {len(results or [])} results for {len(samples)} samples", body=answer)
        self._note_stop(answer)
        return answer

    def metrics(self, points: Sequence[JsonObject]) -> JsonObject:
        """Records KPI points `{name, step, value}`; sent in chunks of 10,000 (the API's limit per call)."""
        answer: JsonObject = {"accepted": 0, "duplicates": 0, "stop": False}
        points = list(points)
        for i in range(0, len(points), 10_000):
            part = self._request("POST", self._run_path("metrics"), {"points": points[i : i + 10_000]})
            answer["accepted"] += int(part.get("accepted", 0))
            answer["duplicates"] += int(part.get("duplicates", 0))
            if part.get("stop"):
                answer["stop"] = True
                answer["stopReason"] = part.get("stopReason")
            self._note_stop(part)
        return answer

    def heartbeat(self, step: Optional[int] = None, message: Optional[str] = None) -> JsonObject:
        body: JsonObject = {}
        if step is not None:
            body["step"] = int(step)
        if message is not None:
            body["message"] = message[:2000]
        answer = self._request("POST", self._run_path("heartbeat"), body)
        self._note_stop(answer)
        return answer

    def download(self, path: str) -> bytes:
        """The raw bytes at a path on this API (or an absolute URL), read with the run token and the same
        retries as every call (a warm start's adapter archive)."""
        return self._request("GET", path, as_bytes=True)

    def upload_artifact(self, name: str, data: Union[bytes, str, "os.PathLike[str]"]) -> JsonObject:
        """Stores bytes (or the file at a path) as an artifact of the run; answers `{kind?, uri}`."""
        if isinstance(data, (bytes, bytearray)):
            payload = bytes(data)
        else:
            with open(data, "rb") as f:
                payload = f.read()
        path = self._run_path("artifacts/" + urllib.parse.quote(name, safe=""))
        return self._request("PUT", path, payload, content_type="application/octet-stream")

    def complete(
        self,
        status: str,
        artifacts: Optional[Sequence[JsonObject]] = None,
        summary: Optional[JsonObject] = None,
        error: Optional[str] = None,
    ) -> Optional[JsonObject]:
        """Ends the run. Answers the run, or None when a retry found the token already retired by an
        earlier attempt that did go through (the answer was lost on the way back)."""
        if status not in ("succeeded", "failed"):
            raise ValueError('status must be "succeeded" or "failed"')
        body: JsonObject = {"status": status}
        if artifacts:
            body["artifacts"] = list(artifacts)
        if summary is not None:
            body["summary"] = summary
        if error:
            body["error"] = error[:4000]
        before = self.retries
        try:
            return self._request("POST", self._run_path("complete"), body)
        except AssayError as e:
            if e.status == 401 and self.retries > before:
                return None
            raise

    def get_json(self, path: str) -> Any:
        """GETs a path of the run's own (e.g. the spec's `warmStart.download`, an adapter file) as JSON."""
        return self._request("GET", path)

    def raise_if_stopped(self) -> None:
        if self.stop_requested:
            raise StopRequested(self.stop_reason)

    # -- transport --------------------------------------------------------------------------------

    def _run_path(self, tail: str) -> str:
        return f"/v1/runs/{urllib.parse.quote(self.run_id, safe='')}/{tail}"

    def _note_stop(self, answer: JsonObject) -> None:
        if isinstance(answer, dict) and answer.get("stop"):
            self.stop_requested = True
            self.stop_reason = answer.get("stopReason") or self.stop_reason or "stop requested"

    def _delay(self, attempt: int, retry_after: Optional[float]) -> float:
        if retry_after is not None:
            return min(self.max_delay, max(0.0, retry_after))
        return self._jitter.uniform(0, min(self.max_delay, self.base_delay * (2 ** (attempt - 1))))

    def _request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        timeout: Optional[float] = None,
        as_bytes: bool = False,
    ) -> Any:
        url = path if path.startswith(("http://", "https://")) else self.api_url + path
        data: Optional[bytes] = None
        if body is not None:
            data = body if isinstance(body, (bytes, bytearray)) else json.dumps(body).encode("utf-8")
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json", "User-Agent": self.user_agent}
        if data is not None:
            headers["Content-Type"] = content_type
        last: Optional[AssayError] = None
        for attempt in range(1, self.max_attempts + 1):
            retry_after: Optional[float] = None
            try:
                req = urllib.request.Request(url, data=data, method=method, headers=headers)
                with urllib.request.urlopen(req, timeout=timeout or self.timeout) as res:
                    payload = res.read()
                if as_bytes:
                    return payload
                return json.loads(payload) if payload else {}
            except urllib.error.HTTPError as e:
                raw = _read_quietly(e)
                err = _api_error(method, path, e.code, raw)
                if e.code != 429 and e.code < 500:
                    raise err from None
                retry_after = _retry_after(e.headers.get("Retry-After") if e.headers else None)
                last = err
            except json.JSONDecodeError as e:
                # A 2xx whose body was cut short: the request may have landed, and replays are idempotent.
                last = AssayError(f"{method} {path}: unreadable answer ({e})")
            except _NETWORK_ERRORS as e:
                last = AssayError(f"{method} {path}: {type(e).__name__}: {e}")
            if attempt < self.max_attempts:
                self.retries += 1
                self._sleep(self._delay(attempt, retry_after))
        assert last is not None
        raise last


def _read_quietly(e: urllib.error.HTTPError) -> bytes:
    try:
        return e.read()
    except Exception:
        return b""


def _api_error(method: str, path: str, status: int, raw: bytes) -> AssayError:
    body: Any = None
    code = message = request_id = None
    try:
        body = json.loads(raw) if raw else None
        err = body.get("error") if isinstance(body, dict) else None
        if isinstance(err, dict):
            code, message, request_id = err.get("code"), err.get("message"), err.get("requestId")
    except ValueError:
        body = raw[:500].decode("utf-8", "replace")
    text = f"{method} {path}: HTTP {status}" + (f" {code}: {message}" if code or message else "")
    return AssayError(text, status=status, code=code, request_id=request_id, body=body)


def _retry_after(value: Optional[str]) -> Optional[float]:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        return None  # an HTTP date: fall back to backoff rather than trust a clock comparison
