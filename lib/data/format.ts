/**
 * Turns an example into model input: prompt ids, then summary ids and end-of-text, with labels
 * that score only the summary part. The document is truncated to its token budget keeping the
 * beginning (the problem statement of an abstract), the summary to its own budget.
 *
 * @module
 */

import { TemplateError } from "./errors.ts";
import type { Example } from "./read.ts";
import { ignoreLabel } from "../util/labels.ts";

/** The tokenizer surface prompt formatting needs (lib/tokenizer's `Tokenizer` satisfies it). */
export interface PromptTokenizer {
  /** Text → token ids (no special tokens added). */
  encode(text: string): number[];
  /** Token ids → text. */
  decode(ids: number[]): string;
  /** Id of the end-of-text token. */
  eosId: number;
}

/** Default prompt: the GPT-2 paper's TL;DR summarization cue. */
export const DEFAULT_TEMPLATE = "{document}\nTL;DR: {summary}<|endoftext|>";
/** Written in a template, stands for the tokenizer's `eosId`. */
export const END_OF_TEXT_MARKER = "<|endoftext|>";

/** Options of {@link formatExample}. */
export interface FormatOptions {
  /** Most document tokens kept (the template's own tokens come on top). */
  maxInputTokens: number;
  /** Most summary tokens kept (the template's end, e.g. end-of-text, comes on top). */
  maxOutputTokens: number;
  /** Template with `{document}` before `{summary}`; default {@link DEFAULT_TEMPLATE}. */
  template?: string;
}

/** A formatted example. */
export interface FormattedExample {
  /** Prompt then summary then the template's end: the full training sequence. */
  ids: number[];
  /**
   * Same length as `ids`, aligned with them (the trainer shifts): {@link ignoreLabel} on the
   * prompt, the token id on the summary and the template's end (end-of-text).
   */
  labels: number[];
  /** The prompt alone (what generation starts from). */
  promptIds: number[];
  /** `promptIds.length`. */
  promptLength: number;
  /** Document tokens before truncation. */
  documentTokens: number;
  /** Summary tokens before truncation. */
  summaryTokens: number;
}

interface ParsedTemplate {
  beforeDocument: string;
  betweenDocumentAndSummary: string;
  summaryPrefix: string;
  afterSummary: string;
}

const templateCache = new Map<string, ParsedTemplate>();

function parseTemplate(template: string): ParsedTemplate {
  const cached = templateCache.get(template);
  if (cached) return cached;
  const documentAt = template.indexOf("{document}");
  const summaryAt = template.indexOf("{summary}");
  if (documentAt < 0) throw new TemplateError(template, "has no {document}");
  if (summaryAt < 0) throw new TemplateError(template, "has no {summary}");
  if (summaryAt < documentAt) {
    throw new TemplateError(template, "{summary} comes before {document}");
  }
  if (
    template.indexOf("{document}", documentAt + 1) >= 0 ||
    template.indexOf("{summary}", summaryAt + 1) >= 0
  ) {
    throw new TemplateError(template, "uses {document} or {summary} more than once");
  }
  const between = template.slice(documentAt + "{document}".length, summaryAt);
  // Whitespace right before {summary} belongs to the summary's first token (GPT-2 BPE attaches
  // a space to the following word), so the prompt ends at "TL;DR:" and the model writes " Title".
  const trimmed = between.replace(/[ \t]+$/, "");
  const parsed: ParsedTemplate = {
    beforeDocument: template.slice(0, documentAt),
    betweenDocumentAndSummary: trimmed,
    summaryPrefix: between.slice(trimmed.length),
    afterSummary: template.slice(summaryAt + "{summary}".length),
  };
  templateCache.set(template, parsed);
  return parsed;
}

/** Encodes template text, mapping each {@link END_OF_TEXT_MARKER} to `eosId`. */
function encodeLiteral(tokenizer: PromptTokenizer, text: string): number[] {
  const ids: number[] = [];
  text.split(END_OF_TEXT_MARKER).forEach((part, index) => {
    if (index > 0) ids.push(tokenizer.eosId);
    if (part !== "") ids.push(...tokenizer.encode(part));
  });
  return ids;
}

/**
 * Formats one example as `template` says (default `{document}\nTL;DR: {summary}<|endoftext|>`):
 * the document is encoded alone and cut to its first `maxInputTokens` tokens, the summary (with
 * the whitespace before `{summary}`) cut to `maxOutputTokens`; `<|endoftext|>` in the template
 * becomes `tokenizer.eosId`. Returns ids, labels (-100 on the prompt), the prompt ids and the
 * untruncated token counts. Throws {@link TemplateError} for a template without `{document}` and
 * then `{summary}` (each once), and RangeError for a negative budget.
 */
export function formatExample(
  tokenizer: PromptTokenizer,
  example: Pick<Example, "document" | "summary">,
  opts: FormatOptions,
): FormattedExample {
  if (!(opts.maxInputTokens >= 0) || !(opts.maxOutputTokens >= 0)) {
    throw new RangeError(
      `token budgets must be ≥ 0 (maxInputTokens ${opts.maxInputTokens}, maxOutputTokens ${opts.maxOutputTokens})`,
    );
  }
  const template = parseTemplate(opts.template ?? DEFAULT_TEMPLATE);
  const documentIds = tokenizer.encode(example.document);
  const summaryIds = tokenizer.encode(template.summaryPrefix + example.summary);
  const promptIds = [
    ...encodeLiteral(tokenizer, template.beforeDocument),
    ...documentIds.slice(0, opts.maxInputTokens),
    ...encodeLiteral(tokenizer, template.betweenDocumentAndSummary),
  ];
  const targetIds = [
    ...summaryIds.slice(0, opts.maxOutputTokens),
    ...encodeLiteral(tokenizer, template.afterSummary),
  ];
  return {
    ids: [...promptIds, ...targetIds],
    labels: [...promptIds.map(() => ignoreLabel), ...targetIds],
    promptIds,
    promptLength: promptIds.length,
    documentTokens: documentIds.length,
    summaryTokens: summaryIds.length,
  };
}

/** The contract name in docs/ARCHITECTURE.md; the same function as {@link formatExample}. */
export const formatPrompt: typeof formatExample = formatExample;
