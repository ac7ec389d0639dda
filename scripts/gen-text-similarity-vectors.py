#!/usr/bin/python3
"""Generates reference scores for the text_similarity metrics with the reference implementations.

    apt-get install -y python3-nltk wordnet-base     # Debian's NLTK 3.8 and WordNet 3.0
    /usr/bin/python3 scripts/gen-text-similarity-vectors.py

Writes, under tests/fixtures/text-similarity/:
  vectors.jsonl  {"reference", "candidate", "bleu", "gleu", "meteor"}: NLTK 3.8 sentence_bleu (default
                 weights, no smoothing), sentence_gleu and single_meteor_score, on whitespace tokens
                 (Python str.split()), the tokenisation the grader uses;
  porter.jsonl   {"word", "stem"}: NLTK's PorterStemmer() (NLTK_EXTENSIONS), which METEOR uses;
  wordnet.jsonl  {"word", "synonyms"}: the single-word lemma names of wordnet.synsets(word), METEOR's
                 synonym set.
rouge-score and rapidfuzz are not packaged for Debian and this machine reaches no other registry, so
ROUGE and fuzzy_match are tested against their documentation's worked examples instead.
Deterministic: the same NLTK gives the same files.
"""

import json
import os
import random
import sys
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "text-similarity")


def setup_nltk():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "gen_wordnet", os.path.join(ROOT, "scripts", "gen-wordnet-synonyms.py")
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    os.environ["NLTK_DATA"] = mod.nltk_data_dir()


HAND_PAIRS = [
    ("", ""),
    ("", "something"),
    ("something", ""),
    ("   ", "\t\n"),
    ("the cat sat on the mat", "the cat sat on the mat"),
    ("The cat sat on the mat", "the cat sat on the mat"),
    ("THE CAT SAT ON THE MAT", "the cat sat on the mat"),
    ("the cat sat on the mat", "the mat sat on the cat"),
    ("the cat sat on the mat", "a feline sat upon the rug"),
    ("the cat is on the mat", "there is a cat on the mat"),
    ("the cat", "the cat"),
    ("the cat", "the"),
    ("hello", "hello"),
    ("hello", "Hello"),
    ("hello", "hello!"),
    ("hello world", "hello, world!"),
    ("Paris is the capital of France.", "The capital of France is Paris."),
    ("It is a guide to action that ensures that the military will forever heed Party commands",
     "It is a guide to action which ensures that the military always obeys the commands of the party"),
    ("It is a guide to action that ensures that the military will forever heed Party commands",
     "It is to insure the troops forever hearing the activity guidebook that party direct"),
    ("the geese were flying south", "a goose flies south"),
    ("he was running quickly", "he ran fast"),
    ("the children played happily", "the child plays happily"),
    ("she bought a car", "she purchased an automobile"),
    ("the big house", "the large home"),
    ("buy buy buy buy", "buy"),
    ("the the the the the the the", "the"),
    ("the", "the the the the the the the"),
    ("a b c d e f g", "a b c d e f g"),
    ("a b c d e f g", "g f e d c b a"),
    ("one two three", "one two four"),
    ("one two three four five", "one two three four six"),
    ("caf\u00e9 na\u00efve r\u00e9sum\u00e9", "cafe naive resume"),
    ("caf\u00e9 na\u00efve r\u00e9sum\u00e9", "caf\u00e9 na\u00efve r\u00e9sum\u00e9"),
    ("\u65e5\u672c\u8a9e \u306e \u6587", "\u65e5\u672c\u8a9e \u306e \u6587"),
    ("\U0001f600 smile \U0001f600", "smile \U0001f600"),
    ("\u0130stanbul \u0130STANBUL", "istanbul"),
    ("\u039f\u0394\u039f\u03a3 \u03bf\u03b4\u03bf\u03c2", "\u03bf\u03b4\u03bf\u03c2"),
    ("word\u3000word\u00a0word", "word word word"),
    ("split\x1cby\x1dunit\x1eseparators\x1f", "split by unit separators"),
    ("zero\ufeffwidth\u200bspace", "zero width space"),
    ("x\u0085y\u2028z", "x y z"),
    ("ice_cream is cold", "ice cream is cold"),
    ("42", "42"),
    ("3.14159", "3.14"),
    ("yes", "no"),
    ("True", "true"),
    ("The answer is 7.", "7"),
    ("New York City", "new york"),
    ("organization organizations organized organizing", "organize organise organizer"),
    ("happiness happily happy", "happy"),
    ("relational conditional rational", "relate condition ration"),
    ("sky skies dying lying tying news innings", "sky sky die lie tie news inning"),
    ("generously generous generosity", "generous"),
    ("yyyy syzygy yay", "yyy syzygies"),
    ("the quick brown fox jumps over the lazy dog", "the quick brown dog jumps on the log"),
    ("the quick brown fox jumps over the lazy dog", "a fast brown fox leaps over a lazy dog"),
    ("I love machine learning", "I adore machine learning"),
    ("the weather is cold today", "today the weather is chilly"),
    ("he began to speak", "he started talking"),
    ("the doctor examined the patient", "the physician checked the patient"),
    ("a small dog barked", "a little dog barked loudly"),
    ("the meeting ended early", "the conference finished early"),
]

VOCAB = (
    "the a an of to in on at by for with from and or but not is are was were be been being have has had "
    "do does did will would can could should may might must cat cats dog dogs mouse mice man men woman women "
    "child children goose geese run runs running ran walk walked walking big large huge small little tiny "
    "fast quick rapid slow house home car automobile begin began start started end finish finished happy glad "
    "sad unhappy buy bought purchase purchased answer reply question ask asked good better best bad worse "
    "worst city town country nation world earth water sea ocean river lake tree trees forest wood woods "
    "Paris France London England model models training train trained reward rewards score scores learn "
    "learning learned 1 2 3 10 42 100 3.14 . , ! ? ; : ( ) \" ' - --"
).split()


def random_pairs(rng, count):
    pairs = []
    for _ in range(count):
        n = rng.randint(0, 14)
        ref = [rng.choice(VOCAB) for _ in range(n)]
        cand = list(ref)
        for _ in range(rng.randint(0, 5)):
            op = rng.random()
            if op < 0.3 and cand:
                cand[rng.randrange(len(cand))] = rng.choice(VOCAB)
            elif op < 0.5 and cand:
                del cand[rng.randrange(len(cand))]
            elif op < 0.7:
                cand.insert(rng.randint(0, len(cand)), rng.choice(VOCAB))
            elif op < 0.8 and len(cand) > 1:
                i, j = rng.randrange(len(cand)), rng.randrange(len(cand))
                cand[i], cand[j] = cand[j], cand[i]
            elif op < 0.9 and cand:
                i = rng.randrange(len(cand))
                cand[i] = cand[i].upper() if rng.random() < 0.5 else cand[i].capitalize()
            elif cand:
                i = rng.randrange(len(cand))
                cand[i] = cand[i] + rng.choice([".", ",", "!", "'s", "s"])
        sep = rng.choice([" ", " ", " ", "  ", "\t", "\n"])
        pairs.append((" ".join(ref), sep.join(cand)))
    return pairs


def main():
    setup_nltk()
    from nltk.corpus import wordnet as wn
    from nltk.stem.porter import PorterStemmer
    from nltk.translate.bleu_score import sentence_bleu
    from nltk.translate.gleu_score import sentence_gleu
    from nltk.translate.meteor_score import single_meteor_score

    warnings.simplefilter("ignore")
    rng = random.Random(20240611)
    os.makedirs(OUT, exist_ok=True)

    pairs = HAND_PAIRS + [(c, r) for r, c in HAND_PAIRS[4:40]] + random_pairs(rng, 260)
    with open(os.path.join(OUT, "vectors.jsonl"), "w") as f:
        for reference, candidate in pairs:
            ref, hyp = reference.split(), candidate.split()
            row = {
                "reference": reference,
                "candidate": candidate,
                "bleu": float(sentence_bleu([ref], hyp)),
                "gleu": float(sentence_gleu([ref], hyp)),
                "meteor": float(single_meteor_score(ref, hyp)),
            }
            f.write(json.dumps(row, ensure_ascii=False) + "\n")

    stemmer = PorterStemmer()
    words = set()
    for reference, candidate in pairs:
        words.update(reference.lower().split() + candidate.lower().split())
    keys = sorted(k for k in wn._lemma_pos_offset_map if "_" not in k)
    words.update(keys[::40])
    words.update(
        ["caresses", "ponies", "ties", "ties", "agreed", "feed", "plastered", "bled", "motoring", "sing",
         "conflated", "troubled", "sized", "hopping", "tanned", "falling", "hissing", "fizzed", "failing",
         "filing", "happy", "sky", "relational", "conditional", "rational", "valenci", "hesitanci",
         "digitizer", "conformabli", "radicalli", "differentli", "vileli", "analogousli", "vietnamization",
         "predication", "operator", "feudalism", "decisiveness", "hopefulness", "callousness", "formaliti",
         "sensitiviti", "sensibiliti", "triplicate", "formative", "formalize", "electriciti", "electrical",
         "hopeful", "goodness", "revival", "allowance", "inference", "airliner", "gyroscopic", "adjustable",
         "defensible", "irritant", "replacement", "adjustment", "dependent", "adoption", "homologou",
         "communism", "activate", "angulariti", "homologous", "effective", "bowdlerize", "probate", "rate",
         "cease", "controll", "roll", "generalization", "oscillators", "dying", "lying", "tying", "news",
         "innings", "outings", "cannings", "howe", "proceed", "exceed", "succeed", "Yyyy", "y", "yy", "ay",
         "ies", "dies", "lies", "cried", "tied", "analogies", "fully", "logi", "ecology", "\u0130stanbul",
         "stra\u00dfe", "\u03bf\u03b4\u03bf\u03c2", "\U0001f600", "\U0001f600ing"]
    )
    with open(os.path.join(OUT, "porter.jsonl"), "w") as f:
        for w in sorted(words):
            f.write(json.dumps({"word": w, "stem": stemmer.stem(w)}, ensure_ascii=False) + "\n")

    probe = set()
    for w in list(words):
        probe.add(stemmer.stem(w))
    probe.update(["geese", "mice", "children", "ran", "better", "best", "flies", "running", "boxes",
                  "churches", "wolves", "women", "studies", "happier", "happiest", "stopped", "eseseses",
                  "ice_cream", "Dog", "DOG", "automobile", "purchase", "fast", "quick", "large"])
    with open(os.path.join(OUT, "wordnet.jsonl"), "w") as f:
        for w in sorted(probe):
            if "_" in w:
                continue
            # Capitalised names are in NLTK's set too but never match a (lowercased) reference word.
            names = {l.name() for s in wn.synsets(w) for l in s.lemmas()}
            syns = sorted(n for n in names if "_" not in n and n == n.lower())
            f.write(json.dumps({"word": w, "synonyms": syns}, ensure_ascii=False) + "\n")
    print(f"{len(pairs)} pairs, {len(words)} stems, {len(probe)} synonym probes", file=sys.stderr)


if __name__ == "__main__":
    main()
