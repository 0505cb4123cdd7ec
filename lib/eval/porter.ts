/**
 * Porter stemmer exactly as NLTK's `PorterStemmer` in its default `NLTK_EXTENSIONS` mode, the
 * stemmer Google's `rouge-score` uses. The rule tables follow `nltk/stem/porter.py`, including
 * its quirks: the first rule whose suffix matches decides (a failed condition stops the step),
 * the irregular-forms pool, and the NLTK-only rules (`ies`/`ied` on 4-letter words, `alli`
 * first, `fulli`, `logi`, the 2-letter `*o` case and the `y → i` condition).
 *
 * @module
 */

/** Words NLTK maps directly, bypassing the rules (NLTK_EXTENSIONS `pool`). */
const IRREGULAR_FORMS: ReadonlyMap<string, string> = new Map([
  ["sky", "sky"],
  ["skies", "sky"],
  ["dying", "die"],
  ["lying", "lie"],
  ["tying", "tie"],
  ["news", "news"],
  ["innings", "inning"],
  ["inning", "inning"],
  ["outings", "outing"],
  ["outing", "outing"],
  ["cannings", "canning"],
  ["canning", "canning"],
  ["howe", "howe"],
  ["proceed", "proceed"],
  ["exceed", "exceed"],
  ["succeed", "succeed"],
]);

function isConsonant(word: string, i: number): boolean {
  const c = word.charCodeAt(i);
  // a e i o u
  if (c === 97 || c === 101 || c === 105 || c === 111 || c === 117) return false;
  if (c === 121 /* y */) return i === 0 ? true : !isConsonant(word, i - 1);
  return true;
}

/** Porter's m: the number of vowel→consonant transitions ("vc" pairs) in the stem. */
function measure(stem: string): number {
  let count = 0;
  let previousIsVowel = false;
  for (let i = 0; i < stem.length; i++) {
    const consonant = isConsonant(stem, i);
    if (consonant && previousIsVowel) count++;
    previousIsVowel = !consonant;
  }
  return count;
}

function containsVowel(stem: string): boolean {
  for (let i = 0; i < stem.length; i++) if (!isConsonant(stem, i)) return true;
  return false;
}

function endsDoubleConsonant(word: string): boolean {
  const n = word.length;
  return n >= 2 && word[n - 1] === word[n - 2] && isConsonant(word, n - 1);
}

/** Porter's *o, plus NLTK's extension that a 2-letter vowel+consonant word also counts. */
function endsCvc(word: string): boolean {
  const n = word.length;
  if (
    n >= 3 && isConsonant(word, n - 3) && !isConsonant(word, n - 2) && isConsonant(word, n - 1) &&
    word[n - 1] !== "w" && word[n - 1] !== "x" && word[n - 1] !== "y"
  ) return true;
  return n === 2 && !isConsonant(word, 0) && isConsonant(word, 1);
}

type Condition = ((stem: string) => boolean) | null;
/** A rule `[suffix, replacement, condition]`; suffix `"*d"` means "ends in a double consonant". */
type Rule = readonly [string, string, Condition];

/** NLTK `_apply_rule_list`: the first matching suffix decides, whether its condition holds or not. */
function applyRuleList(word: string, rules: readonly Rule[]): string {
  for (const [suffix, replacement, condition] of rules) {
    if (suffix === "*d" && endsDoubleConsonant(word)) {
      const stem = word.slice(0, -2);
      return condition === null || condition(stem) ? stem + replacement : word;
    }
    if (word.endsWith(suffix)) {
      const stem = word.slice(0, word.length - suffix.length);
      return condition === null || condition(stem) ? stem + replacement : word;
    }
  }
  return word;
}

const positiveMeasure = (stem: string): boolean => measure(stem) > 0;
const measureAboveOne = (stem: string): boolean => measure(stem) > 1;

const STEP1A_RULES: readonly Rule[] = [
  ["sses", "ss", null],
  ["ies", "i", null],
  ["ss", "ss", null],
  ["s", "", null],
];

function step1a(word: string): string {
  if (word.endsWith("ies") && word.length === 4) return word.slice(0, -3) + "ie";
  return applyRuleList(word, STEP1A_RULES);
}

function step1b(word: string): string {
  if (word.endsWith("ied")) {
    return word.slice(0, -3) + (word.length === 4 ? "ie" : "i");
  }
  if (word.endsWith("eed")) {
    const stem = word.slice(0, -3);
    return measure(stem) > 0 ? stem + "ee" : word;
  }
  let intermediate: string | null = null;
  for (const suffix of ["ed", "ing"]) {
    if (word.endsWith(suffix)) {
      const stem = word.slice(0, word.length - suffix.length);
      if (containsVowel(stem)) {
        intermediate = stem;
        break;
      }
    }
  }
  if (intermediate === null) return word;
  const last = intermediate[intermediate.length - 1];
  return applyRuleList(intermediate, [
    ["at", "ate", null],
    ["bl", "ble", null],
    ["iz", "ize", null],
    ["*d", last, () => last !== "l" && last !== "s" && last !== "z"],
    ["", "e", (stem) => measure(stem) === 1 && endsCvc(stem)],
  ]);
}

const STEP1C_RULES: readonly Rule[] = [
  ["y", "i", (stem) => stem.length > 1 && isConsonant(stem, stem.length - 1)],
];

function step1c(word: string): string {
  return applyRuleList(word, STEP1C_RULES);
}

const STEP2_RULES: readonly Rule[] = [
  ["ational", "ate", positiveMeasure],
  ["tional", "tion", positiveMeasure],
  ["enci", "ence", positiveMeasure],
  ["anci", "ance", positiveMeasure],
  ["izer", "ize", positiveMeasure],
  ["bli", "ble", positiveMeasure],
  ["alli", "al", positiveMeasure],
  ["entli", "ent", positiveMeasure],
  ["eli", "e", positiveMeasure],
  ["ousli", "ous", positiveMeasure],
  ["ization", "ize", positiveMeasure],
  ["ation", "ate", positiveMeasure],
  ["ator", "ate", positiveMeasure],
  ["alism", "al", positiveMeasure],
  ["iveness", "ive", positiveMeasure],
  ["fulness", "ful", positiveMeasure],
  ["ousness", "ous", positiveMeasure],
  ["aliti", "al", positiveMeasure],
  ["iviti", "ive", positiveMeasure],
  ["biliti", "ble", positiveMeasure],
  ["fulli", "ful", positiveMeasure],
];

function step2(word: string): string {
  // NLTK applies ALLI -> AL first and, when it fires, runs step 2 again on the result.
  if (word.endsWith("alli") && positiveMeasure(word.slice(0, -4))) {
    return step2(word.slice(0, -4) + "al");
  }
  // NLTK keeps the "l" of "logi" with the stem so short stems such as "geo" qualify.
  const rules: Rule[] = [...STEP2_RULES, ["logi", "log", () => positiveMeasure(word.slice(0, -3))]];
  return applyRuleList(word, rules);
}

const STEP3_RULES: readonly Rule[] = [
  ["icate", "ic", positiveMeasure],
  ["ative", "", positiveMeasure],
  ["alize", "al", positiveMeasure],
  ["iciti", "ic", positiveMeasure],
  ["ical", "ic", positiveMeasure],
  ["ful", "", positiveMeasure],
  ["ness", "", positiveMeasure],
];

const STEP4_RULES: readonly Rule[] = [
  ["al", "", measureAboveOne],
  ["ance", "", measureAboveOne],
  ["ence", "", measureAboveOne],
  ["er", "", measureAboveOne],
  ["ic", "", measureAboveOne],
  ["able", "", measureAboveOne],
  ["ible", "", measureAboveOne],
  ["ant", "", measureAboveOne],
  ["ement", "", measureAboveOne],
  ["ment", "", measureAboveOne],
  ["ent", "", measureAboveOne],
  ["ion", "", (stem) => measure(stem) > 1 && (stem.endsWith("s") || stem.endsWith("t"))],
  ["ou", "", measureAboveOne],
  ["ism", "", measureAboveOne],
  ["ate", "", measureAboveOne],
  ["iti", "", measureAboveOne],
  ["ous", "", measureAboveOne],
  ["ive", "", measureAboveOne],
  ["ize", "", measureAboveOne],
];

function step5a(word: string): string {
  if (word.endsWith("e")) {
    const stem = word.slice(0, -1);
    const m = measure(stem);
    if (m > 1) return stem;
    if (m === 1 && !endsCvc(stem)) return stem;
  }
  return word;
}

function step5b(word: string): string {
  return applyRuleList(word, [["ll", "l", () => measure(word.slice(0, -1)) > 1]]);
}

/**
 * Stems one word exactly as NLTK's `PorterStemmer().stem(word)` (NLTK_EXTENSIONS mode): the
 * word is lowercased, irregular forms are looked up, words of 1–2 characters are returned
 * as they are, and the rest go through steps 1a–5b. Never throws.
 */
export function porterStem(word: string): string {
  const lower = word.toLowerCase();
  const irregular = IRREGULAR_FORMS.get(lower);
  if (irregular !== undefined) return irregular;
  if (lower.length <= 2) return lower;
  let stem = step1a(lower);
  stem = step1b(stem);
  stem = step1c(stem);
  stem = step2(stem);
  stem = applyRuleList(stem, STEP3_RULES);
  stem = applyRuleList(stem, STEP4_RULES);
  stem = step5a(stem);
  return step5b(stem);
}

/** Bound on the memo so a long-running process scoring unbounded vocabularies stays small. */
const STEM_MEMO_MAX_ENTRIES = 200_000;
const stemMemo = new Map<string, string>();

/**
 * Stems a rouge-score token: tokens longer than 3 characters go through {@link porterStem},
 * shorter ones are kept (rouge-score's rule). Results are memoised. Never throws.
 */
export function stemToken(token: string): string {
  if (token.length <= 3) return token;
  let stem = stemMemo.get(token);
  if (stem === undefined) {
    if (stemMemo.size >= STEM_MEMO_MAX_ENTRIES) stemMemo.clear();
    stem = porterStem(token);
    stemMemo.set(token, stem);
  }
  return stem;
}
