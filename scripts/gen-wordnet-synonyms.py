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
Writes rewards/metrics/wordnet/data-*.ts (generated; do not edit).
"""

import gzip
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "rewards", "metrics", "wordnet")
WORDNET_DIR = "/usr/share/wordnet"
POS = ["n", "v", "a", "r"]
B36 = "0123456789abcdefghijklmnopqrstuvwxyz"
# Biome skips files over 1 MiB; keep each generated module under that.
CHUNK_CHARS = 900_000


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


def b36(n):
    s = ""
    while True:
        n, r = divmod(n, 36)
        s = B36[r] + s
        if n == 0:
            return s


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
    # Front coding counts characters; all keys being in the BMP makes that the same in JavaScript.
    assert all(ord(c) < 0x10000 for k in keys for c in k)
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

    # Words: "<pos mask><shared prefix length><rest>", sorted and front-coded (ids are line numbers).
    word_lines = []
    prev = ""
    for k in keys:
        mask = sum(1 << bit for bit, p in enumerate(POS) if p in index[k])
        shared = 0
        while shared < min(len(prev), len(k), 35) and prev[shared] == k[shared]:
            shared += 1
        word_lines.append(B36[mask] + B36[shared] + k[shared:])
        prev = k

    # Synsets: "<pos><member key ids>"; "^" marks a key that is only there as a capitalised name
    # (it finds the synset but is never a synonym METEOR can match).
    synset_lines = []
    for s, names in synsets:
        p = "a" if s.pos() in ("a", "s") else s.pos()
        members = {}
        for n in names:
            members[n.lower()] = members.get(n.lower(), False) or n == n.lower()
        ids = sorted((word_id[k], ok) for k, ok in members.items())
        synset_lines.append(p + " ".join(("" if ok else "^") + b36(i) for i, ok in ids))

    exc_lines = []
    for p in POS:
        for form, bases in sorted(wn._exception_map[p].items()):
            if "_" in form:
                continue
            exc_lines.append(p + " ".join([form] + list(bases)))

    sections = {"words": "\n".join(word_lines), "synsets": "\n".join(synset_lines), "exceptions": "\n".join(exc_lines)}
    for old in os.listdir(OUT_DIR):
        if old.startswith("data-") and old.endswith(".ts"):
            os.remove(os.path.join(OUT_DIR, old))
    total_raw = 0
    total_gz = 0
    for name, text in sections.items():
        assert "`" not in text and "\\" not in text and "${" not in text
        chunks = [text[i : i + CHUNK_CHARS] for i in range(0, len(text), CHUNK_CHARS)]
        for n, chunk in enumerate(chunks):
            path = os.path.join(OUT_DIR, f"data-{name}-{n}.ts")
            with open(path, "w") as f:
                f.write("// Generated by scripts/gen-wordnet-synonyms.py from WordNet 3.0 (Princeton University). Do not edit.\n")
                f.write(f"export const {name.upper()}_{n} = `{chunk}`;\n")
        with open(os.path.join(OUT_DIR, f"data-{name}.ts"), "w") as f:
            f.write("// Generated by scripts/gen-wordnet-synonyms.py. Do not edit.\n")
            for n in range(len(chunks)):
                f.write(f'import {{ {name.upper()}_{n} }} from "./data-{name}-{n}";\n')
            joined = " + ".join(f"{name.upper()}_{n}" for n in range(len(chunks)))
            f.write(f"\nexport const {name.upper()} = {joined};\n")
        raw = text.encode()
        total_raw += len(raw)
        total_gz += len(gzip.compress(raw, 9))
    print(f"keys {len(keys)}, synsets {len(synsets)}, raw {total_raw} bytes, gzip {total_gz} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
