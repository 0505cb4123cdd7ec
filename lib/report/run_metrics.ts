/**
 * The input of the report: one record per evaluated run (a method × seed cell), and its
 * validation. Every other module in `lib/report/` trusts a `RunMetrics` that passed
 * {@linkcode validateRunMetrics}.
 *
 * @module
 */

/** A 95% confidence interval `[low, high]` (bootstrap over test examples). */
export type ConfidenceInterval = [low: number, high: number];

/** One test example with the summary a run produced for it. */
export interface SamplePrediction {
  /** Example id, the same across methods and seeds (used to line predictions up). */
  id: string;
  /** The input document. */
  document: string;
  /** The human-written reference summary. */
  reference: string;
  /** The summary the tuned model generated. */
  prediction: string;
  /** This prediction's ROUGE-1 F-measure (0..1), for paired comparisons between methods. */
  rouge1?: number;
  /** This prediction's ROUGE-2 F-measure (0..1). */
  rouge2?: number;
  /** This prediction's ROUGE-L F-measure (0..1). */
  rougeL?: number;
}

/**
 * Everything the table and the report show about one evaluated run: the tuning method, the
 * seed, the test ROUGE F-measures (fractions in 0..1) with their CIs, training figures and
 * the test predictions. A baseline run (`baseline: true`: the untuned base, or a rule such as
 * the lead words, with no model at all) trains nothing: its trainable count is 0 and the figures
 * in {@linkcode BASELINE_OPTIONAL_FIELDS} may be null.
 */
export interface RunMetrics {
  /** Tuning method name, e.g. `"prompt"`, `"lora"`, `"full"`, `"ia3"`. One table row per method. */
  method: string;
  /** True for a row that involves no training (`lead`, `base`). */
  baseline?: boolean;
  /** Training seed; several seeds of one method are averaged into one row. */
  seed: number;
  /** Corpus ROUGE-1 F-measure on the test split (0..1). */
  rouge1: number;
  /** 95% bootstrap CI of `rouge1`. */
  rouge1Ci: ConfidenceInterval;
  /** Corpus ROUGE-2 F-measure on the test split (0..1). */
  rouge2: number;
  /** 95% bootstrap CI of `rouge2`. */
  rouge2Ci: ConfidenceInterval;
  /** Corpus ROUGE-L F-measure on the test split (0..1). */
  rougeL: number;
  /** 95% bootstrap CI of `rougeL`. */
  rougeLCi: ConfidenceInterval;
  /** Validation loss of the evaluated (best) checkpoint, nats per token. */
  validationLoss: number | null;
  /** Validation loss after each epoch, in order (at least one value). */
  validationLossCurve: number[];
  /** Number of parameters the optimizer updated. */
  trainableParams: number;
  /** Number of parameters of the whole model including adapters/soft prompt. */
  totalParams: number | null;
  /**
   * Wall seconds of the optimisation steps only (forward, backward, accumulation, clipping,
   * update), summed over resumed sessions; validation and checkpoints are not included.
   */
  trainSeconds: number | null;
  /** Wall seconds of the validation passes during training. */
  validationSeconds: number | null;
  /** Wall seconds of writing resumable checkpoints during training. */
  checkpointSeconds: number | null;
  /** Training throughput: real (non-padding) tokens per second of `trainSeconds`. */
  tokensPerSecond: number | null;
  /** Peak process resident set size while training, bytes (sampled; the whole process). */
  peakTrainRssBytes: number | null;
  /**
   * Exact peak of live TensorFlow.js tensor storage while training, bytes: weights, optimizer
   * moments, gradients and what back-propagation keeps, each buffer counted once.
   */
  peakTrainTensorBytes: number | null;
  /** Peak device bytes allocated while training (webgpu: GPU buffers, tfjs's pool included); null on CPU backends. */
  peakTrainDeviceBytes?: number | null;
  /** Peak process resident set size while evaluating, bytes (sampled; the whole process). */
  peakEvalRssBytes: number | null;
  /**
   * Exact peak of live TensorFlow.js tensor storage over the test-loss pass and generation,
   * bytes (weights, activations, logits, KV cache); the same meter as `peakTrainTensorBytes`.
   */
  peakEvalTensorBytes: number | null;
  /** Peak device bytes allocated while evaluating (webgpu); null on CPU backends. */
  peakEvalDeviceBytes?: number | null;
  /** Evaluation (generation + scoring) wall time, seconds. */
  evalSeconds: number;
  /** Test predictions, in the order the evaluate stage wrote them. */
  samples: SamplePrediction[];
}

/** The figures a train stage measures; the evaluate stage carries them into its record. */
export const TRAIN_FIELDS = [
  "trainableParams",
  "totalParams",
  "trainSeconds",
  "validationSeconds",
  "checkpointSeconds",
  "tokensPerSecond",
  "peakTrainRssBytes",
  "peakTrainTensorBytes",
  "peakTrainDeviceBytes",
] as const;

/** The numeric fields of {@linkcode RunMetrics}; each must be a finite number. */
export const NUMERIC_FIELDS = [
  "rouge1",
  "rouge2",
  "rougeL",
  "validationLoss",
  ...TRAIN_FIELDS,
  "peakEvalRssBytes",
  "peakEvalTensorBytes",
  "peakEvalDeviceBytes",
  "evalSeconds",
] as const;

type NumericField = typeof NUMERIC_FIELDS[number];

/** Figures only a backend with a device reports (webgpu): null or absent on any other run. */
export const DEVICE_FIELDS: readonly NumericField[] = [
  "peakTrainDeviceBytes",
  "peakEvalDeviceBytes",
];

/**
 * Figures a baseline run may lack (no training; for a rule, no model): null there. Its
 * trainable count is 0, never null.
 */
export const BASELINE_OPTIONAL_FIELDS: readonly NumericField[] = NUMERIC_FIELDS.filter((field) =>
  field.startsWith("peak") ? !DEVICE_FIELDS.includes(field) : [
    "validationLoss",
    "totalParams",
    "trainSeconds",
    "validationSeconds",
    "checkpointSeconds",
    "tokensPerSecond",
  ].includes(field)
);

/** The per-example score fields of a {@linkcode SamplePrediction}, for paired comparisons. */
export const EXAMPLE_SCORE_FIELDS = ["rouge1", "rouge2", "rougeL"] as const;

/** The confidence-interval fields of {@linkcode RunMetrics}; each must be `[low, high]`. */
export const INTERVAL_FIELDS = ["rouge1Ci", "rouge2Ci", "rougeLCi"] as const;

/**
 * Every figure of a {@linkcode RunMetrics} besides method, seed and samples: the metric keys an
 * evaluate stage's `metrics.json` must carry, spelled exactly as the fields.
 */
export const RUN_METRIC_KEYS = [
  ...NUMERIC_FIELDS,
  ...INTERVAL_FIELDS,
  "validationLossCurve",
] as const;

/**
 * A report input that is missing or malformed. `where` names the run (`method=lora seed=1`)
 * or the file and line; `field` names the metric or key that is wrong.
 */
export class ReportInputError extends Error {
  /** The run or file the bad value belongs to. */
  readonly where: string;
  /** The metric or key that is missing or wrong. */
  readonly field: string;
  /** What is wrong with it, e.g. `missing`. */
  readonly problem: string;

  /** Builds the message `<where>: <field> <problem>`. */
  constructor(where: string, field: string, problem: string) {
    super(`${where}: ${field} ${problem}`);
    this.name = "ReportInputError";
    this.where = where;
    this.field = field;
    this.problem = problem;
  }
}

function describe(value: unknown): string {
  if (value === undefined) return "missing";
  return `must be a finite number, got ${JSON.stringify(value) ?? String(value)}`;
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value);
}

/**
 * Checks one run record field by field and returns it unchanged. Throws
 * {@linkcode ReportInputError} naming the method, the seed and the first bad field: a missing or
 * non-finite number, a ROUGE score outside 0..1, a CI that is not `[low, high]` with
 * low ≤ high, an empty loss curve, no trainable parameters, trainable > total parameters, a negative size or time, or a
 * sample whose id/document/reference/prediction is not a string.
 */
export function validateRunMetrics(run: RunMetrics): RunMetrics {
  if (typeof run.method !== "string" || run.method.trim() === "") {
    throw new ReportInputError(`seed=${run.seed}`, "method", "must be a non-empty string");
  }
  const where = `method=${run.method} seed=${run.seed}`;
  if (!Number.isInteger(run.seed)) {
    throw new ReportInputError(where, "seed", "must be an integer");
  }
  if (run.baseline !== undefined && typeof run.baseline !== "boolean") {
    throw new ReportInputError(where, "baseline", "must be true or false");
  }
  for (const field of NUMERIC_FIELDS) {
    const value: unknown = run[field];
    if (value === null && run.baseline && BASELINE_OPTIONAL_FIELDS.includes(field)) continue;
    if ((value === null || value === undefined) && DEVICE_FIELDS.includes(field)) continue;
    if (!isFiniteNumber(value)) throw new ReportInputError(where, field, describe(value));
    if (value < 0 && field !== "validationLoss") {
      throw new ReportInputError(where, field, `must not be negative, got ${value}`);
    }
  }
  for (const field of ["rouge1", "rouge2", "rougeL"] as const) {
    if (run[field] > 1) {
      throw new ReportInputError(where, field, `must be a fraction in 0..1, got ${run[field]}`);
    }
  }
  for (const field of INTERVAL_FIELDS) {
    const value: unknown = run[field];
    if (value === undefined) throw new ReportInputError(where, field, "missing");
    if (
      !Array.isArray(value) || value.length !== 2 || !value.every(isFiniteNumber) ||
      value[0] > value[1]
    ) {
      throw new ReportInputError(
        where,
        field,
        `must be [low, high] with low <= high, got ${JSON.stringify(value)}`,
      );
    }
  }
  const curve: unknown = run.validationLossCurve;
  if (curve === undefined) throw new ReportInputError(where, "validationLossCurve", "missing");
  if (
    !Array.isArray(curve) || (curve.length === 0 && !run.baseline) ||
    !curve.every(isFiniteNumber)
  ) {
    throw new ReportInputError(
      where,
      "validationLossCurve",
      "must be a non-empty list of finite numbers",
    );
  }
  if (run.baseline) {
    if (run.trainableParams !== 0) {
      throw new ReportInputError(
        where,
        "trainableParams",
        `must be 0 for a baseline, got ${run.trainableParams}`,
      );
    }
  } else {
    for (const field of ["trainableParams", "totalParams"] as const) {
      if (run[field]! < 1) {
        throw new ReportInputError(where, field, `must be at least 1, got ${run[field]}`);
      }
    }
  }
  if (run.totalParams !== null && run.trainableParams > run.totalParams) {
    throw new ReportInputError(
      where,
      "trainableParams",
      `(${run.trainableParams}) exceeds totalParams (${run.totalParams})`,
    );
  }
  if (!Array.isArray(run.samples)) {
    throw new ReportInputError(where, "samples", "must be a list of predictions");
  }
  run.samples.forEach((sample, index) => {
    for (const key of ["id", "document", "reference", "prediction"] as const) {
      if (typeof sample?.[key] !== "string") {
        throw new ReportInputError(where, `samples[${index}].${key}`, "must be a string");
      }
    }
    for (const key of EXAMPLE_SCORE_FIELDS) {
      const score: unknown = sample[key];
      if (score !== undefined && !(isFiniteNumber(score) && score >= 0 && score <= 1)) {
        throw new ReportInputError(where, `samples[${index}].${key}`, "must be a number in 0..1");
      }
    }
  });
  return run;
}
