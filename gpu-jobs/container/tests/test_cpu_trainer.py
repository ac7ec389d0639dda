"""The CPU reference trainer: that it learns, that its GRPO math is right, and that it keeps the protocol."""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import signal
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
CONTAINER = os.path.join(HERE, "..")
sys.path.insert(0, CONTAINER)
sys.path.insert(0, HERE)

from assay_client import AssayClient  # noqa: E402
from cpu_trainer import (  # noqa: E402
    GRPO,
    BagOfWordsPolicy,
    Prompt,
    group_advantages,
    load_prompts,
    schedule,
    train,
)
from http_double import PlatformDouble, format_answer  # noqa: E402

DEMO = os.path.join(CONTAINER, "..", "demo", "topics.jsonl")
with open(DEMO, encoding="utf-8") as f:
    ROWS = [json.loads(line) for line in f if line.strip()]
TRAIN, HOLDOUT = ROWS[:160], ROWS[160:]
HP = {
    "learningRate": 0.01,
    "batchSize": 16,
    "groupSize": 8,
    "epochs": 100,
    "klBeta": 0.04,
    "maxSteps": 150,
    "temperature": 1.0,
    "maxCompletionLength": 256,
    "seed": 3,
}


def grade(samples):
    return [{"score": format_answer(s["completion"], s["item"]["answer"]), "valid": True} for s in samples]


def offline(hp, steps, rows=TRAIN):
    """Trains without the API, scoring like the demo grader; answers the trainer and its reward per step."""
    prompts = load_prompts(rows)
    t = GRPO(hp)
    curve = []
    for indices in schedule(len(prompts), {**hp, "maxSteps": steps}, t.rng):
        batch = [prompts[i] for i in indices]
        samples, picks = t.sample(batch)
        curve.append(t.update(batch, picks, grade(samples))["train/reward_mean"])
    return t, curve


def mean(xs):
    return sum(xs) / len(xs)


class Learning(unittest.TestCase):
    def test_the_reward_rises_from_chance_and_the_policy_generalises_to_the_holdout(self):
        t, curve = offline(HP, 150)
        self.assertEqual(len(curve), 150)
        self.assertLess(mean(curve[:10]), 0.3)  # six candidates, one right: chance is 1/6
        self.assertGreater(mean(curve[-10:]), 0.8)
        holdout = load_prompts(HOLDOUT)
        self.assertGreaterEqual(t.greedy_accuracy(holdout, lambda p, c: format_answer(c, p.row["answer"])), 0.95)

    def test_training_is_deterministic_given_the_seed(self):
        a, curve_a = offline(HP, 20)
        b, curve_b = offline(HP, 20)
        c, curve_c = offline({**HP, "seed": 4}, 20)
        self.assertEqual(curve_a, curve_b)
        self.assertEqual(a.policy.weights, b.policy.weights)
        self.assertNotEqual(a.policy.weights, c.policy.weights)


class Math(unittest.TestCase):
    def test_group_advantages_standardise_valid_scores_and_leave_invalid_out(self):
        adv = group_advantages([1.0, 0.0, None, 0.0])
        std = (((2 / 3) ** 2 + 2 * (1 / 3) ** 2) / 2) ** 0.5
        expected = [(2 / 3) / (std + 1e-4), -(1 / 3) / (std + 1e-4), None, -(1 / 3) / (std + 1e-4)]
        self.assertIsNone(adv[2])
        for got, want in zip(adv, expected):
            if want is not None:
                self.assertAlmostEqual(got, want, places=12)
        self.assertEqual(group_advantages([0.5, 0.5, 0.5]), [0.0, 0.0, 0.0])
        self.assertEqual(group_advantages([1.0, None]), [0.0, None])

    def test_an_invalid_result_takes_no_part_in_the_update_rather_than_counting_as_zero(self):
        prompt = Prompt(TRAIN[0], [])
        picks = [(0, 0), (0, 1), (0, 2), (0, 3), (0, 1)]
        results = [
            {"score": 1.0, "valid": True},
            {"score": 0.0, "valid": True},
            {"score": 0, "valid": False, "error": {"code": "TIMEOUT", "message": "x"}},
            {"score": 0.5, "valid": True},
            {"score": 0, "valid": False},
        ]
        with_invalid = GRPO(HP)
        with_invalid.update([prompt], picks, results)
        without = GRPO(HP)
        keep = [0, 1, 3]
        without.update([prompt], [picks[i] for i in keep], [results[i] for i in keep])
        as_zero = GRPO(HP)
        as_zero.update([prompt], picks, [{**r, "valid": True, "score": r["score"]} for r in results])
        self.assertEqual(with_invalid.policy.weights, without.policy.weights)
        self.assertNotEqual(with_invalid.policy.weights, as_zero.policy.weights)

    def test_the_gradient_matches_finite_differences_of_the_loss(self):
        hp = {**HP, "klBeta": 0.3, "temperature": 0.7}
        t = GRPO(hp)
        rng = random.Random(5)
        t.policy.weights = {k: rng.uniform(-1, 1) for p in load_prompts(TRAIN[:3]) for c in p.choices for k in BagOfWordsPolicy.keys(p.words, c)}
        batch = load_prompts(TRAIN[:3])
        picks = [(g, rng.randrange(6)) for g in range(3) for _ in range(4)]
        advantages = [rng.uniform(-1, 1) if i % 5 else None for i in range(len(picks))]
        _, _, grads = t.objective(batch, picks, advantages)
        h = 1e-6
        for key in sorted(grads)[:: max(1, len(grads) // 12)]:
            up = BagOfWordsPolicy({**t.policy.weights, key: t.policy.weights.get(key, 0.0) + h})
            down = BagOfWordsPolicy({**t.policy.weights, key: t.policy.weights.get(key, 0.0) - h})
            numeric = (t.objective(batch, picks, advantages, up)[0] - t.objective(batch, picks, advantages, down)[0]) / (2 * h)
            self.assertAlmostEqual(grads[key], numeric, places=6, msg=key)


def client_for(double, **options):
    return AssayClient(double.url, double.run_id, double.token, base_delay=0.001, max_delay=0.01, **options)


def quietly(client):
    """Trains with the per-step log captured; answers the exit code."""
    with contextlib.redirect_stdout(io.StringIO()):
        return train(client)


class Protocol(unittest.TestCase):
    def platform(self, hp=None, **options):
        double = PlatformDouble(TRAIN, {**HP, "maxSteps": 12, **(hp or {})}, page_size=50, **options)
        self.addCleanup(double.close)
        return double

    def test_a_run_reads_all_rows_scores_each_step_posts_kpis_uploads_its_adapter_and_completes(self):
        double = self.platform()
        self.assertEqual(quietly(client_for(double)), 0)
        self.assertEqual(sorted({step for step, _ in double.reward_batches}), list(range(1, 13)))
        for (step, _), samples in double.reward_batches.items():
            self.assertEqual(len(samples), 16 * 8)
            self.assertEqual(sorted({s["group"] for s in samples}), list(range(16)))
            for s in samples:
                self.assertIn(s["completion"], s["item"]["choices"])
        names = {name for name, _ in double.metrics}
        self.assertEqual(
            names,
            {
                "loss",
                "kl",
                "entropy",
                "grad_norm",
                "learning_rate",
                "step_time_s",
                "train/reward_mean",
                "train/reward_std",
                "train/valid_fraction",
                "train/frac_reward_zero_std",
            },
        )
        self.assertEqual([s for s, _ in double.series("loss")], list(range(1, 13)))
        self.assertEqual(double.heartbeats[0], {"step": 0, "message": "cpu trainer starting on cpu/bag-of-words"})
        adapter = json.loads(double.artifacts["adapter.json"])
        self.assertEqual((adapter["format"], adapter["runId"], adapter["steps"]), ("assay-cpu-policy/v1", "run_double", 12))
        self.assertIn("goal", adapter["policy"]["weights"])
        self.assertEqual(double.completed["status"], "succeeded")
        self.assertEqual(double.completed["artifacts"], [{"kind": "adapter", "uri": "r2://double/run_double/adapter.json"}])
        self.assertEqual((double.completed["summary"]["steps"], double.completed["summary"]["stoppedBy"]), (12, "plan"))

    def test_a_stop_answer_ends_training_after_that_step_and_the_run_still_succeeds(self):
        double = self.platform(hp={"maxSteps": 50}, stop_after_step=5)
        self.assertEqual(quietly(client_for(double)), 0)
        self.assertEqual(max(step for step, _ in double.reward_batches), 5)
        self.assertEqual(max(s for s, _ in double.series("loss")), 5)
        summary = double.completed["summary"]
        self.assertEqual(
            (double.completed["status"], summary["stoppedBy"], summary["stopReason"], summary["steps"]),
            ("succeeded", "platform", "double: stop at step 5", 5),
        )

    def test_a_run_cancelled_mid_training_ends_the_trainer_quietly_without_storing_more(self):
        double = self.platform(hp={"maxSteps": 50}, cancel_after_step=3)
        self.assertEqual(quietly(client_for(double)), 0)
        self.assertEqual(max(step for step, _ in double.reward_batches), 3)
        self.assertEqual(double.artifacts, {})
        self.assertEqual(double.completed["status"], "failed")
        self.assertIn("HTTP 401", double.completed["error"])

    def test_invalid_results_are_reported_and_skipped(self):
        double = self.platform(invalid=lambda s: s["item"]["id"].endswith("0"))
        self.assertEqual(quietly(client_for(double)), 0)
        expected = {
            step: sum(not s["item"]["id"].endswith("0") for s in samples) / len(samples)
            for (step, _), samples in double.reward_batches.items()
        }
        self.assertEqual(dict(double.series("train/valid_fraction")), expected)
        self.assertLess(min(expected.values()), 1.0)

    def test_5xx_answers_are_retried_and_the_replayed_run_is_identical(self):
        flaky = self.platform(fail_first=2)
        steady = self.platform()
        self.assertEqual(quietly(client_for(flaky)), 0)
        self.assertEqual(quietly(client_for(steady)), 0)
        self.assertEqual(flaky.reward_batches, steady.reward_batches)
        drop_time = lambda d: {k: v for k, v in d.metrics.items() if k[0] != "step_time_s"}  # noqa: E731
        self.assertEqual(drop_time(flaky), drop_time(steady))
        self.assertEqual(flaky.artifacts, steady.artifacts)

    def test_a_dataset_without_candidate_answers_fails_the_run_with_the_reason(self):
        double = PlatformDouble([{"prompt": "hi", "answer": "x"}] * 4, HP)
        self.addCleanup(double.close)
        self.assertEqual(quietly(client_for(double)), 1)
        self.assertEqual(double.completed["status"], "failed")
        self.assertIn("choices", double.completed["error"])
        self.assertEqual(double.artifacts, {})

    def test_sigterm_ends_training_after_the_current_step_and_fails_the_run_with_its_partial_adapter(self):
        double = self.platform(hp={"maxSteps": 100_000, "epochs": 100})
        env = {
            **os.environ,
            "ASSAY_API_URL": double.url,
            "ASSAY_RUN_ID": double.run_id,
            "ASSAY_RUN_TOKEN": double.token,
        }
        child = subprocess.Popen(
            [sys.executable, "-u", os.path.join(CONTAINER, "cpu_trainer.py")],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            while double.calls.get("rewards", 0) < 3:
                if child.poll() is not None:
                    self.fail(f"trainer exited early: {child.stdout.read()}")
                time.sleep(0.01)
            child.send_signal(signal.SIGTERM)
            out, _ = child.communicate(timeout=30)
        finally:
            if child.poll() is None:
                child.kill()
        self.assertEqual(child.returncode, 1, out)
        self.assertIn("received SIGTERM", out)
        self.assertEqual(double.completed["status"], "failed")
        self.assertEqual(double.completed["error"], "interrupted by SIGTERM")
        steps = double.completed["summary"]["steps"]
        self.assertEqual(json.loads(double.artifacts["adapter.json"])["steps"], steps)
        self.assertEqual(max(s for s, _ in double.series("loss")), steps)
        self.assertLess(steps, 2000)


if __name__ == "__main__":
    unittest.main()
