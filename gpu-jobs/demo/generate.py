#!/usr/bin/env python3
"""Writes gpu-jobs/demo/topics.jsonl: the demo dataset for the CPU reference trainer.

Each row asks which topic a short message is about, in the `<think>…</think><answer>…</answer>` shape that
the `format-answer` reward (the demo grader, grader.json) checks, and offers six candidate completions: the
four topics well formatted, and two badly formatted ones (no tags; no <think>) that score 0 even when the
topic is right. A message mixes a few words of its topic with everyday filler, so a policy has to learn the
format and which words point where: a bag-of-words policy starts near 1/6 and can reach ~1.0, and what it
learns carries over to the holdout split because the vocabulary is shared. Deterministic: the same seed always
writes the same file.

    python3 gpu-jobs/demo/generate.py            # rewrites topics.jsonl beside this script
"""

from __future__ import annotations

import json
import os
import random

TOPICS = {
    "sports": "goal match referee stadium striker tournament coach league penalty dribble sprint medal".split(),
    "cooking": "oven recipe simmer garlic dough whisk skillet bake flavor chop roast spice".split(),
    "weather": "rain forecast humid breeze storm sunny thunder drizzle frost cloudy gust umbrella".split(),
    "music": "guitar chorus melody concert drummer album lyrics tempo rhythm piano band violin".split(),
}
FILLER = (
    "today really quite later maybe again almost always never friend people morning evening yesterday "
    "weekend honestly pretty lots little big new old small everyone somebody everything"
).split()
ROWS = 200
SEED = 7


def candidates(names: list) -> list:
    formatted = [f"<think>The message uses {name} words.</think><answer>{name}</answer>" for name in names]
    # Right topics, wrong shapes: format-answer scores both 0.
    return formatted + [names[0], f"<answer>{names[-1]}</answer>"]


def main() -> None:
    rng = random.Random(SEED)
    names = sorted(TOPICS)
    choices = candidates(names)
    lines = []
    for i in range(ROWS):
        topic = names[i % len(names)]
        words = rng.sample(TOPICS[topic], rng.randint(2, 3)) + rng.sample(FILLER, rng.randint(3, 5))
        rng.shuffle(words)
        message = " ".join(words)
        row = {
            "id": f"topic-{i:03d}",
            "prompt": (
                f'Which topic is this message about: {", ".join(names)}? "{message}" '
                "Think in <think></think>, then give the topic in <answer></answer>."
            ),
            "choices": choices,
            "answer": topic,
        }
        lines.append(json.dumps(row, separators=(",", ":")))
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "topics.jsonl")
    with open(out, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {len(lines)} rows to {out}")


if __name__ == "__main__":
    main()
