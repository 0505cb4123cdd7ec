import { deepStrictEqual, equal, throws } from "node:assert/strict";
import {
  formatExample,
  type PromptTokenizer,
  TemplateError,
  tokenLengthStatistics,
} from "../lib/data/mod.ts";
import { ignoreLabel } from "../lib/util/labels.ts";

/** Stand-in tokenizer: one token per character (its code point); end-of-text is 0. */
const characterTokenizer: PromptTokenizer = {
  encode: (text) => [...text].map((c) => c.codePointAt(0)!),
  decode: (ids) => ids.map((id) => (id === 0 ? "<eos>" : String.fromCodePoint(id))).join(""),
  eosId: 0,
};

Deno.test("format: default template gives document, TL;DR cue, summary and end-of-text", () => {
  const formatted = formatExample(characterTokenizer, { document: "Abstract.", summary: "Title" }, {
    maxInputTokens: 100,
    maxOutputTokens: 100,
  });
  equal(characterTokenizer.decode(formatted.ids), "Abstract.\nTL;DR: Title<eos>");
  // The space before {summary} starts the summary, so the prompt ends at the cue.
  equal(characterTokenizer.decode(formatted.promptIds), "Abstract.\nTL;DR:");
  equal(formatted.promptLength, formatted.promptIds.length);
  equal(formatted.labels.length, formatted.ids.length);
  deepStrictEqual(
    formatted.labels.slice(0, formatted.promptLength),
    formatted.promptIds.map(() => ignoreLabel),
  );
  equal(characterTokenizer.decode(formatted.labels.slice(formatted.promptLength)), " Title<eos>");
  equal(formatted.documentTokens, 9);
  equal(formatted.summaryTokens, 6);
});

Deno.test("format: the document keeps its beginning and the summary is cut to its budget", () => {
  const formatted = formatExample(
    characterTokenizer,
    { document: "0123456789", summary: "abcdefgh" },
    { maxInputTokens: 4, maxOutputTokens: 3 },
  );
  equal(characterTokenizer.decode(formatted.promptIds), "0123\nTL;DR:");
  equal(characterTokenizer.decode(formatted.ids), "0123\nTL;DR: ab<eos>");
  equal(formatted.documentTokens, 10);
  equal(formatted.summaryTokens, 9);
});

Deno.test("format: custom templates work and broken ones throw TemplateError", () => {
  const formatted = formatExample(
    characterTokenizer,
    { document: "doc", summary: "sum" },
    { maxInputTokens: 10, maxOutputTokens: 10, template: "Summarize: {document} =>{summary}." },
  );
  equal(characterTokenizer.decode(formatted.promptIds), "Summarize: doc =>");
  equal(characterTokenizer.decode(formatted.ids), "Summarize: doc =>sum.");
  const options = { maxInputTokens: 1, maxOutputTokens: 1 };
  const example = { document: "d", summary: "s" };
  throws(
    () => formatExample(characterTokenizer, example, { ...options, template: "{summary}" }),
    TemplateError,
  );
  throws(
    () =>
      formatExample(characterTokenizer, example, { ...options, template: "{summary} {document}" }),
    TemplateError,
  );
});

Deno.test("stats: truncation counts, median, p90 and max of token lengths", () => {
  const lengths = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100].map((documentTokens, i) => ({
    documentTokens,
    summaryTokens: i + 1,
  }));
  deepStrictEqual(tokenLengthStatistics(lengths, { maxInputTokens: 64, maxOutputTokens: 8 }), {
    examples: 10,
    documentsTruncated: 4,
    summariesTruncated: 2,
    documentTokensMedian: 55,
    documentTokensP90: 91,
    documentTokensMax: 100,
    summaryTokensMedian: 5.5,
    summaryTokensP90: 9.1,
    summaryTokensMax: 10,
  });
});
