"""Plain-Python port of Google's rouge-score (RougeScorer with rouge1, rouge2, rougeL, rougeLsum)
and of NLTK's PorterStemmer in NLTK_EXTENSIONS mode, written for `deno task bench:rouge` as the
baseline that peftlab's ROUGE is timed against. It keeps rouge-score's costs: regex tokenizer,
an uncached stemmer, Counter n-grams of tuples, a full list-of-lists LCS table, and rougeLsum
re-tokenizing each `\\n` sentence. No third-party packages (rouge-score and nltk are not
installable here).

usage: python3 bench/rouge_port.py PAIRS.jsonl [--stem] [--check FIXTURE_DIR]

Prints JSON {"pairs", "seconds", "pairs_per_s", "rougeLsum_sum"} on stdout. With --check it
instead verifies itself against tests/fixtures/rouge (expected scores and stems.tsv) and exits 1
on any mismatch, so the baseline is known to compute what rouge-score computes.
"""

import collections
import json
import re
import sys
import time

NON_ALPHANUM_RE = re.compile(r"[^a-z0-9]+")
SPACES_RE = re.compile(r"\s+")
VALID_TOKEN_RE = re.compile(r"^[a-z0-9]+$")

VOWELS = frozenset("aeiou")
IRREGULAR = {
    "sky": "sky", "skies": "sky", "dying": "die", "lying": "lie", "tying": "tie",
    "news": "news", "innings": "inning", "inning": "inning", "outings": "outing",
    "outing": "outing", "cannings": "canning", "canning": "canning", "howe": "howe",
    "proceed": "proceed", "exceed": "exceed", "succeed": "succeed",
}


class Porter:
    """NLTK PorterStemmer (NLTK_EXTENSIONS): rule lists tried in order, first suffix decides."""

    def cons(self, word, i):
        if word[i] in VOWELS:
            return False
        if word[i] == "y":
            return True if i == 0 else not self.cons(word, i - 1)
        return True

    def measure(self, stem):
        seq = "".join("c" if self.cons(stem, i) else "v" for i in range(len(stem)))
        return seq.count("vc")

    def positive(self, stem):
        return self.measure(stem) > 0

    def above_one(self, stem):
        return self.measure(stem) > 1

    def has_vowel(self, stem):
        return any(not self.cons(stem, i) for i in range(len(stem)))

    def double_cons(self, word):
        return len(word) >= 2 and word[-1] == word[-2] and self.cons(word, len(word) - 1)

    def ends_cvc(self, word):
        n = len(word)
        return (n >= 3 and self.cons(word, n - 3) and not self.cons(word, n - 2)
                and self.cons(word, n - 1) and word[-1] not in ("w", "x", "y")) or (
            n == 2 and not self.cons(word, 0) and self.cons(word, 1))

    def apply_rules(self, word, rules):
        for suffix, replacement, condition in rules:
            if suffix == "*d" and self.double_cons(word):
                stem = word[:-2]
                return stem + replacement if condition is None or condition(stem) else word
            if word.endswith(suffix):
                stem = word[:len(word) - len(suffix)]
                return stem + replacement if condition is None or condition(stem) else word
        return word

    def step1a(self, word):
        if word.endswith("ies") and len(word) == 4:
            return word[:-3] + "ie"
        return self.apply_rules(word, [("sses", "ss", None), ("ies", "i", None),
                                       ("ss", "ss", None), ("s", "", None)])

    def step1b(self, word):
        if word.endswith("ied"):
            return word[:-3] + ("ie" if len(word) == 4 else "i")
        if word.endswith("eed"):
            stem = word[:-3]
            return stem + "ee" if self.measure(stem) > 0 else word
        intermediate = None
        for suffix in ("ed", "ing"):
            if word.endswith(suffix) and self.has_vowel(word[:-len(suffix)]):
                intermediate = word[:-len(suffix)]
                break
        if intermediate is None:
            return word
        last = intermediate[-1]
        return self.apply_rules(intermediate, [
            ("at", "ate", None), ("bl", "ble", None), ("iz", "ize", None),
            ("*d", last, lambda stem: last not in ("l", "s", "z")),
            ("", "e", lambda stem: self.measure(stem) == 1 and self.ends_cvc(stem)),
        ])

    def step1c(self, word):
        return self.apply_rules(word, [
            ("y", "i", lambda stem: len(stem) > 1 and self.cons(stem, len(stem) - 1))])

    def step2(self, word):
        if word.endswith("alli") and self.positive(word[:-4]):
            return self.step2(word[:-4] + "al")
        p = self.positive
        return self.apply_rules(word, [
            ("ational", "ate", p), ("tional", "tion", p), ("enci", "ence", p),
            ("anci", "ance", p), ("izer", "ize", p), ("bli", "ble", p), ("alli", "al", p),
            ("entli", "ent", p), ("eli", "e", p), ("ousli", "ous", p), ("ization", "ize", p),
            ("ation", "ate", p), ("ator", "ate", p), ("alism", "al", p), ("iveness", "ive", p),
            ("fulness", "ful", p), ("ousness", "ous", p), ("aliti", "al", p),
            ("iviti", "ive", p), ("biliti", "ble", p), ("fulli", "ful", p),
            ("logi", "log", lambda stem: self.positive(word[:-3])),
        ])

    def step3(self, word):
        p = self.positive
        return self.apply_rules(word, [
            ("icate", "ic", p), ("ative", "", p), ("alize", "al", p), ("iciti", "ic", p),
            ("ical", "ic", p), ("ful", "", p), ("ness", "", p)])

    def step4(self, word):
        g = self.above_one
        return self.apply_rules(word, [
            ("al", "", g), ("ance", "", g), ("ence", "", g), ("er", "", g), ("ic", "", g),
            ("able", "", g), ("ible", "", g), ("ant", "", g), ("ement", "", g),
            ("ment", "", g), ("ent", "", g),
            ("ion", "", lambda stem: self.measure(stem) > 1 and stem[-1:] in ("s", "t")),
            ("ou", "", g), ("ism", "", g), ("ate", "", g), ("iti", "", g), ("ous", "", g),
            ("ive", "", g), ("ize", "", g)])

    def step5a(self, word):
        if word.endswith("e"):
            stem = word[:-1]
            m = self.measure(stem)
            if m > 1 or (m == 1 and not self.ends_cvc(stem)):
                return stem
        return word

    def step5b(self, word):
        return self.apply_rules(word, [("ll", "l", lambda stem: self.measure(word[:-1]) > 1)])

    def stem(self, word):
        word = word.lower()
        if word in IRREGULAR:
            return IRREGULAR[word]
        if len(word) <= 2:
            return word
        for step in (self.step1a, self.step1b, self.step1c, self.step2, self.step3,
                     self.step4, self.step5a, self.step5b):
            word = step(word)
        return word


def tokenize(text, stemmer):
    text = NON_ALPHANUM_RE.sub(" ", text.lower())
    tokens = SPACES_RE.split(text)
    if stemmer:
        tokens = [stemmer.stem(x) if len(x) > 3 else x for x in tokens]
    return [x for x in tokens if VALID_TOKEN_RE.match(x)]


def fmeasure(precision, recall):
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def score(precision, recall):
    return {"precision": precision, "recall": recall, "fmeasure": fmeasure(precision, recall)}


def ngrams(tokens, n):
    counts = collections.Counter()
    for gram in (tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)):
        counts[gram] += 1
    return counts


def score_ngrams(target, prediction):
    hits = sum(min(count, prediction[gram]) for gram, count in target.items())
    return score(hits / max(sum(prediction.values()), 1), hits / max(sum(target.values()), 1))


def lcs_table(ref, can):
    table = [[0] * (len(can) + 1) for _ in range(len(ref) + 1)]
    for i in range(1, len(ref) + 1):
        for j in range(1, len(can) + 1):
            if ref[i - 1] == can[j - 1]:
                table[i][j] = table[i - 1][j - 1] + 1
            else:
                table[i][j] = max(table[i - 1][j], table[i][j - 1])
    return table


def score_lcs(target, prediction):
    if not target or not prediction:
        return score(0, 0)
    length = lcs_table(target, prediction)[-1][-1]
    return score(length / len(prediction), length / len(target))


def lcs_indices(ref, can):
    t = lcs_table(ref, can)
    i, j, indices = len(ref), len(can), []
    while i > 0 and j > 0:
        if ref[i - 1] == can[j - 1]:
            indices.insert(0, i - 1)
            i -= 1
            j -= 1
        elif t[i][j - 1] > t[i - 1][j]:
            j -= 1
        else:
            i -= 1
    return indices


def summary_level_lcs(ref_sents, can_sents):
    if not ref_sents or not can_sents:
        return score(0, 0)
    m = sum(map(len, ref_sents))
    n = sum(map(len, can_sents))
    if not n or not m:
        return score(0, 0)
    ref_counts, can_counts = collections.Counter(), collections.Counter()
    for s in ref_sents:
        ref_counts.update(s)
    for s in can_sents:
        can_counts.update(s)
    hits = 0
    for ref in ref_sents:
        union = sorted(set().union(*[lcs_indices(ref, can) for can in can_sents]))
        for token in (ref[i] for i in union):
            if can_counts[token] > 0 and ref_counts[token] > 0:
                hits += 1
                can_counts[token] -= 1
                ref_counts[token] -= 1
    return score(hits / n, hits / m)


def score_pair(target, prediction, stemmer):
    target_tokens = tokenize(target, stemmer)
    prediction_tokens = tokenize(prediction, stemmer)
    sentences = lambda text: [tokenize(s, stemmer) for s in text.split("\n") if len(s)]
    return {
        "rouge1": score_ngrams(ngrams(target_tokens, 1), ngrams(prediction_tokens, 1)),
        "rouge2": score_ngrams(ngrams(target_tokens, 2), ngrams(prediction_tokens, 2)),
        "rougeL": score_lcs(target_tokens, prediction_tokens),
        "rougeLsum": summary_level_lcs(sentences(target), sentences(prediction)),
    }


def read_pairs(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def check(fixture_dir):
    pairs = read_pairs(f"{fixture_dir}/pairs.jsonl")
    failures = 0
    for name, stemmer in (("expected.json", None), ("expected.stem.json", Porter())):
        with open(f"{fixture_dir}/{name}", encoding="utf-8") as f:
            expected = json.load(f)["pairs"]
        for k, pair in enumerate(pairs):
            got = score_pair(pair["reference"], pair["prediction"], stemmer)
            for rouge_type, fields in expected[k].items():
                for field, want in fields.items():
                    if abs(got[rouge_type][field] - want) > 1e-12:
                        failures += 1
                        print(f"{name} pair {k} {rouge_type}.{field}: {got[rouge_type][field]} != {want}")
    with open(f"{fixture_dir}/stems.tsv", encoding="utf-8") as f:
        porter = Porter()
        for line in f:
            word, want = line.rstrip("\n").split("\t")
            got = tokenize(word, porter)[0]  # rouge-score's rule: only tokens > 3 chars stem
            if got != want:
                failures += 1
                print(f"stems.tsv {word}: {got} != {want}")
    print(json.dumps({"checked": len(pairs), "failures": failures}))
    return 1 if failures else 0


def main(args):
    if "--check" in args:
        return check(args[args.index("--check") + 1])
    stemmer = Porter() if "--stem" in args else None
    pairs = read_pairs(args[0])
    start = time.perf_counter()
    total = 0.0
    for pair in pairs:
        total += score_pair(pair["reference"], pair["prediction"], stemmer)["rougeLsum"]["fmeasure"]
    seconds = time.perf_counter() - start
    print(json.dumps({"pairs": len(pairs), "seconds": seconds, "pairs_per_s": len(pairs) / seconds,
                      "rougeLsum_sum": total}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
