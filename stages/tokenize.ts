/**
 * tokenize: reads the train/validation/test data (or one file split by id hash), checks every row,
 * builds the tokenizer (the checkpoint's, or a compact GPT-2 vocabulary fitted to the training
 * text) and writes each split as token ids with the prompt length.
 *
 * @module
 */
import { join } from "node:path";
import {
  DATA_FORMATS,
  type DataReport,
  type Example,
  formatExample,
  readExamples,
  tokenLengthStatistics,
} from "../lib/data/mod.ts";
import { type SplitName } from "../lib/data/mod.ts";
import {
  buildCompactTokenizer,
  compactVocabFileName,
  loadBaseTokenizer,
  loadTokenizer,
  type Tokenizer,
} from "../lib/tokenizer/mod.ts";
import { Params } from "../lib/stagekit/params.ts";
import {
  type Split,
  splitNames,
  type TokenizedExample,
  tokenizerDir,
  writeSplit,
} from "../lib/stagekit/tokenized.ts";
import type { MetricValue, StageContext, StageResult } from "../lib/run/types.ts";

async function readSplitExamples(
  ctx: StageContext,
  data: Params,
  split: Split,
): Promise<{ examples: Example[]; report: DataReport }> {
  const oneFile = data.optionalString("file");
  const path = ctx.path(oneFile ?? data.string(split));
  const limit = data.has(`limit_${split}`)
    ? data.integer(`limit_${split}`, undefined, 1)
    : undefined;
  return await readExamples(path, {
    format: data.has("format") ? data.choice("format", DATA_FORMATS) : undefined,
    documentField: data.string("document_field", "document"),
    summaryField: data.string("summary_field", "summary"),
    idField: data.string("id_field", "id"),
    onBadRow: data.choice("on_bad_row", ["fail", "skip"] as const, "fail"),
    limit,
    split: oneFile ? (split as SplitName) : undefined,
  });
}

/** Runs the stage (see the module doc). */
export async function run(ctx: StageContext): Promise<StageResult> {
  const params = new Params(ctx.params);
  const data = params.section("data");
  const tokenizerParams = params.section("tokenizer");
  const budgets = {
    maxInputTokens: params.integer("max_input_tokens", undefined, 1),
    maxOutputTokens: params.integer("max_output_tokens", undefined, 1),
  };
  const template = params.optionalString("template") ?? undefined;
  const metrics: Record<string, MetricValue> = {};

  const splits = new Map<Split, Example[]>();
  for (const split of splitNames) {
    const { examples, report } = await readSplitExamples(ctx, data, split);
    if (examples.length === 0) {
      throw new Error(`${report.file}: no examples for the ${split} split`);
    }
    splits.set(split, examples);
    metrics[`${split}.examples`] = examples.length;
    metrics[`${split}.badRowsSkipped`] = report.badRows;
    metrics[`${split}.duplicates`] = report.duplicates.count;
    if (report.badRows > 0) ctx.log(`${report.file}: skipped ${report.badRows} bad rows`);
    if (report.duplicates.count > 0) {
      const where = report.duplicates.samples.map((d) => `line ${d.line} = line ${d.firstLine}`);
      ctx.log(`${report.file}: ${report.duplicates.count} exact duplicates (${where.join(", ")})`);
    }
  }

  const tokenizerPath = ctx.path(tokenizerParams.string("path"));
  const compactSize = tokenizerParams.integer("compact_vocab", 0);
  const outTokenizer = tokenizerDir(ctx.outDir);
  let tokenizer: Tokenizer;
  if (compactSize > 0) {
    // A small model keeps GPT-2's tokenization but only the tokens this corpus uses most.
    const corpus = splits.get("train")!.flatMap((e) => [e.document, e.summary]);
    const compact = buildCompactTokenizer(
      await loadBaseTokenizer(tokenizerPath),
      corpus,
      compactSize,
    );
    await compact.save(outTokenizer);
    tokenizer = compact;
  } else {
    tokenizer = await loadTokenizer(tokenizerPath);
    await Deno.mkdir(outTokenizer, { recursive: true });
    for (const name of ["vocab.json", "merges.txt", "tokenizer.json", compactVocabFileName]) {
      try {
        await Deno.copyFile(join(tokenizerPath, name), join(outTokenizer, name));
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      }
    }
  }
  metrics.vocabSize = tokenizer.vocabSize;

  let done = 0;
  const total = [...splits.values()].reduce((n, s) => n + s.length, 0);
  for (const [split, examples] of splits) {
    const lengths: { documentTokens: number; summaryTokens: number }[] = [];
    const tokenized: TokenizedExample[] = examples.map((example) => {
      const formatted = formatExample(tokenizer, example, { ...budgets, template });
      lengths.push(formatted);
      ctx.progress(++done, total, `tokenizing ${split}`);
      return {
        id: example.id,
        document: example.document,
        summary: example.summary,
        ids: formatted.ids,
        promptLength: formatted.promptLength,
      };
    });
    await writeSplit(ctx.outDir, split, tokenized);
    for (const [name, value] of Object.entries(tokenLengthStatistics(lengths, budgets))) {
      metrics[`${split}.${name}`] = value;
    }
  }
  return { metrics };
}
