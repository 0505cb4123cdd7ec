import { equal } from "node:assert/strict";
import { porterStem, stemToken } from "../lib/eval/mod.ts";

Deno.test("porter: every word of stems.tsv stems as NLTK's PorterStemmer does (rouge-score rule)", async () => {
  const text = await Deno.readTextFile(new URL("./fixtures/rouge/stems.tsv", import.meta.url));
  const rows = text.split("\n").filter((line) => line !== "").map((line) => line.split("\t"));
  equal(rows.length > 6000, true);
  const mismatches = rows.filter(([word, stem]) => stemToken(word) !== stem)
    .map(([word, stem]) => `${word}: ${stemToken(word)} ≠ ${stem}`);
  equal(mismatches.length, 0, mismatches.slice(0, 10).join("\n"));
});

Deno.test("porter: NLTK_EXTENSIONS cases differ from the 1980 algorithm", () => {
  const cases: [string, string][] = [
    ["skies", "sky"],
    ["dying", "die"],
    ["news", "news"],
    ["proceed", "proceed"],
    ["fly", "fli"],
    ["dies", "die"],
    ["spied", "spi"],
    ["happy", "happi"],
    ["enjoy", "enjoy"],
    ["generalization", "gener"],
    ["analogi", "analog"],
    ["conditional", "condit"],
  ];
  for (const [word, stem] of cases) equal(porterStem(word), stem, word);
});

Deno.test("porter: rouge-score stems only tokens longer than 3 characters", () => {
  equal(porterStem("fly"), "fli");
  equal(stemToken("fly"), "fly");
  equal(stemToken("flies"), "fli");
});
