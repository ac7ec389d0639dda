"""Real HTTP servers on loopback for the container's tests (standard library only).

`ScriptedServer` answers each request from a script of behaviours (a status and body, a dropped
connection, a truncated body) and records what it received, to exercise the client's retries.
`PlatformDouble` is an in-memory double of the Assay container protocol with an exact-match grader,
enough to drive a trainer end to end; the real Worker is exercised by tests/node/runner-e2e.test.ts.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, Optional, Tuple


_SHAPE = re.compile(r"^\s*<think>([\s\S]*?)</think>\s*<answer>([\s\S]*?)</answer>\s*$")


def format_answer(completion: str, answer: str) -> float:
    """What the demo grader (the `format-answer` reward) decides for these tests' short completions:
    1 for `<think>…</think><answer>X</answer>` with X the expected answer (ignoring case), else 0."""
    m = _SHAPE.match(completion)
    return 1.0 if m and m.group(2).strip().lower() == str(answer).strip().lower() else 0.0


class Received:
    def __init__(self, method: str, path: str, headers: Dict[str, str], body: bytes) -> None:
        self.method, self.path, self.headers, self.body = method, path, headers, body

    def json(self) -> Any:
        return json.loads(self.body)


class _Server:
    def __init__(self) -> None:
        self.received: List[Received] = []
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: Any) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                req = Received(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with owner.lock:
                    owner.received.append(req)
                owner.handle(self, req)

            do_GET = do_POST = do_PUT = _any

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def handle(self, h: BaseHTTPRequestHandler, req: Received) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    @staticmethod
    def reply(h: BaseHTTPRequestHandler, status: int, body: Any, headers: Optional[Dict[str, str]] = None) -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(raw)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(raw)


def error_body(code: str, message: str, request_id: str = "req_test") -> Dict[str, Any]:
    return {"error": {"code": code, "message": message, "requestId": request_id}}


class ScriptedServer(_Server):
    """Answers requests in order from `script`; once it runs out, repeats the last entry.

    An entry is ("json", status, body, headers), ("drop",) to close the connection without an answer,
    or ("truncate", status, body) to promise a longer body than it sends.
    """

    def __init__(self, script: List[Tuple[Any, ...]]) -> None:
        self.script = list(script)
        self.served = 0
        super().__init__()

    def handle(self, h: BaseHTTPRequestHandler, req: Received) -> None:
        with self.lock:
            entry = self.script[min(self.served, len(self.script) - 1)]
            self.served += 1
        kind = entry[0]
        if kind == "drop":
            h.close_connection = True
            h.connection.shutdown(2)
            return
        if kind == "truncate":
            raw = json.dumps(entry[2]).encode("utf-8")
            h.send_response(entry[1])
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(raw) + 50))
            h.end_headers()
            h.wfile.write(raw[: len(raw) // 2])
            h.close_connection = True
            return
        _, status, body = entry[:3]
        headers = entry[3] if len(entry) > 3 else None
        self.reply(h, status, body, headers)


class PlatformDouble(_Server):
    """The container protocol in memory: one run, its rows, the demo grader's rule (`format_answer`).

    `invalid` picks samples the grader fails on (valid: false); `stop_after_step` makes every answer
    from that step on say stop; `fail_first` makes the first N calls to each endpoint answer 503;
    `cancel_after_step` cancels the run once that step is scored (its token is then refused, and complete
    answers the cancelled run), as the platform does on POST /v1/runs/{id}/cancel. `spec_overrides` replaces
    top-level fields of the spec (baseModel, kind, warmStart, ...); `downloads` maps paths to bytes served to
    GET with the run token (a warm start's adapter archive).
    """

    def __init__(
        self,
        rows: List[Dict[str, Any]],
        hyperparams: Dict[str, Any],
        *,
        run_id: str = "run_double",
        token: str = "rt_double",
        page_size: int = 50,
        invalid: Callable[[Dict[str, Any]], bool] = lambda s: False,
        stop_after_step: Optional[int] = None,
        fail_first: int = 0,
        cancel_after_step: Optional[int] = None,
        spec_overrides: Optional[Dict[str, Any]] = None,
        spec_extra: Optional[Dict[str, Any]] = None,
        files: Optional[Dict[str, Any]] = None,
    ) -> None:
        self.rows, self.hp, self.run_id, self.token = rows, hyperparams, run_id, token
        # Both are merged into the spec (baseModel, kind, warmStart, eval); `files` maps run paths to JSON
        # answers and `downloads` to raw bytes.
        self.spec_overrides = {**(spec_extra or {}), **(spec_overrides or {})}
        self.files = files or {}
        self.downloads: Dict[str, bytes] = {}
        self.page_size, self.invalid, self.stop_after_step = page_size, invalid, stop_after_step
        self.fail_first = fail_first
        self.cancel_after_step = cancel_after_step
        self.cancelled = False
        self.calls: Dict[str, int] = {}
        self.reward_batches: Dict[Tuple[int, str], List[Dict[str, Any]]] = {}
        self.metrics: Dict[Tuple[str, int], float] = {}
        self.heartbeats: List[Dict[str, Any]] = []
        self.artifacts: Dict[str, bytes] = {}
        self.completed: Optional[Dict[str, Any]] = None
        self.stop_reason: Optional[str] = None
        super().__init__()

    def _stop(self) -> Dict[str, Any]:
        return {"stop": True, "stopReason": self.stop_reason} if self.stop_reason else {"stop": False}

    def handle(self, h: BaseHTTPRequestHandler, req: Received) -> None:
        if req.headers.get("authorization") != f"Bearer {self.token}":
            return self.reply(h, 401, error_body("UNAUTHORIZED", "bad token"))
        url = urllib.parse.urlsplit(req.path)
        if self.cancelled and url.path.endswith("/complete"):
            self.completed = req.json()
            return self.reply(h, 200, {"id": self.run_id, "status": "cancelled"})
        if self.completed is not None or self.cancelled:
            return self.reply(h, 401, error_body("UNAUTHORIZED", "the run has ended"))
        if req.method == "GET" and url.path in self.downloads:
            h.send_response(200)
            h.send_header("Content-Type", "application/octet-stream")
            h.send_header("Content-Length", str(len(self.downloads[url.path])))
            h.end_headers()
            h.wfile.write(self.downloads[url.path])
            return None
        prefix = f"/v1/runs/{self.run_id}/"
        if not url.path.startswith(prefix):
            return self.reply(h, 404, error_body("NOT_FOUND", url.path))
        tail = url.path[len(prefix) :]
        endpoint = tail.split("/")[0]
        with self.lock:
            self.calls[endpoint] = self.calls.get(endpoint, 0) + 1
            if self.calls[endpoint] <= self.fail_first:
                return self.reply(h, 503, error_body("INTERNAL", "warming up"))
        if req.method == "GET" and tail == "spec":
            return self.reply(h, 200, self.spec())
        if req.method == "GET" and url.path in self.files:
            return self.reply(h, 200, self.files[url.path])
        if req.method == "GET" and tail == "dataset/rows":
            q = urllib.parse.parse_qs(url.query)
            start = int(q.get("cursor", ["0"])[0])
            end = start + self.page_size
            return self.reply(
                h, 200, {"data": self.rows[start:end], "nextCursor": str(end) if end < len(self.rows) else None}
            )
        if req.method == "POST" and tail == "rewards":
            body = req.json()
            samples = body["samples"]
            results = []
            for s in samples:
                if self.invalid(s):
                    results.append({"score": 0, "valid": False, "error": {"code": "TIMEOUT", "message": "double"}})
                else:
                    results.append({"score": format_answer(s["completion"], s["item"].get("answer")), "valid": True})
            with self.lock:
                self.reward_batches.setdefault((body["step"], body.get("batchKey", "")), samples)
                if self.stop_after_step is not None and body["step"] >= self.stop_after_step:
                    self.stop_reason = f"double: stop at step {self.stop_after_step}"
                if self.cancel_after_step is not None and body["step"] >= self.cancel_after_step:
                    self.cancelled = True
            return self.reply(h, 200, {"results": results, "summary": {"count": len(results)}, **self._stop()})
        if req.method == "POST" and tail == "metrics":
            accepted = duplicates = 0
            with self.lock:
                for p in req.json()["points"]:
                    key = (p["name"], p["step"])
                    if key in self.metrics:
                        if self.metrics[key] != p["value"]:
                            return self.reply(h, 409, error_body("CONFLICT", f"{key} differs"))
                        duplicates += 1
                    else:
                        self.metrics[key] = p["value"]
                        accepted += 1
            return self.reply(h, 200, {"accepted": accepted, "duplicates": duplicates, **self._stop()})
        if req.method == "POST" and tail == "heartbeat":
            self.heartbeats.append(req.json())
            return self.reply(h, 200, self._stop())
        if req.method == "PUT" and tail.startswith("artifacts/"):
            name = urllib.parse.unquote(tail[len("artifacts/") :])
            self.artifacts[name] = req.body
            return self.reply(h, 201, {"uri": f"r2://double/{self.run_id}/{name}", "bytes": len(req.body)})
        if req.method == "POST" and tail == "complete":
            self.completed = req.json()
            return self.reply(h, 200, {"id": self.run_id, "status": self.completed["status"]})
        return self.reply(h, 404, error_body("NOT_FOUND", req.path))

    def spec(self) -> Dict[str, Any]:
        base = f"/v1/runs/{self.run_id}/dataset/rows"
        return {
            "runId": self.run_id,
            "experimentId": "exp_double",
            "baseModel": "cpu/bag-of-words",
            "grader": {"ref": "string_check@1", "config": {}},
            "hyperparams": self.hp,
            "earlyStopping": [],
            "limits": {},
            "dataset": {
                "id": "ds_double",
                "sha256": "0" * 64,
                "rows": len(self.rows),
                "trainRows": f"{base}?split=train",
                "holdoutRows": f"{base}?split=holdout",
            },
            **self.spec_overrides,
        }

    def series(self, name: str) -> List[Tuple[int, float]]:
        return sorted((step, v) for (n, step), v in self.metrics.items() if n == name)
