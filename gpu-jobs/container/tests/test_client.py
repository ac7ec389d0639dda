"""The Assay client against real loopback HTTP servers: retries, backoff, replays, stop, env."""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from assay_client import AssayClient, AssayError, StopRequested, batch_key, resolve_run_env  # noqa: E402
from http_double import ScriptedServer, error_body  # noqa: E402

OK = ("json", 200, {"stop": False})


class ClientCase(unittest.TestCase):
    def serve(self, *script):
        server = ScriptedServer(list(script))
        self.addCleanup(server.close)
        self.sleeps = []
        client = AssayClient(
            server.url,
            "run_1",
            "rt_secret",
            max_attempts=4,
            base_delay=0.01,
            max_delay=0.05,
            timeout=5,
            sleep=self.sleeps.append,
            jitter=random.Random(1),
        )
        return server, client


class Retries(ClientCase):
    def test_a_503_twice_then_200_is_retried_with_growing_jittered_backoff(self):
        server, client = self.serve(
            ("json", 503, error_body("INTERNAL", "busy")), ("json", 503, error_body("INTERNAL", "busy")), OK
        )
        self.assertEqual(client.heartbeat(step=3), {"stop": False})
        self.assertEqual([r.path for r in server.received], ["/v1/runs/run_1/heartbeat"] * 3)
        self.assertEqual([r.json() for r in server.received], [{"step": 3}] * 3)
        self.assertEqual(len(self.sleeps), 2)
        self.assertTrue(0 <= self.sleeps[0] <= 0.01 and 0 <= self.sleeps[1] <= 0.02, self.sleeps)
        self.assertEqual(client.retries, 2)

    def test_a_dropped_connection_is_retried(self):
        server, client = self.serve(("drop",), OK)
        self.assertEqual(client.heartbeat(), {"stop": False})
        self.assertEqual(len(server.received), 2)

    def test_a_truncated_answer_is_retried(self):
        server, client = self.serve(("truncate", 200, {"stop": False, "padding": "x" * 100}), OK)
        self.assertEqual(client.heartbeat(), {"stop": False})
        self.assertEqual(len(server.received), 2)

    def test_a_429_waits_as_long_as_retry_after_says(self):
        server, client = self.serve(("json", 429, error_body("RATE_LIMITED", "slow down"), {"Retry-After": "0.04"}), OK)
        client.heartbeat()
        self.assertEqual(self.sleeps, [0.04])
        self.assertEqual(len(server.received), 2)

    def test_retry_after_is_capped_by_the_largest_delay(self):
        _, client = self.serve(("json", 503, error_body("INTERNAL", "down"), {"Retry-After": "3600"}), OK)
        client.heartbeat()
        self.assertEqual(self.sleeps, [0.05])

    def test_a_400_is_not_retried_and_carries_the_error_envelope(self):
        server, client = self.serve(("json", 400, error_body("BAD_REQUEST", "step must be an integer", "req_42")))
        with self.assertRaises(AssayError) as caught:
            client.heartbeat(step=1)
        e = caught.exception
        self.assertEqual((e.status, e.code, e.request_id), (400, "BAD_REQUEST", "req_42"))
        self.assertIn("step must be an integer", str(e))
        self.assertEqual(len(server.received), 1)
        self.assertEqual(self.sleeps, [])

    def test_a_401_and_a_409_are_not_retried(self):
        for status, code in ((401, "UNAUTHORIZED"), (409, "CONFLICT")):
            server, client = self.serve(("json", status, error_body(code, "no")))
            with self.assertRaises(AssayError) as caught:
                client.metrics([{"name": "loss", "step": 1, "value": 1.0}])
            self.assertEqual(caught.exception.status, status)
            self.assertEqual(len(server.received), 1)

    def test_it_gives_up_after_max_attempts_with_the_last_error(self):
        server, client = self.serve(("json", 502, error_body("UPSTREAM_FAILED", "R2 down")))
        with self.assertRaises(AssayError) as caught:
            client.heartbeat()
        self.assertEqual((caught.exception.status, caught.exception.code), (502, "UPSTREAM_FAILED"))
        self.assertEqual(len(server.received), 4)
        self.assertEqual(len(self.sleeps), 3)

    def test_a_refused_connection_is_retried_then_reported(self):
        server, client = self.serve(OK)
        server.close()
        with self.assertRaises(AssayError) as caught:
            client.heartbeat()
        self.assertIsNone(caught.exception.status)
        self.assertIn("heartbeat", str(caught.exception))
        self.assertEqual(len(self.sleeps), 3)


class Replays(ClientCase):
    def test_a_retried_reward_batch_sends_the_same_step_samples_and_batch_key(self):
        samples = [{"completion": "4", "item": {"answer": "4"}, "group": 0}]
        answer = {"results": [{"score": 1, "valid": True}], "summary": {}, "stop": False}
        server, client = self.serve(("json", 500, error_body("INTERNAL", "oops")), ("drop",), ("json", 200, answer))
        self.assertEqual(client.rewards(7, samples), answer)
        bodies = [r.body for r in server.received]
        self.assertEqual(len(bodies), 3)
        self.assertEqual(len(set(bodies)), 1, "every replay must be byte-identical")
        self.assertEqual(json.loads(bodies[0]), {"step": 7, "samples": samples, "batchKey": batch_key(7, samples)})

    def test_the_batch_key_depends_on_step_and_samples_only(self):
        a = [{"completion": "x", "item": {"b": 1, "a": 2}, "group": 0}]
        b = [{"group": 0, "item": {"a": 2, "b": 1}, "completion": "x"}]
        self.assertEqual(batch_key(1, a), batch_key(1, b))
        self.assertNotEqual(batch_key(1, a), batch_key(2, a))
        self.assertNotEqual(batch_key(1, a), batch_key(1, [{**a[0], "completion": "y"}]))

    def test_rewards_refuses_an_answer_with_the_wrong_number_of_results(self):
        _, client = self.serve(("json", 200, {"results": [], "summary": {}, "stop": False}))
        with self.assertRaises(AssayError):
            client.rewards(1, [{"completion": "a", "item": {}}])

    def test_metrics_are_sent_in_chunks_of_ten_thousand_and_counted_together(self):
        server, client = self.serve(
            ("json", 200, {"accepted": 10_000, "duplicates": 0, "stop": False}),
            ("json", 200, {"accepted": 3, "duplicates": 2, "stop": False}),
        )
        points = [{"name": "loss", "step": i, "value": 0.5} for i in range(10_005)]
        self.assertEqual(client.metrics(points), {"accepted": 10_003, "duplicates": 2, "stop": False})
        self.assertEqual([len(r.json()["points"]) for r in server.received], [10_000, 5])

    def test_a_complete_whose_answer_was_lost_and_whose_token_is_then_retired_counts_as_done(self):
        server, client = self.serve(("drop",), ("json", 401, error_body("UNAUTHORIZED", "run ended")))
        self.assertIsNone(client.complete("succeeded", summary={"steps": 3}))
        self.assertEqual([r.json() for r in server.received], [{"status": "succeeded", "summary": {"steps": 3}}] * 2)

    def test_a_complete_refused_on_its_first_attempt_raises(self):
        _, client = self.serve(("json", 401, error_body("UNAUTHORIZED", "bad token")))
        with self.assertRaises(AssayError):
            client.complete("failed", error="boom")


class Protocol(ClientCase):
    def test_every_call_sends_the_run_token_as_a_bearer(self):
        server, client = self.serve(OK)
        client.heartbeat(message="hi")
        self.assertEqual(server.received[0].headers["authorization"], "Bearer rt_secret")
        self.assertEqual(server.received[0].headers["content-type"], "application/json")

    def test_a_stop_answer_latches_and_raise_if_stopped_surfaces_it(self):
        _, client = self.serve(OK, ("json", 200, {"stop": True, "stopReason": "reward/mean: no improvement"}), OK)
        client.heartbeat()
        client.raise_if_stopped()
        self.assertFalse(client.stop_requested)
        self.assertEqual(client.heartbeat(), {"stop": True, "stopReason": "reward/mean: no improvement"})
        client.heartbeat()
        self.assertTrue(client.stop_requested)
        with self.assertRaises(StopRequested) as caught:
            client.raise_if_stopped()
        self.assertEqual(caught.exception.reason, "reward/mean: no improvement")

    def test_rows_follow_next_cursor_until_it_is_null(self):
        spec = {"dataset": {"trainRows": "/v1/runs/run_1/dataset/rows?split=train", "holdoutRows": "/x?split=holdout"}}
        server, client = self.serve(
            ("json", 200, {"data": [{"i": 1}, {"i": 2}], "nextCursor": "c/2+="}),
            ("json", 200, {"data": [{"i": 3}], "nextCursor": None}),
        )
        self.assertEqual(list(client.rows("train", spec)), [{"i": 1}, {"i": 2}, {"i": 3}])
        self.assertEqual(
            [r.path for r in server.received],
            ["/v1/runs/run_1/dataset/rows?split=train", "/v1/runs/run_1/dataset/rows?split=train&cursor=c%2F2%2B%3D"],
        )

    def test_an_artifact_is_put_as_raw_bytes_from_memory_or_a_file(self):
        server, client = self.serve(("json", 201, {"uri": "r2://b/a"}))
        self.assertEqual(client.upload_artifact("adapter.json", b"\x00\x01{}"), {"uri": "r2://b/a"})
        with tempfile.NamedTemporaryFile(delete=False) as f:
            f.write(b"weights")
        self.addCleanup(os.unlink, f.name)
        client.upload_artifact("adapter model.bin", f.name)
        first, second = server.received
        self.assertEqual((first.method, first.path, first.body), ("PUT", "/v1/runs/run_1/artifacts/adapter.json", b"\x00\x01{}"))
        self.assertEqual(first.headers["content-type"], "application/octet-stream")
        self.assertEqual((second.path, second.body), ("/v1/runs/run_1/artifacts/adapter%20model.bin", b"weights"))


class Environment(unittest.TestCase):
    base = {"ASSAY_API_URL": "http://api.test/", "ASSAY_RUN_ID": "run_a", "ASSAY_RUN_TOKEN": "rt_a"}

    def test_a_single_run_is_read_as_is(self):
        self.assertEqual(resolve_run_env(self.base), {"api_url": "http://api.test", "run_id": "run_a", "token": "rt_a"})

    def test_an_array_job_picks_its_entry_by_aws_batch_job_array_index(self):
        env = {
            **self.base,
            "ASSAY_RUN_ID": "run_a,run_b,run_c",
            "ASSAY_RUN_TOKEN": "rt_a,rt_b,rt_c",
            "AWS_BATCH_JOB_ARRAY_INDEX": "2",
        }
        self.assertEqual(resolve_run_env(env), {"api_url": "http://api.test", "run_id": "run_c", "token": "rt_c"})

    def test_array_lists_without_an_index_or_out_of_range_or_uneven_are_refused(self):
        lists = {**self.base, "ASSAY_RUN_ID": "run_a,run_b", "ASSAY_RUN_TOKEN": "rt_a,rt_b"}
        for env, message in (
            (lists, "AWS_BATCH_JOB_ARRAY_INDEX is not set"),
            ({**lists, "AWS_BATCH_JOB_ARRAY_INDEX": "2"}, "out of range"),
            ({**lists, "ASSAY_RUN_TOKEN": "rt_a"}, "has 2 entries but ASSAY_RUN_TOKEN has 1"),
            ({"ASSAY_API_URL": "http://x"}, "ASSAY_RUN_ID, ASSAY_RUN_TOKEN"),
        ):
            with self.assertRaises(ValueError) as caught:
                resolve_run_env(env)
            self.assertIn(message, str(caught.exception))


if __name__ == "__main__":
    unittest.main()
