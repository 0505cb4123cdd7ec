/**
 * corpus: the pretraining text of a base model. Reads title/abstract files (JSONL or CSV, plain or
 * gzip-compressed) with the same row checks as the task data, keeps the first record of each id,
 * writes every record through a template (default `{title}\n{text}`, arXiv's own order, so the
 * base never sees the abstract → title task), builds the compact GPT-2 vocabulary over the
 * training text and writes each split as a uint16 token stream with `<|endoftext|>` after every
 * document.
 *
 * @module
 */
import { type Example, readExamples } from "../lib/data/mod.ts";
import { buildCompactTokenizer, loadBaseTokenizer } from "../lib/tokenizer/mod.ts";
import { Params } from "../lib/stagekit/params.ts";
import { ConfigError } from "../lib/config/errors.ts";
import { tokenizerDir } from "../lib/stagekit/tokenized.ts";
import {
  maxStreamVocab,
  streamFile,
  streamSplits,
  writeTokenStream,
} from "../lib/stagekit/token_stream.ts";
import type { MetricValue, StageContext, StageResult } from "../lib/run/types.ts";

const defaultTemplate = "{title}\n{text}";

/** Reads every source of one split, first record of each id wins. */
async function readSource(
  sources: Params[],
  seenIds: Set<string>,
  ctx: StageContext,
): Promise<{ records: Example[]; duplicateIds: number }> {
  const records: Example[] = [];
  let duplicateIds = 0;
  for (const source of sources) {
    const path = source.string("path");
    const { examples, report } = await readExamples(ctx.path(path), {
      documentField: source.string("text_field", "document"),
      summaryField: source.string("title_field", "summary"),
      idField: source.string("id_field", "id"),
      onBadRow: source.choice("on_bad_row", ["fail", "skip"] as const, "fail"),
      limit: source.has("limit") ? source.integer("limit", undefined, 1) : undefined,
    });
    let kept = 0;
    for (const example of examples) {
      if (seenIds.has(example.id)) {
        duplicateIds++;
        continue;
      }
      seenIds.add(example.id);
      records.push(example);
      kept++;
    }
    ctx.log(`${path}: ${report.examples} records read, ${kept} kept, ${report.badRows} bad rows`);
  }
  return { records, duplicateIds };
}

/** Runs the stage (see the module doc). */
export async function run(ctx: StageContext): Promise<StageResult> {
  const params = new Params(ctx.params);
  const template = params.string("template", defaultTemplate);
  if (!template.includes("{title}") || !template.includes("{text}")) {
    throw new ConfigError(params.key("template"), "must contain {title} and {text}");
  }
  const tokenizerParams = params.section("tokenizer");
  const metrics: Record<string, MetricValue> = {};

  // Validation ids are claimed first, so a training source can never repeat one.
  const seenIds = new Set<string>();
  const validation = await readSource(params.sections("validation"), seenIds, ctx);
  const train = await readSource(params.sections("train"), seenIds, ctx);
  if (train.records.length === 0) throw new ConfigError(params.key("train"), "lists no source");
  const textOf = (e: Example) =>
    template.replaceAll("{title}", e.summary).replaceAll("{text}", e.document);

  const tokenizer = buildCompactTokenizer(
    await loadBaseTokenizer(ctx.path(tokenizerParams.string("path"))),
    train.records.map(textOf),
    tokenizerParams.integer("compact_vocab", undefined, 1),
  );
  if (tokenizer.vocabSize > maxStreamVocab) {
    throw new ConfigError(
      params.key("tokenizer.compact_vocab"),
      `${tokenizer.vocabSize} tokens do not fit a uint16 stream (at most ${maxStreamVocab})`,
    );
  }
  await tokenizer.save(tokenizerDir(ctx.outDir));
  metrics.vocabSize = tokenizer.vocabSize;

  const total = train.records.length + validation.records.length;
  let done = 0;
  for (const split of streamSplits) {
    const { records, duplicateIds } = split === "train" ? train : validation;
    let ids = new Uint16Array(1 << 20);
    let length = 0;
    let characters = 0;
    for (const record of records) {
      const text = textOf(record);
      characters += text.length;
      const encoded = tokenizer.encode(text);
      encoded.push(tokenizer.eosId);
      if (length + encoded.length > ids.length) {
        const grown = new Uint16Array(Math.max(ids.length * 2, length + encoded.length));
        grown.set(ids.subarray(0, length));
        ids = grown;
      }
      ids.set(encoded, length);
      length += encoded.length;
      if (++done % 1000 === 0 || done === total) ctx.progress(done, total, `tokenizing ${split}`);
    }
    await writeTokenStream(streamFile(ctx.outDir, split), ids.subarray(0, length));
    metrics[`${split}.documents`] = records.length;
    metrics[`${split}.duplicateIdsDropped`] = duplicateIds;
    metrics[`${split}.tokens`] = length;
    metrics[`${split}.charactersPerToken`] = length > 0 ? characters / length : 0;
  }
  return { metrics };
}
