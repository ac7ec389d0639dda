#!/usr/bin/python3
"""Builds the compact WordNet table that METEOR's synonym stage reads in the Worker.

Reproduces exactly what NLTK's `wordnet.synsets(word)` + `lemma.name()` give METEOR
(nltk.translate.meteor_score._enum_wordnetsyn_match), for every word without "_":

  * the index: for each lowercased lemma key, the parts of speech it is indexed under and the synsets
    it points to (morphy needs the presence, the synonym stage the synsets);
  * for each synset, its single-word lowercase lemma names (the only names METEOR can match, since
    its reference words are lowercased Porter stems);
  * morphy's exception lists (noun.exc, verb.exc, adj.exc, adv.exc).

Synsets without any such name are dropped (they can add no synonym); keys still keep their index
presence, which changes what morphy returns. Keys containing "_" (multi-word lemmas) are left out
to keep the table small: a token containing "_" gets no WordNet synonyms here, where NLTK could find
some. That is the only difference from NLTK, and the test vectors check the rest.

Needs Debian's python3-nltk and wordnet-base (WordNet 3.0, the same data as nltk_data's wordnet):
    apt-get install -y python3-nltk wordnet-base
    /usr/bin/python3 scripts/gen-wordnet-synonyms.py
Writes rewards/metrics/wordnet/wordnet.bin (generated; do not edit), which the Worker imports as data
and reads in place, without parsing.
"""

import gzip
import os
import re
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "rewards", "metrics", "wordnet")
WORDNET_DIR = "/usr/share/wordnet"
POS = ["n", "v", "a", "r"]
# "AWN1" read as a little-endian u32, and the layout version rewards/metrics/wordnet/table.ts expects.
MAGIC = 0x314E5741
VERSION = 1
CAPITALISED_ONLY = 1 << 31


def nltk_data_dir():
    """An nltk_data tree over Debian's WordNet files. Debian lacks `lexnames`; its man page has the table."""
    root = tempfile.mkdtemp(prefix="nltk_data_")
    target = os.path.join(root, "corpora", "wordnet")
    os.makedirs(target)
    for name in os.listdir(WORDNET_DIR):
        os.symlink(os.path.join(WORDNET_DIR, name), os.path.join(target, name))
    man = subprocess.run(
        ["zcat", "/usr/share/man/man5/lexnames.5WN.gz"], check=True, capture_output=True, text=True
    ).stdout
    lines = []
    for m in re.finditer(r"^(\d\d)\t([a-z]+\.[A-Za-z]+)", man, re.M):
        kind = m.group(2).split(".")[0]
        lines.append(f"{m.group(1)}\t{m.group(2)}\t{ {'noun': 1, 'verb': 2, 'adj': 3, 'adv': 4}[kind] }")
    assert len(lines) == 45, len(lines)
    with open(os.path.join(target, "lexnames"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return root


def main():
    os.environ["NLTK_DATA"] = nltk_data_dir()
    from nltk.corpus import wordnet as wn

    assert wn.get_version() == "3.0"
    index = wn._lemma_pos_offset_map

    # A key points to exactly the synsets whose lemma names lowercase to it (checked below), so one
    # relation, synset -> member keys, serves both morphy's index and the synonym stage.
    synsets = []
    for s in wn.all_synsets():
        names = {l.name() for l in s.lemmas() if "_" not in l.name()}
        if any(n == n.lower() for n in names):
            synsets.append((s, names))

    keys = sorted(k for k in index if "_" not in k)
    # Sorted by code point, which is also the order of their UTF-8 bytes: the reader's binary search.
    word_id = {w: i for i, w in enumerate(keys)}
    kept = {(("a" if s.pos() in ("a", "s") else s.pos()), s.offset()) for s, _ in synsets}
    derived = {}
    for s, names in synsets:
        p = "a" if s.pos() in ("a", "s") else s.pos()
        for n in names:
            derived.setdefault((n.lower(), p), set()).add(s.offset())
    for k in keys:
        for p in POS:
            want = {off for off in index[k].get(p, []) if (p, off) in kept}
            assert want == derived.get((k, p), set()), (k, p)

    # Per synset, its member keys; a key that is there only as a capitalised name finds the synset but
    # is never a synonym METEOR can match (flagged with the top bit).
    members = []
    synset_pos = []
    for s, names in synsets:
        p = "a" if s.pos() in ("a", "s") else s.pos()
        synset_pos.append(POS.index(p))
        found = {}
        for n in names:
            found[n.lower()] = found.get(n.lower(), False) or n == n.lower()
        members.append(sorted(word_id[k] | (0 if ok else CAPITALISED_ONLY) for k, ok in found.items()))

    exceptions = []
    for p in POS:
        for form, bases in wn._exception_map[p].items():
            if "_" not in form:
                exceptions.append(" ".join([p + form] + list(bases)))
    exceptions.sort(key=lambda line: line.split(" ")[0].encode())

    data = encode(keys, index, synset_pos, members, exceptions)
    for old in os.listdir(OUT_DIR):
        if old.startswith("data-") and old.endswith(".ts"):
            os.remove(os.path.join(OUT_DIR, old))
    with open(os.path.join(OUT_DIR, "wordnet.bin"), "wb") as f:
        f.write(data)
    print(
        f"keys {len(keys)}, synsets {len(synsets)}, {len(data)} bytes, gzip {len(gzip.compress(data, 9))} bytes",
        file=sys.stderr,
    )


def encode(keys, index, synset_pos, members, exceptions):
    """The layout rewards/metrics/wordnet/table.ts reads: a header of u32s (magic, version, section
    count, each section's length), then the sections, each starting on a 4-byte boundary. Keys and
    exception lines are sorted by their UTF-8 bytes and separated by newlines, so the reader finds line
    starts with one scan and binary-searches in place; the word -> synsets relation is the inverse of
    the stored synset -> members one and is rebuilt into typed arrays on load (smaller to ship)."""
    assert all(len(m) < 256 for m in members)
    sections = [
        ("B", "\n".join(keys).encode()),
        ("B", bytes(sum(1 << bit for bit, p in enumerate(POS) if p in index[k]) for k in keys)),
        ("B", bytes(synset_pos)),
        ("B", bytes(len(m) for m in members)),
        ("I", [ref for m in members for ref in m]),
        ("B", "\n".join(exceptions).encode()),
    ]
    header = [MAGIC, VERSION, len(sections)] + [len(values) for _, values in sections]
    out = bytearray(struct.pack(f"<{len(header)}I", *header))
    for kind, values in sections:
        out += bytes(values) if kind == "B" else struct.pack(f"<{len(values)}I", *values)
        out += bytes(-len(out) % 4)
    return bytes(out)


if __name__ == "__main__":
    main()
