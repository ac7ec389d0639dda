"""CPU reference trainers for SFT, DPO and KTO, and the CPU reference evaluator, on the GRPO reference's policy.

The policy is cpu_trainer's bag-of-words softmax over a row's candidate answers (`choices`, or the union of
every target the dataset names). What each trainer minimises, per batch, with Adam and the run's learning-rate
schedule (constant, linear or cosine after a linear warmup, as Hugging Face's schedulers do):

  SFT   -log pi(y | x)                                                  (maximum likelihood of the target)
  DPO   h = [log pi(c|x) - log ref(c|x)] - [log pi(r|x) - log ref(r|x)] over (prompt, chosen, rejected)
        sigmoid: -log sigmoid(beta h)    hinge: max(0, 1 - beta h)    ipo: (h - 1/(2 beta))^2
  KTO   z0 = mean KL(pi(.|x) || ref(.|x)) over the batch (no gradient), r = log pi(y|x) - log ref(y|x)
        desirable: w_d (1 - sigmoid(beta (r - z0)))   undesirable: w_u (1 - sigmoid(beta (z0 - r)))

`ref` is the frozen policy the run started from: zero weights (uniform), or the warm-start run's adapter,
which is downloaded over the run's token and loaded before the first step. KPI names follow TRL's logs
(loss, learning_rate, grad_norm, rewards/chosen, rewards/rejected, rewards/accuracies, rewards/margins,
logps/chosen, logps/rejected, kl, mean_token_accuracy).

The evaluator answers every item of a split `samplesPerItem` times (greedy at temperature 0), posts the
answers to POST /v1/runs/{id}/rewards with each item's id, and completes with the mean.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from assay_client import AssayClient, AssayError
from cpu_trainer import (
    ADAPTER_FORMAT,
    Adam,
    BagOfWordsPolicy,
    Interrupted,
    log,
    lr_at,
    prompt_text,
    run_outcome,
    schedule,
    softmax,
    words_of,
)

JsonObject = Dict[str, Any]


def policy_from_adapter(doc: JsonObject) -> BagOfWordsPolicy:
    """The policy stored in an adapter artifact (cpu_trainer's `adapter.json`)."""
    if doc.get("format") != ADAPTER_FORMAT:
        raise ValueError(f"not a CPU policy adapter (format {doc.get('format')!r}, expected {ADAPTER_FORMAT})")
    weights: Dict[str, float] = {}
    for feature, by_choice in (doc.get("policy", {}).get("weights") or {}).items():
        for choice, value in by_choice.items():
            if feature == BagOfWordsPolicy.BIAS:
                weights[BagOfWordsPolicy.keys([], choice)[0]] = float(value)
            else:
                weights[BagOfWordsPolicy.keys([feature], choice)[1]] = float(value)
    return BagOfWordsPolicy(weights)


def adapter_choices(policy: BagOfWordsPolicy) -> List[str]:
    seen: Dict[str, None] = {}
    for k in policy.weights:
        seen.setdefault(k.rsplit("\x1f", 1)[1], None)
    return list(seen)


def sft_target(row: JsonObject) -> str:
    if isinstance(row.get("completion"), str):
        return row["completion"]
    messages = row.get("messages")
    if isinstance(messages, list) and messages and isinstance(messages[-1], dict):
        if messages[-1].get("role") == "assistant":
            return str(messages[-1].get("content", ""))
    raise ValueError(f"an sft row needs a completion or messages ending with the assistant: {json.dumps(row)[:200]}")


def sft_prompt(row: JsonObject) -> str:
    if any(k in row for k in ("prompt", "question", "input")):
        return prompt_text(row)
    messages = row.get("messages") or []
    return "\n".join(str(m.get("content", "")) for m in messages[:-1] if isinstance(m, dict))


def targets_of(kind: str, row: JsonObject) -> List[str]:
    if kind == "sft":
        return [sft_target(row)]
    if kind == "dpo":
        return [str(row["chosen"]), str(row["rejected"])]
    if kind == "kto":
        return [str(row["completion"])]
    return []


class Example:
    """One training row: the prompt's words, its candidate set, and the indices the loss needs."""

    __slots__ = ("row", "words", "choices", "target", "chosen", "rejected", "label")

    def __init__(self, kind: str, row: JsonObject, default_choices: Sequence[str]) -> None:
        self.row = row
        self.words = words_of(sft_prompt(row) if kind == "sft" else prompt_text(row))
        own = row.get("choices")
        choices = list(own) if isinstance(own, list) and len(own) >= 2 else list(default_choices)
        for t in targets_of(kind, row):
            if t not in choices:
                choices.append(t)
        self.choices = choices
        self.target = self.chosen = self.rejected = -1
        self.label = True
        if kind == "sft":
            self.target = choices.index(sft_target(row))
        elif kind == "dpo":
            self.chosen, self.rejected = choices.index(str(row["chosen"])), choices.index(str(row["rejected"]))
        elif kind == "kto":
            self.target = choices.index(str(row["completion"]))
            if not isinstance(row.get("label"), bool):
                raise ValueError(f"a kto row needs label true or false: {json.dumps(row)[:200]}")
            self.label = row["label"]


def load_examples(kind: str, rows: Sequence[JsonObject], extra_choices: Sequence[str] = ()) -> List[Example]:
    union: Dict[str, None] = {}
    for c in extra_choices:
        union.setdefault(c, None)
    for row in rows:
        for c in row.get("choices") or []:
            if isinstance(c, str):
                union.setdefault(c, None)
        for t in targets_of(kind, row):
            union.setdefault(t, None)
    if len(union) < 2:
        raise ValueError("the CPU reference trainer needs at least two distinct candidate answers in the dataset")
    return [Example(kind, r, list(union)) for r in rows]


def _log_softmax(z: Sequence[float]) -> List[float]:
    m = max(z)
    s = math.log(sum(math.exp(x - m) for x in z)) + m
    return [x - s for x in z]


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


class OfflineTrainer:
    """SFT, DPO or KTO on one policy: `objective` gives the loss, KPIs and gradient; `step` applies Adam."""

    def __init__(self, kind: str, hp: JsonObject, policy: Optional[BagOfWordsPolicy] = None) -> None:
        if kind not in ("sft", "dpo", "kto"):
            raise ValueError(f"no offline trainer for kind {kind!r}")
        self.kind, self.hp = kind, hp
        self.rng = random.Random(int(hp.get("seed", 0)))
        self.policy = policy or BagOfWordsPolicy()
        self.reference = BagOfWordsPolicy(self.policy.weights)  # frozen copy of the starting point
        self.optimizer = Adam(float(hp.get("learningRate", 1e-2)))
        self.beta = float(hp.get("beta", 0.1))

    def logprobs(self, ex: Example, policy: Optional[BagOfWordsPolicy] = None) -> List[float]:
        return _log_softmax((policy or self.policy).logits(ex.words, ex.choices))

    def objective(
        self, batch: Sequence[Example], policy: Optional[BagOfWordsPolicy] = None, kl: Optional[float] = None
    ) -> Tuple[float, JsonObject, Dict[str, float]]:
        """The loss at `policy` (default: the current one), its KPIs and its gradient. For KTO, `kl` fixes the
        baseline z0 instead of estimating it from the batch (it is a constant of the gradient either way)."""
        policy = policy or self.policy
        n = len(batch)
        dz: List[List[float]] = []
        loss = 0.0
        kpi: Dict[str, List[float]] = {}
        add = lambda k, v: kpi.setdefault(k, []).append(v)  # noqa: E731
        logp = [self.logprobs(ex, policy) for ex in batch]
        ref = [self.logprobs(ex, self.reference) for ex in batch]
        z0 = 0.0
        if self.kind == "kto":
            kls = [sum(math.exp(lp) * (lp - lr) for lp, lr in zip(logp[i], ref[i])) for i in range(n)]
            z0 = max(0.0, sum(kls) / n) if kl is None else kl
            kpi["kl"] = [z0]
        for i, ex in enumerate(batch):
            p = [math.exp(x) for x in logp[i]]
            g = [0.0] * len(p)
            if self.kind == "sft":
                y = ex.target
                loss -= logp[i][y] / n
                for k in range(len(p)):
                    g[k] = (p[k] - (1.0 if k == y else 0.0)) / n
                add("mean_token_accuracy", 1.0 if max(range(len(p)), key=p.__getitem__) == y else 0.0)
            elif self.kind == "dpo":
                c, r = ex.chosen, ex.rejected
                rc, rr = logp[i][c] - ref[i][c], logp[i][r] - ref[i][r]
                h = rc - rr
                lt = self.hp.get("lossType", "sigmoid")
                if lt == "sigmoid":
                    loss += -math.log(max(_sigmoid(self.beta * h), 1e-300)) / n
                    dh = -self.beta * _sigmoid(-self.beta * h)
                elif lt == "hinge":
                    loss += max(0.0, 1.0 - self.beta * h) / n
                    dh = -self.beta if self.beta * h < 1.0 else 0.0
                elif lt == "ipo":
                    loss += (h - 1.0 / (2.0 * self.beta)) ** 2 / n
                    dh = 2.0 * (h - 1.0 / (2.0 * self.beta))
                else:
                    raise ValueError(f"unknown DPO lossType {lt!r}")
                # log pi(c) - log pi(r) = z_c - z_r over one softmax: only the two logits move.
                g[c] += dh / n
                g[r] -= dh / n
                add("rewards/chosen", self.beta * rc)
                add("rewards/rejected", self.beta * rr)
                add("rewards/margins", self.beta * h)
                add("rewards/accuracies", 1.0 if h > 0 else 0.0)
                add("logps/chosen", logp[i][c])
                add("logps/rejected", logp[i][r])
            else:
                y = ex.target
                ratio = logp[i][y] - ref[i][y]
                if ex.label:
                    w = float(self.hp.get("desirableWeight", 1.0))
                    s = _sigmoid(self.beta * (ratio - z0))
                    loss += w * (1.0 - s) / n
                    dr = -w * self.beta * s * (1.0 - s)
                    add("rewards/chosen", self.beta * ratio)
                    add("logps/chosen", logp[i][y])
                else:
                    w = float(self.hp.get("undesirableWeight", 1.0))
                    s = _sigmoid(self.beta * (z0 - ratio))
                    loss += w * (1.0 - s) / n
                    dr = w * self.beta * s * (1.0 - s)
                    add("rewards/rejected", self.beta * ratio)
                    add("logps/rejected", logp[i][y])
                for k in range(len(p)):
                    g[k] = dr * ((1.0 if k == y else 0.0) - p[k]) / n
            dz.append(g)
        grads: Dict[str, float] = {}
        for ex, g in zip(batch, dz):
            for c, choice in enumerate(ex.choices):
                if g[c] == 0.0:
                    continue
                for key in BagOfWordsPolicy.keys(ex.words, choice):
                    grads[key] = grads.get(key, 0.0) + g[c]
        kpis: JsonObject = {"loss": loss}
        for k, vs in kpi.items():
            kpis[k] = sum(vs) / len(vs)
        return loss, kpis, grads

    def step(self, batch: Sequence[Example], step: int, total: int) -> JsonObject:
        self.optimizer.lr = lr_at(self.hp, step, total)
        _, kpis, grads = self.objective(batch)
        kpis["grad_norm"] = math.sqrt(sum(v * v for v in grads.values()))
        kpis["learning_rate"] = self.optimizer.lr
        self.optimizer.step(self.policy.weights, grads)
        return kpis

    def probability(self, ex: Example, index: int) -> float:
        return math.exp(self.logprobs(ex)[index])


def item_id(row: JsonObject) -> str:
    """The row's own `id`, else a hash of its canonical JSON: the same row always has the same id."""
    rid = row.get("id")
    if isinstance(rid, (str, int)) and not isinstance(rid, bool) and str(rid):
        return str(rid)[:200]
    canonical = json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "h:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:24]


def answer(
    policy: BagOfWordsPolicy, words: Sequence[str], choices: Sequence[str], temperature: float, rng: random.Random
) -> str:
    z = policy.logits(words, choices)
    if temperature <= 0:
        return choices[max(range(len(z)), key=z.__getitem__)]
    p = softmax([x / temperature for x in z])
    return choices[rng.choices(range(len(p)), weights=p)[0]]


def _starting_policy(client: AssayClient, spec: JsonObject) -> Tuple[Optional[BagOfWordsPolicy], Optional[str]]:
    warm = spec.get("warmStart")
    if not warm:
        return None, None
    doc = client.get_json(warm["download"])
    return policy_from_adapter(doc), warm.get("run")


def _finish(
    client: AssayClient,
    spec: JsonObject,
    status: str,
    summary: JsonObject,
    error: Optional[str],
    policy: Optional[BagOfWordsPolicy],
    token_refused: bool,
    steps: int,
) -> int:
    artifacts = []
    if policy is not None and not token_refused:
        adapter = {
            "format": ADAPTER_FORMAT,
            "runId": client.run_id,
            "kind": spec.get("kind"),
            "baseModel": spec.get("baseModel"),
            "warmStart": (spec.get("warmStart") or {}).get("run"),
            "steps": steps,
            "hyperparams": spec.get("hyperparams"),
            "policy": policy.to_json(),
        }
        try:
            stored = client.upload_artifact("adapter.json", json.dumps(adapter, indent=1).encode("utf-8"))
            artifacts.append({"kind": "adapter", "uri": stored["uri"]})
        except AssayError as e:
            log(f"could not upload the adapter: {e}")
    try:
        ended = client.complete(status, artifacts=artifacts, summary=summary, error=error)
    except AssayError as e:
        log(f"could not complete the run: {e}")
        return 1
    final = (ended or {}).get("status", status)
    log(f"run {client.run_id} {final} after {steps} steps ({client.stop_reason or summary.get('stoppedBy')})")
    return 0 if status == "succeeded" or final == "cancelled" else 1


def train_offline(
    client: AssayClient,
    spec: JsonObject,
    interrupted: Optional[Interrupted] = None,
    heartbeat_every: float = 10.0,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Runs an sft, dpo or kto run to its end and completes it. Returns a process exit code."""
    interrupted = interrupted or Interrupted()
    started = clock()
    kind = spec["kind"]
    hp = spec["hyperparams"]
    step = 0
    last: JsonObject = {}
    trainer: Optional[OfflineTrainer] = None
    error: Optional[str] = None
    token_refused = False
    warm_run: Optional[str] = None
    try:
        client.heartbeat(step=0, message=f"cpu {kind} trainer starting on {spec.get('baseModel')}")
        policy, warm_run = _starting_policy(client, spec)
        rows = list(client.rows("train", spec))
        examples = load_examples(kind, rows, adapter_choices(policy) if policy else ())
        trainer = OfflineTrainer(kind, hp, policy)
        plan = schedule(len(examples), hp, trainer.rng)
        log(
            f"run {client.run_id}: {kind} on {len(examples)} rows, {len(plan)} steps "
            f"(batch {hp.get('batchSize')}, lr {hp.get('learningRate')} {hp.get('lrScheduler', 'constant')}"
            f"{f', warm start {warm_run}' if warm_run else ''})"
        )
        last_beat = clock()
        for step, indices in enumerate(plan, start=1):
            t0 = clock()
            kpis = trainer.step([examples[i] for i in indices], step, len(plan))
            kpis["step_time_s"] = clock() - t0
            last = kpis
            client.metrics([{"name": k, "step": step, "value": float(v)} for k, v in sorted(kpis.items())])
            if clock() - last_beat >= heartbeat_every:
                client.heartbeat(step=step)
                last_beat = clock()
            if step == 1 or step % 10 == 0 or step == len(plan):
                log(f"step {step:>4}  loss {kpis['loss']:.4f}  lr {kpis['learning_rate']:.5f}")
            if client.stop_requested or interrupted.signal:
                break
    except (AssayError, ValueError, KeyError, TypeError, KeyboardInterrupt) as e:
        error = f"{type(e).__name__}: {e}"
        token_refused = isinstance(e, AssayError) and e.status == 401
        log(f"training {'ended' if token_refused else 'failed'} at step {step}: {error}")
    status, stopped_by, error = run_outcome(error, interrupted.signal, client.stop_requested)
    summary: JsonObject = {
        "trainer": f"cpu-reference-{kind}",
        "steps": step,
        "stoppedBy": stopped_by,
        "warmStart": warm_run,
        "wallSeconds": round(clock() - started, 3),
        "final": {k: round(v, 6) for k, v in last.items()},
    }
    if client.stop_reason:
        summary["stopReason"] = client.stop_reason
    return _finish(client, spec, status, summary, error, trainer.policy if trainer else None, token_refused, step)


def evaluate(client: AssayClient, spec: JsonObject, interrupted: Optional[Interrupted] = None) -> int:
    """Answers every item of the eval split with the policy (or the adapter's) and scores them by item id."""
    interrupted = interrupted or Interrupted()
    hp = spec.get("hyperparams") or {}
    ev = spec.get("eval") or {"split": "holdout", "samplesPerItem": 1}
    rng = random.Random(int(hp.get("seed", 0)))
    temperature = float(hp.get("temperature", 0.0))
    per_item = int(ev.get("samplesPerItem", 1))
    batch_items = max(1, int(hp.get("batchSize", 50)))
    max_len = int(hp.get("maxCompletionLength", 256))
    error: Optional[str] = None
    token_refused = False
    scores: List[float] = []
    items = 0
    step = 0
    try:
        client.heartbeat(step=0, message=f"cpu evaluator starting on the {ev['split']} split")
        policy, adapter_run = _starting_policy(client, spec)
        policy = policy or BagOfWordsPolicy()
        rows = list(client.rows(ev["split"], spec))
        union: Dict[str, None] = {}
        for r in rows:
            for c in r.get("choices") or []:
                if isinstance(c, str):
                    union.setdefault(c, None)
        for c in adapter_choices(policy):
            union.setdefault(c, None)
        if len(union) < 2:
            raise ValueError("nothing to answer with: the rows have no choices and the model knows no answers")
        log(f"run {client.run_id}: evaluating {adapter_run or 'the base policy'} on {len(rows)} {ev['split']} items")
        for start in range(0, len(rows), batch_items):
            step += 1
            samples = []
            for row in rows[start : start + batch_items]:
                own = row.get("choices")
                choices = list(own) if isinstance(own, list) and len(own) >= 2 else list(union)
                words = words_of(prompt_text(row))
                for _ in range(per_item):
                    text = answer(policy, words, choices, temperature, rng)[:max_len]
                    samples.append({"completion": text, "item": row, "itemId": item_id(row)})
            res = client.rewards(step, samples)
            items += len(rows[start : start + batch_items])
            scores += [float(r["score"]) for r in res["results"] if r.get("valid") is True]
            client.heartbeat(step=step)
            if client.stop_requested or interrupted.signal:
                break
    except (AssayError, ValueError, KeyError, TypeError, KeyboardInterrupt) as e:
        error = f"{type(e).__name__}: {e}"
        token_refused = isinstance(e, AssayError) and e.status == 401
        log(f"evaluation failed after {items} items: {error}")
    if error:
        status = "failed"
    elif interrupted.signal:
        status, error = "failed", f"interrupted by {interrupted.signal}"
    elif client.stop_requested:
        status, error = "failed", f"stopped before every item was scored: {client.stop_reason}"
    else:
        status = "succeeded"
    mean = sum(scores) / len(scores) if scores else None
    summary = {"trainer": "cpu-reference-eval", "items": items, "samplesPerItem": per_item, "mean": mean}
    if token_refused:
        return 1
    try:
        client.complete(status, summary=summary, error=error)
    except AssayError as e:
        log(f"could not complete the run: {e}")
        return 1
    log(f"run {client.run_id} {status}: {items} items, mean {mean if mean is None else round(mean, 4)}")
    return 0 if status == "succeeded" else 1
