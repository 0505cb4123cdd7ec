/**
 * `deno run -A scripts/publish_base.ts [--file pipelines/base.yaml] [--to models/arxiv-gpt2-5m]`
 *
 * Copies the base model that `pipelines/base.yaml` built (the pretrain stage's `model/` folder in
 * the cache, as recorded in the pipeline's lock) into a model folder of the repository and writes
 * its model card (`README.md`, with the loss curve as `loss_curve.svg`) from the lock's figures:
 * data, recipe, tokens seen, curves, the sha256 of every file and the output hash it came from.
 * Run it after `deno task pipeline --file pipelines/base.yaml`; it changes nothing in the cache.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { dirname, join } from "node:path";
import { createHash } from "node:crypto";
import { outputPath, readLock } from "../lib/cache/mod.ts";
import { loadPipeline } from "../lib/dag/load.ts";
import { renderSvg } from "../lib/report/charts.ts";
import type { ChartSpec } from "../lib/report/charts.ts";

/** Files of the pretrain output's model folder that make up a published model. */
const modelFiles = [
  "config.json",
  "model.safetensors",
  "vocab.json",
  "merges.txt",
  "compact_vocab.json",
];
/** Training steps averaged into one point of the training-loss curve. */
const curveWindowSteps = 50;

type Metrics = Record<string, unknown>;

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function numbers(metrics: Metrics, key: string): number[] {
  const value = metrics[key];
  if (!Array.isArray(value)) throw new Error(`the lock's pretrain metrics lack ${key}`);
  return value as number[];
}

function lossCurveSpec(pretrain: Metrics, tokensPerStep: number): ChartSpec {
  const train = numbers(pretrain, "trainLossCurve");
  const values: { tokens: number; loss: number; curve: string }[] = [];
  for (let start = 0; start < train.length; start += curveWindowSteps) {
    const window = train.slice(start, start + curveWindowSteps);
    values.push({
      tokens: (start + window.length) * tokensPerStep / 1e6,
      loss: window.reduce((a, b) => a + b, 0) / window.length,
      curve: `training (mean of ${curveWindowSteps} steps)`,
    });
  }
  numbers(pretrain, "validationLossCurve").forEach((loss, i) =>
    values.push({
      tokens: numbers(pretrain, "validationSteps")[i] * tokensPerStep / 1e6,
      loss,
      curve: "validation",
    })
  );
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: "Pretraining loss",
    width: 480,
    height: 280,
    data: { values },
    mark: { type: "line", point: true },
    encoding: {
      x: { field: "tokens", type: "quantitative", title: "Training tokens seen (millions)" },
      y: {
        field: "loss",
        type: "quantitative",
        title: "Loss (nats per token)",
        scale: { zero: false },
      },
      color: { field: "curve", type: "nominal", title: null },
    },
  } as ChartSpec;
}

function table(rows: string[][]): string {
  const [head, ...body] = rows;
  return [
    `| ${head.join(" | ")} |`,
    `|${head.map(() => "---").join("|")}|`,
    ...body.map((row) => `| ${row.join(" | ")} |`),
  ].join("\n");
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      file: { type: "string", default: "pipelines/base.yaml" },
      to: { type: "string", default: "models/arxiv-gpt2-5m" },
    },
  });
  const file = values.file!;
  const to = values.to!;
  const pipeline = await loadPipeline(file);
  const lockPath = file.replace(/\.ya?ml$/, ".lock");
  const lock = await readLock(lockPath);
  const pretrain = lock.stages.pretrain;
  const corpus = lock.stages.corpus;
  if (!pretrain || !corpus) throw new Error(`${lockPath}: no corpus and pretrain stages recorded`);
  const source = join(outputPath(pipeline.cacheDir, pretrain.output), "model");

  const temporary = `${to}.${crypto.randomUUID()}.tmp`;
  await Deno.mkdir(temporary, { recursive: true });
  const hashes: string[][] = [["file", "sha256"]];
  for (const name of modelFiles) {
    const bytes = await Deno.readFile(join(source, name));
    await Deno.writeFile(join(temporary, name), bytes);
    hashes.push([`\`${name}\``, `\`${sha256(bytes)}\``]);
  }

  const m = pretrain.metrics as Metrics;
  const c = corpus.metrics as Metrics;
  const training = pretrain.params.training as Record<string, unknown>;
  const model = pretrain.params.model as Record<string, unknown>;
  const blockSize = pretrain.params.block_size as number;
  const tokensPerStep = (training.batch_size as number) * blockSize;
  await Deno.writeTextFile(
    join(temporary, "loss_curve.svg"),
    await renderSvg(lossCurveSpec(m, tokensPerStep)),
  );
  const validation = numbers(m, "validationLossCurve");
  const validationSteps = numbers(m, "validationSteps");
  const byPosition = numbers(m, "validationLossByPosition");
  const bucket = m.positionBucketTokens as number;
  const hours = (m.trainSeconds as number) / 3600;
  const trainSources = (corpus.params.train as { path: string }[]).map((s) => `\`${s.path}\``);
  const card = `# arxiv-gpt2-5m

A small GPT-2 (${
    (m.totalParams as number).toLocaleString("en-US")
  } parameters: ${model.n_layer} layers, ${model.n_embd} wide, ${model.n_head} heads, ${blockSize} positions) pretrained from scratch on arXiv titles and abstracts. It is the base that peftlab's default pipeline (\`pipeline.yaml\`) adapts with prompt tuning, LoRA and fine-tuning of its last blocks. Hugging Face GPT-2 layout: \`config.json\` + \`model.safetensors\` (float32) load in peftlab and in \`transformers\` (\`GPT2LMHeadModel\`).

**Tokenizer.** GPT-2's byte-level BPE with a compact vocabulary of ${c.vocabSize} ids: the 256 bytes, \`<|endoftext|>\` (id 256) and the ${
    (c.vocabSize as number) - 257
  } GPT-2 tokens the corpus uses most (\`compact_vocab.json\` lists them in id order over \`vocab.json\` + \`merges.txt\`). Text is GPT-2-tokenized; a GPT-2 token outside the kept set is split along the BPE merges that built it until every piece is kept (" Reweighting" → " R" "ew" "e" "ight" "ing"). Measured on 2,000 held-out corpus records (compact vocabulary built from 20,000 others): GPT-2 carries 5.06 characters per token; the compact vocabulary carries 3.83 / 4.51 / 4.79 / 4.91 at 4,096 / 8,192 / 12,288 / 16,384 kept tokens. Writing rare tokens as bytes instead, as an earlier version did, carries only 3.57 at 8,192, and 47% of all tokens are then bytes the model must learn to spell; that base wrote letter soup. At this model shape training runs at 2,542 / 1,963 / 1,692 tokens/s for 8,192 / 12,288 / 16,384 kept tokens, so 8,192 carries the most text per second of training (about 11.5k characters/s against 9.4k and 8.3k). **It is not GPT-2's tokenizer**: \`transformers\`' GPT2Tokenizer does not know the compact ids, so use peftlab's (\`lib/tokenizer\`) to encode text for this model.

**Context.** Trained on blocks of ${blockSize} tokens, so every position is trained; \`config.json\` records it as \`peftlab_trained_context\`, and peftlab refuses longer sequences. Validation loss by position (nats/token, ${bucket}-token buckets): ${
    byPosition.map((loss, i) => `${i * bucket}–${(i + 1) * bucket - 1}: ${loss.toFixed(3)}`).join(
      "; ",
    )
  }.

## Data

${
    trainSources.join(" and ")
  }: the CC0 arXiv pretraining corpus (113,449 titles and abstracts from 155 categories, astro-ph removed; none of them in the validation or test splits of \`data/arxiv-cs-abstract-title\`, see \`data/arxiv-pretrain-corpus/SOURCE.md\`) plus the training split of the task data. Records are deduplicated by arXiv id (${
    c["train.duplicateIdsDropped"]
  } repeats dropped): ${(c["train.documents"] as number).toLocaleString("en-US")} documents, ${
    (c["train.tokens"] as number).toLocaleString("en-US")
  } tokens. Each is written in arXiv's own order, \`{title}\\n{abstract}\` followed by \`<|endoftext|>\`, so the model learns the language of titles and abstracts without ever seeing the abstract → title task. Validation: the first ${
    c["validation.documents"]
  } records of \`data/arxiv-cs-abstract-title/validation.jsonl\` in the same form (${validation.length} evaluations of ${pretrain.params.validation_blocks} blocks).

## Recipe

${
    table([
      ["setting", "value"],
      ["steps", `${m.steps} optimizer steps of ${training.batch_size} × ${blockSize} tokens`],
      [
        "tokens seen",
        `${(m.trainTokens as number).toLocaleString("en-US")} (${
          ((m.trainTokens as number) / (c["train.tokens"] as number)).toFixed(2)
        } of an epoch; blocks drawn in a seeded shuffle)`,
      ],
      [
        "optimizer",
        `AdamW, β₂ ${
          training.adam_beta2 ?? 0.999
        }, weight decay ${training.weight_decay} (not on biases and norms), gradient norm clipped to ${training.max_grad_norm}`,
      ],
      [
        "learning rate",
        `${training.learning_rate}, ${training.warmup_steps} warmup steps, then ${training.lr_schedule} decay to 0`,
      ],
      ["dropout", String(model.dropout)],
      ["seed", String(pretrain.params.seed)],
      ["hardware", `${m.threads} CPU cores, backend \`${m.backend}\` (no GPU was used)`],
      [
        "wall time",
        `${hours.toFixed(2)} h of training (${
          pretrain.duration_s.toFixed(0)
        } s for the whole stage)`,
      ],
    ])
  }

## Loss curve

![pretraining loss](loss_curve.svg)

${
    table([
      ["step", "tokens seen", "validation loss (nats/token)"],
      ...validation.map((loss, i) => [
        String(validationSteps[i]),
        `${(validationSteps[i] * tokensPerStep / 1e6).toFixed(2)} M`,
        loss.toFixed(4),
      ]),
    ])
  }

Final training loss (last step): ${(m.finalTrainLoss as number).toFixed(4)}.

## Reproduce

\`\`\`sh
deno task pipeline --file pipelines/base.yaml          # resumable; rerun after a kill
deno run -A scripts/publish_base.ts                    # copies the result here with this card
deno task pipeline repro --file pipelines/base.yaml    # rebuilds from scratch, compares with the lock
\`\`\`

Provenance: \`${file}\`, stage \`pretrain\`, lock key \`${pretrain.key}\`, output \`${pretrain.output}\`.

${table(hashes)}

## License

Weights: MIT, like peftlab (they are trained only on CC0 text). Training data: arXiv metadata, CC0 1.0. \`vocab.json\` and \`merges.txt\`: OpenAI's GPT-2 tokenizer files, MIT.
`;
  await Deno.writeTextFile(join(temporary, "README.md"), card);
  await Deno.mkdir(dirname(to), { recursive: true });
  await Deno.remove(to, { recursive: true }).catch(() => {});
  await Deno.rename(temporary, to);
  console.log(`published ${source} → ${to}`);
}

if (import.meta.main) await main();
