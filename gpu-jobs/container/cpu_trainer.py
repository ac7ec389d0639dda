#!/usr/bin/env python3
"""The CPU reference trainer: GRPO on a small policy, pure Python standard library.

It is what the "local" backend runs (`npm run runner` starts it per claimed run), and the executable
reference for what a GPU trainer does over the container protocol: read the spec and the training rows,
then each step sample `groupSize` completions per prompt, have the platform score them, compute
group-relative advantages from the valid results only, update the policy, post KPIs, heartbeat, honour
`stop`, and finally upload the trained parameters and complete the run.

The policy. Each row offers a small set of candidate answers (`choices`, or the union of every row's
choices when a row has none) and the policy is a softmax over them:

    logit(c | prompt) = bias[c] + sum over the prompt's distinct words w of weight[w, c]

a bag-of-words linear policy, so what it learns on the training prompts carries over to unseen ones.
Its parameters start at zero (uniform), which is also the reference policy of the KL penalty.

The update (GRPO with one optimisation pass per batch, so the importance ratio is 1):

    A_i  = (r_i - mean_g) / (std_g + 1e-4)            over the valid results of group g (Bessel std)
    loss = -1/N sum_i A_i log pi(a_i | prompt_i) + klBeta * mean_g KL(pi(.|g) || pi_ref(.|g))

with the KL exact over the candidate set, minimised by Adam at `learningRate`. A result with
`valid: false` (the evaluator failed) takes no part: not in the group statistics, not in the loss.

Run it with ASSAY_API_URL, ASSAY_RUN_ID and ASSAY_RUN_TOKEN set (see assay_client.py). Deterministic
given `hyperparams.seed` and the rewards: a retried container replays identical batches and metric points,
which the API recognises as duplicates. SIGTERM/SIGINT end training after the current step; the partial
policy is uploaded and the run completes as failed ("interrupted").
"""

from __future__ import annotations

import json
import math
import random
import re
import signal
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from assay_client import AssayClient, AssayError

JsonObject = Dict[str, Any]
ADAPTER_FORMAT = "assay-cpu-policy/v1"
_WORD = re.compile(r"[a-z0-9']+")
_SEP = "\x1f"


def run_outcome(error: Optional[str], signal_name: Optional[str], stop_requested: bool) -> Tuple[str, str, Optional[str]]:
    """How a training loop ended: (status, stoppedBy, error). An error or a signal fails the run; otherwise it
    succeeded, stopped by the platform's stop request or at the end of its plan."""
    if error:
        return "failed", "error", error
    if signal_name:
        return "failed", "signal", f"interrupted by {signal_name}"
    return "succeeded", ("platform" if stop_requested else "plan"), None


def prompt_text(row: JsonObject) -> str:
    """The prompt of a row: `prompt` (a string or chat messages), else `question` or `input`."""
    for key in ("prompt", "question", "input"):
        value = row.get(key)
        if isinstance(value, str):
            return value
        if isinstance(value, list):
            return "\n".join(str(m.get("content", "")) for m in value if isinstance(m, dict))
    raise ValueError(f"row has no prompt, question or input: {json.dumps(row)[:200]}")


def words_of(text: str) -> List[str]:
    seen: Dict[str, None] = {}
    for w in _WORD.findall(text.lower()):
        seen.setdefault(w, None)
    return list(seen)


def softmax(xs: Sequence[float]) -> List[float]:
    m = max(xs)
    es = [math.exp(x - m) for x in xs]
    s = sum(es)
    return [e / s for e in es]


class Adam:
    """Adam on a sparse dict of parameters (only the touched ones get moments)."""

    def __init__(self, lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> None:
        self.lr, self.b1, self.b2, self.eps = lr, beta1, beta2, eps
        self.t = 0
        self.m: Dict[str, float] = {}
        self.v: Dict[str, float] = {}

    def step(self, params: Dict[str, float], grads: Dict[str, float]) -> None:
        self.t += 1
        c1 = 1 - self.b1**self.t
        c2 = 1 - self.b2**self.t
        for k in grads:
            self.m.setdefault(k, 0.0)
            self.v.setdefault(k, 0.0)
        # Every parameter with a moment moves, as in dense Adam where a zero gradient still decays m.
        for k in self.m:
            g = grads.get(k, 0.0)
            m = self.m[k] = self.b1 * self.m[k] + (1 - self.b1) * g
            v = self.v[k] = self.b2 * self.v[k] + (1 - self.b2) * g * g
            params[k] = params.get(k, 0.0) - self.lr * (m / c1) / (math.sqrt(v / c2) + self.eps)


class BagOfWordsPolicy:
    #: The per-choice bias's feature name in the adapter file (no prompt word can be spelled so).
    BIAS = "<bias>"

    def __init__(self, weights: Optional[Dict[str, float]] = None) -> None:
        self.weights: Dict[str, float] = dict(weights or {})

    @staticmethod
    def keys(words: Sequence[str], choice: str) -> List[str]:
        return [f"{_SEP}bias{_SEP}{choice}"] + [f"{w}{_SEP}{choice}" for w in words]

    def logits(self, words: Sequence[str], choices: Sequence[str]) -> List[float]:
        get = self.weights.get
        return [sum(get(k, 0.0) for k in self.keys(words, c)) for c in choices]

    def to_json(self) -> JsonObject:
        table: Dict[str, Dict[str, float]] = {}
        for k, v in self.weights.items():
            if v == 0.0:
                continue
            feature, choice = k.rsplit(_SEP, 1)
            table.setdefault(self.BIAS if feature.startswith(_SEP) else feature, {})[choice] = round(v, 8)
        return {"features": "distinct lowercase words of the prompt, plus a per-choice 'bias'", "weights": table}


def lr_at(hp: JsonObject, step: int, total: int) -> float:
    """The learning rate of 1-based `step` of `total`: a linear warmup over `warmupRatio` of the steps, then
    `lrScheduler` (constant, linear or cosine decay to 0), as Hugging Face's schedulers compute it."""
    base = float(hp.get("learningRate", 1e-2))
    kind = hp.get("lrScheduler", "constant")
    warmup = math.ceil(float(hp.get("warmupRatio", 0.0)) * total)
    current = step - 1  # Hugging Face counts optimizer steps from 0
    if warmup > 0 and current < warmup:
        return base * current / warmup
    if kind == "constant":
        return base
    progress = (current - warmup) / max(1, total - warmup)
    if kind == "linear":
        return base * max(0.0, 1.0 - progress)
    if kind == "cosine":
        return base * max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))
    raise ValueError(f"unknown lrScheduler {kind!r}")


def kl_and_grad(p: Sequence[float], q: Sequence[float]) -> Tuple[float, List[float]]:
    """KL(p || q) over a finite set and its gradient with respect to p's logits."""
    logs = [math.log(max(pi, 1e-300)) - math.log(max(qi, 1e-300)) for pi, qi in zip(p, q)]
    kl = sum(pi * d for pi, d in zip(p, logs))
    return kl, [pi * (d - kl) for pi, d in zip(p, logs)]


def group_advantages(scores: Sequence[Optional[float]]) -> List[Optional[float]]:
    """GRPO advantages of one group; None where the result was invalid (it takes no part)."""
    valid = [s for s in scores if s is not None]
    if len(valid) < 2:
        return [None if s is None else 0.0 for s in scores]
    mean = sum(valid) / len(valid)
    std = math.sqrt(sum((s - mean) ** 2 for s in valid) / (len(valid) - 1))
    return [None if s is None else (s - mean) / (std + 1e-4) for s in scores]


class Prompt:
    __slots__ = ("row", "words", "choices")

    def __init__(self, row: JsonObject, default_choices: Sequence[str]) -> None:
        self.row = row
        self.words = words_of(prompt_text(row))
        choices = row.get("choices")
        if isinstance(choices, list) and len(choices) >= 2 and all(isinstance(c, str) for c in choices):
            self.choices = list(choices)
        else:
            self.choices = list(default_choices)


def load_prompts(rows: Sequence[JsonObject]) -> List[Prompt]:
    union: Dict[str, None] = {}
    for row in rows:
        for c in row.get("choices") or []:
            if isinstance(c, str):
                union.setdefault(c, None)
    if len(union) < 2:
        raise ValueError(
            "the CPU reference trainer needs candidate answers: give rows a `choices` list of at least two strings"
        )
    return [Prompt(r, list(union)) for r in rows]


class GRPO:
    """One policy and its optimiser; `sample` then `update` per step. Deterministic given the seed."""

    def __init__(self, hyperparams: JsonObject, policy: Optional[BagOfWordsPolicy] = None) -> None:
        self.hp = hyperparams
        self.rng = random.Random(int(hyperparams.get("seed", 0)))
        self.policy = policy or BagOfWordsPolicy()
        self.reference = BagOfWordsPolicy(self.policy.weights)
        self.optimizer = Adam(float(hyperparams.get("learningRate", 1e-2)))
        self.temperature = max(float(hyperparams.get("temperature", 1.0)), 0.05)
        self.group_size = int(hyperparams.get("groupSize", 8))
        self.max_len = int(hyperparams.get("maxCompletionLength", 256))

    def probs(self, prompt: Prompt, policy: Optional[BagOfWordsPolicy] = None) -> List[float]:
        z = (policy or self.policy).logits(prompt.words, prompt.choices)
        return softmax([x / self.temperature for x in z])

    def sample(self, batch: Sequence[Prompt]) -> Tuple[List[JsonObject], List[Tuple[int, int]]]:
        """groupSize completions per prompt; returns the samples and (prompt index, choice index) of each."""
        samples: List[JsonObject] = []
        picks: List[Tuple[int, int]] = []
        for g, prompt in enumerate(batch):
            p = self.probs(prompt)
            for _ in range(self.group_size):
                a = self.rng.choices(range(len(p)), weights=p)[0]
                samples.append({"completion": prompt.choices[a][: self.max_len], "item": prompt.row, "group": g})
                picks.append((g, a))
        return samples, picks

    def advantages(
        self, n_prompts: int, picks: Sequence[Tuple[int, int]], results: Sequence[JsonObject]
    ) -> Tuple[List[Optional[float]], List[Optional[float]], int]:
        """Scores (None when invalid), GRPO advantages (None when invalid) and the zero-variance group count."""
        scores: List[Optional[float]] = [
            float(r["score"]) if r.get("valid") is True and isinstance(r.get("score"), (int, float)) else None
            for r in results
        ]
        advantages: List[Optional[float]] = [None] * len(scores)
        zero_std = 0
        for g in range(n_prompts):
            idx = [i for i, (gi, _) in enumerate(picks) if gi == g]
            valid = [scores[i] for i in idx if scores[i] is not None]
            if len(valid) >= 2 and max(valid) == min(valid):
                zero_std += 1
            for i, a in zip(idx, group_advantages([scores[i] for i in idx])):
                advantages[i] = a
        return scores, advantages, zero_std

    def objective(
        self,
        batch: Sequence[Prompt],
        picks: Sequence[Tuple[int, int]],
        advantages: Sequence[Optional[float]],
        policy: Optional[BagOfWordsPolicy] = None,
    ) -> Tuple[float, float, Dict[str, float]]:
        """The GRPO loss at `policy` (default: the current one), its mean KL term, and its gradient."""
        beta = float(self.hp.get("klBeta", 0.0))
        policy = policy or self.policy
        n_valid = sum(1 for a in advantages if a is not None)
        probs = [self.probs(p, policy) for p in batch]
        ref_probs = [self.probs(p, self.reference) for p in batch]
        # d loss / d logit, per prompt and choice (the temperature divides every logit).
        dz: List[List[float]] = [[0.0] * len(p.choices) for p in batch]
        pg_loss = 0.0
        for (g, a), adv in zip(picks, advantages):
            if adv is None:
                continue
            p = probs[g]
            pg_loss -= adv * math.log(max(p[a], 1e-300)) / n_valid
            for c in range(len(p)):
                dz[g][c] -= adv * ((1.0 if c == a else 0.0) - p[c]) / n_valid / self.temperature
        kls = []
        for g in range(len(batch)):
            kl, grad = kl_and_grad(probs[g], ref_probs[g])
            kls.append(kl)
            for c in range(len(grad)):
                dz[g][c] += beta * grad[c] / len(batch) / self.temperature
        kl_mean = sum(kls) / len(kls) if kls else 0.0
        grads: Dict[str, float] = {}
        for g, prompt in enumerate(batch):
            for c, choice in enumerate(prompt.choices):
                d = dz[g][c]
                if d == 0.0:
                    continue
                for k in BagOfWordsPolicy.keys(prompt.words, choice):
                    grads[k] = grads.get(k, 0.0) + d
        return pg_loss + beta * kl_mean, kl_mean, grads

    def update(
        self,
        batch: Sequence[Prompt],
        picks: Sequence[Tuple[int, int]],
        results: Sequence[JsonObject],
        step: Optional[int] = None,
        total: Optional[int] = None,
    ) -> JsonObject:
        """One GRPO step from the scored samples; answers the step's KPIs (from the trainer's side). With
        `step` and `total` the learning rate follows the run's schedule."""
        if step is not None and total is not None:
            self.optimizer.lr = lr_at(self.hp, step, total)
        scores, advantages, zero_std = self.advantages(len(batch), picks, results)
        probs = [self.probs(p) for p in batch]
        loss, kl_mean, grads = self.objective(batch, picks, advantages)
        grad_norm = math.sqrt(sum(v * v for v in grads.values()))
        self.optimizer.step(self.policy.weights, grads)
        valid_scores = [s for s in scores if s is not None]
        entropy = sum(-sum(x * math.log(max(x, 1e-300)) for x in p) for p in probs) / len(probs)
        kpis: JsonObject = {
            "loss": loss,
            "kl": kl_mean,
            "entropy": entropy,
            "grad_norm": grad_norm,
            "learning_rate": self.optimizer.lr,
            "train/valid_fraction": len(valid_scores) / len(scores) if scores else 0.0,
            "train/frac_reward_zero_std": zero_std / len(batch) if batch else 0.0,
        }
        if valid_scores:
            mean = sum(valid_scores) / len(valid_scores)
            kpis["train/reward_mean"] = mean
            kpis["train/reward_std"] = math.sqrt(sum((s - mean) ** 2 for s in valid_scores) / len(valid_scores))
        return kpis

    def greedy_accuracy(self, prompts: Sequence[Prompt], score: Callable[[Prompt, str], float]) -> float:
        """Mean score of the most likely answer per prompt, for offline checks."""
        total = 0.0
        for p in prompts:
            probs = self.probs(p)
            total += score(p, p.choices[max(range(len(probs)), key=probs.__getitem__)])
        return total / len(prompts) if prompts else 0.0


def schedule(n_rows: int, hp: JsonObject, rng: random.Random) -> List[List[int]]:
    """Row indices per step: each epoch a fresh shuffle cut into batches, up to maxSteps steps."""
    batch_size = max(1, min(int(hp.get("batchSize", 16)), n_rows))
    steps: List[List[int]] = []
    for _ in range(int(hp.get("epochs", 1))):
        order = list(range(n_rows))
        rng.shuffle(order)
        for i in range(0, n_rows - batch_size + 1, batch_size):
            steps.append(order[i : i + batch_size])
            if len(steps) >= int(hp.get("maxSteps", 500)):
                return steps
    return steps


def log(message: str) -> None:
    print(message, flush=True)


class Interrupted:
    """Latches SIGTERM/SIGINT so that training ends after the current step."""

    def __init__(self) -> None:
        self.signal: Optional[str] = None

    def install(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, _frame: Any) -> None:
        if self.signal is not None:
            raise KeyboardInterrupt  # a second signal: stop now
        self.signal = signal.Signals(signum).name
        log(f"received {self.signal}: finishing the current step")


def train(
    client: AssayClient,
    interrupted: Optional[Interrupted] = None,
    heartbeat_every: float = 10.0,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Trains the run behind `client` to its end and completes it. Returns a process exit code."""
    interrupted = interrupted or Interrupted()
    started = clock()
    step = 0
    last_kpis: JsonObject = {}
    spec: JsonObject = {}
    trainer: Optional[GRPO] = None
    error: Optional[str] = None
    token_refused = False
    try:
        spec = client.spec()
        hp = spec["hyperparams"]
        client.heartbeat(step=0, message=f"cpu trainer starting on {spec.get('baseModel')}")
        prompts = load_prompts(list(client.rows("train", spec)))
        warm = spec.get("warmStart")
        start_policy = None
        if warm:
            from cpu_pref import policy_from_adapter  # noqa: PLC0415 (cpu_pref imports this module)

            start_policy = policy_from_adapter(client.get_json(warm["download"]))
            log(f"warm start from {warm.get('run')}")
        trainer = GRPO(hp, start_policy)
        plan = schedule(len(prompts), hp, trainer.rng)
        log(
            f"run {client.run_id}: {len(prompts)} training prompts, {len(plan)} steps planned "
            f"(batch {hp.get('batchSize')} x group {hp.get('groupSize')}, lr {hp.get('learningRate')})"
        )
        last_beat = clock()
        for step, indices in enumerate(plan, start=1):
            t0 = clock()
            batch = [prompts[i] for i in indices]
            samples, picks = trainer.sample(batch)
            answer = client.rewards(step, samples)
            kpis = trainer.update(batch, picks, answer["results"], step, len(plan))
            kpis["step_time_s"] = clock() - t0
            last_kpis = kpis
            client.metrics([{"name": k, "step": step, "value": float(v)} for k, v in sorted(kpis.items())])
            if clock() - last_beat >= heartbeat_every:
                client.heartbeat(step=step)
                last_beat = clock()
            mean = kpis.get("train/reward_mean")
            log(
                f"step {step:>4}  reward {'-' if mean is None else format(mean, '.3f'):>6}  "
                f"loss {kpis['loss']:+.4f}  kl {kpis['kl']:.4f}"
            )
            if client.stop_requested or interrupted.signal:
                break
    except (AssayError, ValueError, KeyError, TypeError, KeyboardInterrupt) as e:
        error = f"{type(e).__name__}: {e}"
        # A refused token mid-run means the run ended elsewhere (cancelled, or failed by reconciliation):
        # nothing more can be stored, but complete still answers with how it ended.
        token_refused = isinstance(e, AssayError) and e.status == 401
        log(f"training {'ended' if token_refused else 'failed'} at step {step}: {error}")
    status, stopped_by, error = run_outcome(error, interrupted.signal, client.stop_requested)
    summary: JsonObject = {
        "trainer": "cpu-reference",
        "steps": step,
        "stoppedBy": stopped_by,
        "wallSeconds": round(clock() - started, 3),
        "final": {k: round(v, 6) for k, v in last_kpis.items()},
    }
    if client.stop_reason:
        summary["stopReason"] = client.stop_reason
    artifacts = []
    if trainer is not None and not token_refused:
        adapter = {
            "format": ADAPTER_FORMAT,
            "runId": client.run_id,
            "baseModel": spec.get("baseModel"),
            "steps": step,
            "hyperparams": spec.get("hyperparams"),
            "policy": trainer.policy.to_json(),
        }
        try:
            stored = client.upload_artifact("adapter.json", json.dumps(adapter, indent=1).encode("utf-8"))
            artifacts.append({"kind": stored.get("kind") or "adapter", "uri": stored["uri"]})
        except AssayError as e:
            log(f"could not upload the adapter: {e}")
    try:
        ended = client.complete(status, artifacts=artifacts, summary=summary, error=error)
    except AssayError as e:
        log(f"could not complete the run: {e}")
        return 1
    final = (ended or {}).get("status", status)
    log(f"run {client.run_id} {final} after {step} steps ({client.stop_reason or stopped_by})")
    # A run cancelled from outside ended as asked: that is not this trainer's failure.
    return 0 if status == "succeeded" or final == "cancelled" else 1


def run(client: AssayClient, interrupted: Optional[Interrupted] = None) -> int:
    """Runs whatever the run's kind asks: GRPO for rft, cpu_pref's trainers for sft/dpo/kto, its evaluator for eval."""
    try:
        spec = client.spec()
    except AssayError as e:
        log(f"cannot read the run's spec: {e}")
        return 1
    kind = spec.get("kind", "rft")
    if kind == "rft":
        return train(client, interrupted)
    import cpu_pref  # noqa: PLC0415

    if kind == "eval":
        return cpu_pref.evaluate(client, spec, interrupted)
    if kind in ("sft", "dpo", "kto"):
        return cpu_pref.train_offline(client, spec, interrupted)
    client.complete("failed", error=f"the CPU reference has no trainer for kind {kind!r}")
    return 1


def main() -> int:
    interrupted = Interrupted()
    interrupted.install()
    try:
        client = AssayClient.from_env()
    except ValueError as e:
        print(f"cpu_trainer: {e}", file=sys.stderr)
        return 2
    return run(client, interrupted)


if __name__ == "__main__":
    sys.exit(main())
