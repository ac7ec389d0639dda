"""The CPU reference SFT, DPO and KTO trainers and the evaluator: that they learn, that their gradients are
the gradients of their losses, that the schedule and the warm start are honoured, and that they keep the
container protocol."""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import random
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
CONTAINER = os.path.join(HERE, "..")
sys.path.insert(0, CONTAINER)
sys.path.insert(0, HERE)

from assay_client import AssayClient  # noqa: E402
from cpu_pref import (  # noqa: E402
    OfflineTrainer,
    evaluate,
    item_id,
    load_examples,
    policy_from_adapter,
    train_offline,
)
from cpu_trainer import ADAPTER_FORMAT, BagOfWordsPolicy, lr_at, prompt_text, run, schedule, words_of  # noqa: E402
from http_double import PlatformDouble, format_answer  # noqa: E402

with open(os.path.join(CONTAINER, "..", "demo", "topics.jsonl"), encoding="utf-8") as f:
    ROWS = [json.loads(line) for line in f if line.strip()]
TRAIN, HOLDOUT = ROWS[:140], ROWS[140:]
TOPICS = ["cooking", "music", "sports", "weather"]
HP = {"learningRate": 0.01, "batchSize": 16, "epochs": 40, "maxSteps": 150, "seed": 0, "beta": 0.5}


def fmt(topic):
    return f"<think>The message uses {topic} words.</think><answer>{topic}</answer>"


def wrong(row, rng):
    return rng.choice([t for t in TOPICS if t != row["answer"]])


def data(kind, rows=TRAIN, seed=1):
    rng = random.Random(seed)
    out = []
    for r in rows:
        base = {"id": r["id"], "prompt": r["prompt"], "choices": r["choices"]}
        if kind == "sft":
            out.append({**base, "completion": fmt(r["answer"])})
        elif kind == "dpo":
            out.append({**base, "chosen": fmt(r["answer"]), "rejected": fmt(wrong(r, rng))})
        else:
            good = rng.random() < 0.5
            out.append({**base, "completion": fmt(r["answer"] if good else wrong(r, rng)), "label": good})
    return out


def greedy_accuracy(policy, rows):
    total = 0.0
    for r in rows:
        z = policy.logits(words_of(prompt_text(r)), r["choices"])
        total += format_answer(r["choices"][max(range(len(z)), key=z.__getitem__)], r["answer"])
    return total / len(rows)


def fit(kind, hp=HP, rows=None, policy=None):
    examples = load_examples(kind, rows if rows is not None else data(kind))
    t = OfflineTrainer(kind, hp, policy)
    plan = schedule(len(examples), hp, t.rng)
    kpis = [t.step([examples[i] for i in idx], s, len(plan)) for s, idx in enumerate(plan, start=1)]
    return t, examples, kpis


def mean(xs):
    return sum(xs) / len(xs)


class Learning(unittest.TestCase):
    def test_sft_raises_the_likelihood_of_the_target_completion_and_generalises(self):
        t, examples, kpis = fit("sft")
        self.assertAlmostEqual(kpis[0]["loss"], math.log(6), places=9)  # uniform over six candidates at the start
        self.assertLess(mean([k["loss"] for k in kpis[-5:]]), 0.2)
        self.assertGreater(mean([t.probability(e, e.target) for e in examples]), 0.85)
        self.assertGreaterEqual(greedy_accuracy(t.policy, HOLDOUT), 0.95)

    def test_dpo_raises_the_preferred_answer_over_the_rejected_one_for_every_loss_type(self):
        for loss_type in ("sigmoid", "hinge", "ipo"):
            with self.subTest(loss_type=loss_type):
                t, examples, kpis = fit("dpo", {**HP, "lossType": loss_type})
                if loss_type == "sigmoid":
                    self.assertAlmostEqual(kpis[0]["loss"], math.log(2), places=9)  # policy == reference
                self.assertLess(mean([k["loss"] for k in kpis[-5:]]), kpis[0]["loss"])
                self.assertEqual(kpis[0]["rewards/margins"], 0.0)
                self.assertGreater(mean([k["rewards/accuracies"] for k in kpis[-5:]]), 0.9)
                gap = mean([t.probability(e, e.chosen) - t.probability(e, e.rejected) for e in examples])
                self.assertGreater(gap, 0.15)
                self.assertGreaterEqual(greedy_accuracy(t.policy, HOLDOUT), 0.9)

    def test_kto_makes_desirable_answers_likelier_and_undesirable_ones_rarer(self):
        t, examples, kpis = fit("kto", {**HP, "maxSteps": 400})
        self.assertLess(mean([k["loss"] for k in kpis[-5:]]), kpis[0]["loss"])
        good = [e for e in examples if e.label]
        bad = [e for e in examples if not e.label]
        start = OfflineTrainer("kto", HP)
        self.assertGreater(mean([t.probability(e, e.target) for e in good]), mean([start.probability(e, e.target) for e in good]) + 0.3)
        self.assertLess(mean([t.probability(e, e.target) for e in bad]), mean([start.probability(e, e.target) for e in bad]))
        self.assertGreaterEqual(greedy_accuracy(t.policy, HOLDOUT), 0.8)

    def test_noise_labels_teach_nothing_the_holdout_can_see(self):
        rng = random.Random(5)
        noisy = [{**r, "completion": fmt(rng.choice(TOPICS))} for r in data("sft")]
        t, _, _ = fit("sft", rows=noisy)
        self.assertLess(greedy_accuracy(t.policy, HOLDOUT), 0.5)


class Gradients(unittest.TestCase):
    def test_each_kinds_gradient_matches_finite_differences_of_its_loss(self):
        rng = random.Random(2)
        for kind in ("sft", "dpo", "kto"):
            hp = {**HP, "lossType": "sigmoid"}
            examples = load_examples(kind, data(kind, TRAIN[:6]))
            start = BagOfWordsPolicy(
                {k: rng.uniform(-1, 1) for e in examples for c in e.choices for k in BagOfWordsPolicy.keys(e.words, c)}
            )
            t = OfflineTrainer(kind, hp, BagOfWordsPolicy({k: v * 0.5 for k, v in start.weights.items()}))
            t.policy = start  # the reference stays the halved copy, so DPO and KTO see a non-zero log ratio
            _, kpis, grads = t.objective(examples)
            # KTO's KL baseline z0 carries no gradient (as in TRL): hold it at its value while differencing.
            z0 = kpis.get("kl")
            for key in rng.sample(sorted(grads), 12):
                h = 1e-6
                up = BagOfWordsPolicy({**start.weights, key: start.weights[key] + h})
                down = BagOfWordsPolicy({**start.weights, key: start.weights[key] - h})
                numeric = (t.objective(examples, up, z0)[0] - t.objective(examples, down, z0)[0]) / (2 * h)
                with self.subTest(kind=kind, key=key):
                    self.assertAlmostEqual(grads[key], numeric, delta=1e-6 + 1e-4 * abs(numeric))


class Schedule(unittest.TestCase):
    def test_the_learning_rate_warms_up_linearly_then_follows_the_schedule(self):
        hp = {"learningRate": 1.0, "warmupRatio": 0.1}
        self.assertEqual([lr_at({**hp, "lrScheduler": "constant"}, s, 100) for s in (1, 6, 11, 100)], [0.0, 0.5, 1.0, 1.0])
        self.assertEqual([lr_at({**hp, "lrScheduler": "linear"}, s, 100) for s in (11, 56, 101)], [1.0, 0.5, 0.0])
        cos = [lr_at({**hp, "lrScheduler": "cosine"}, s, 100) for s in (11, 56, 101)]
        self.assertAlmostEqual(cos[0], 1.0, places=12)
        self.assertAlmostEqual(cos[1], 0.5, places=12)
        self.assertAlmostEqual(cos[2], 0.0, places=12)

    def test_each_step_reports_the_rate_it_used(self):
        _, _, kpis = fit("sft", {**HP, "maxSteps": 20, "lrScheduler": "linear", "warmupRatio": 0.25})
        rates = [k["learning_rate"] for k in kpis]
        lr = HP["learningRate"]
        for got, want in zip(rates[:6], [0.0, 0.2 * lr, 0.4 * lr, 0.6 * lr, 0.8 * lr, lr]):  # 5 warmup steps of 20
            self.assertAlmostEqual(got, want, places=12)
        self.assertAlmostEqual(rates[-1], lr / 15, places=12)


class WarmStart(unittest.TestCase):
    def test_an_adapter_round_trips_into_the_same_policy(self):
        t, examples, _ = fit("sft", {**HP, "maxSteps": 10})
        doc = {"format": ADAPTER_FORMAT, "policy": t.policy.to_json()}
        back = policy_from_adapter(json.loads(json.dumps(doc)))
        for e in examples[:10]:
            for a, b in zip(t.policy.logits(e.words, e.choices), back.logits(e.words, e.choices)):
                self.assertAlmostEqual(a, b, places=6)
        with self.assertRaisesRegex(ValueError, "not a CPU policy adapter"):
            policy_from_adapter({"format": "safetensors"})

    def test_dpo_measures_its_implicit_reward_against_the_warm_start_not_against_zero(self):
        sft, _, _ = fit("sft", {**HP, "maxSteps": 30})
        t, _, kpis = fit("dpo", HP, policy=BagOfWordsPolicy(sft.policy.weights))
        self.assertAlmostEqual(kpis[0]["loss"], math.log(2), places=9)
        self.assertEqual(kpis[0]["rewards/chosen"], 0.0)
        self.assertGreater(greedy_accuracy(t.policy, HOLDOUT), 0.9)


def quiet(fn, *args, **kwargs):
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args, **kwargs)


class Protocol(unittest.TestCase):
    def test_an_sft_run_starts_from_its_warm_start_trains_and_uploads_its_adapter(self):
        sft, _, _ = fit("sft", {**HP, "maxSteps": 40})
        adapter = {"format": ADAPTER_FORMAT, "policy": sft.policy.to_json()}
        download = "/v1/runs/run_double/base-adapter"
        hp = {**HP, "maxSteps": 12, "lrScheduler": "cosine", "warmupRatio": 0.2}
        p = PlatformDouble(
            data("sft"),
            hp,
            spec_extra={"kind": "sft", "warmStart": {"run": "run_champ", "kind": "adapter", "uri": "r2://x", "download": download}},
            files={download: adapter},
        )
        self.addCleanup(p.close)
        code = quiet(run, AssayClient(p.url, p.run_id, p.token, base_delay=0))
        self.assertEqual(code, 0)
        self.assertEqual(p.completed["status"], "succeeded")
        self.assertEqual(p.completed["summary"]["warmStart"], "run_champ")
        self.assertEqual(p.completed["summary"]["steps"], 12)
        self.assertEqual([s for s, _ in p.series("loss")], list(range(1, 13)))
        self.assertEqual(p.series("learning_rate")[0], (1, 0.0))
        stored = json.loads(p.artifacts["adapter.json"])
        self.assertEqual((stored["kind"], stored["warmStart"]), ("sft", "run_champ"))
        # Started from the champion: already right at step 1, so the first loss is far below log 6.
        self.assertLess(p.series("loss")[0][1], 0.5)

    def test_an_eval_run_answers_every_item_and_scores_it_under_its_item_id(self):
        sft, _, _ = fit("sft", {**HP, "maxSteps": 40})
        download = "/v1/runs/run_double/base-adapter"
        p = PlatformDouble(
            HOLDOUT,
            {"temperature": 0, "batchSize": 25, "seed": 0},
            spec_extra={
                "kind": "eval",
                "eval": {"split": "holdout", "samplesPerItem": 2},
                "warmStart": {"run": "run_champ", "kind": "adapter", "uri": "r2://x", "download": download},
            },
            files={download: {"format": ADAPTER_FORMAT, "policy": sft.policy.to_json()}},
        )
        self.addCleanup(p.close)
        code = quiet(evaluate, AssayClient(p.url, p.run_id, p.token, base_delay=0), p.spec())
        self.assertEqual(code, 0)
        samples = [s for batch in p.reward_batches.values() for s in batch]
        self.assertEqual(len(samples), 2 * len(HOLDOUT))
        self.assertEqual(sorted({s["itemId"] for s in samples}), sorted(r["id"] for r in HOLDOUT))
        self.assertEqual([k[0] for k in sorted(p.reward_batches)], [1, 2, 3])
        self.assertEqual(p.completed["status"], "succeeded")
        self.assertEqual(p.completed["summary"]["items"], len(HOLDOUT))
        self.assertGreater(p.completed["summary"]["mean"], 0.9)

    def test_an_item_without_an_id_gets_a_stable_content_hash(self):
        row = {"prompt": "p", "answer": "a"}
        self.assertEqual(item_id(row), item_id({"answer": "a", "prompt": "p"}))
        self.assertRegex(item_id(row), r"^h:[0-9a-f]{24}$")
        self.assertEqual(item_id({"id": 7}), "7")


if __name__ == "__main__":
    unittest.main()
