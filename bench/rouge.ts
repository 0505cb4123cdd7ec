/**
 * `deno task bench:rouge`: ROUGE (rouge1, rouge2, rougeL, rougeLsum) throughput on 100,000 title
 * pairs of the embedded dataset (title i as the prediction, title i+1 as the reference, all
 * splits in id order, wrapping around), with and without stemming, against
 * `bench/rouge_port.py`, a plain-Python port of Google's rouge-score run on the same pairs.
 *
 * The port is rouge-score's algorithm without its wrappers (absl, six, namedtuples), so it is at
 * least as fast as rouge-score itself; it checks itself against tests/fixtures/rouge before it
 * is timed. rouge-score cannot be installed here (no PyPI), so "10× rouge-score" is checked as
 * ≥ {@link TARGET_SPEEDUP}× this port.
 *
 * Two figures per mode:
 * - in process: pairs/s of `RougeScorer` (median of {@link TIMED_RUNS} runs, each with a fresh
 *   scorer; the stem memo is shared across runs, so `first_run` reports the fully cold run)
 *   against the port's own timing of its scoring loop;
 * - end to end: wall seconds of `deno task rouge PAIRS.jsonl` (process start, reading and
 *   validating the JSONL, scoring, output) against `python3 bench/rouge_port.py PAIRS.jsonl`.
 *
 * Options: `--pairs N` (default 100000), `--no-port` (skip Python). Prints JSON.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { parseFlags } from "../cli/args.ts";
import { RougeScorer } from "../lib/eval/mod.ts";

const DEFAULT_PAIR_COUNT = 100_000;
const TIMED_RUNS = 5;
const TARGET_SPEEDUP = 10;
/** The CLI's and the port's mean rougeLsum must agree to this (they score the same pairs). */
const SCORE_AGREEMENT_TOLERANCE = 1e-9;
const DATA_DIR = new URL("../data/arxiv-cs-abstract-title/", import.meta.url);
const CLI_PATH = fileURLToPath(new URL("../cli/rouge.ts", import.meta.url));
const PORT_PATH = fileURLToPath(new URL("./rouge_port.py", import.meta.url));
const FIXTURE_DIR = fileURLToPath(new URL("../tests/fixtures/rouge", import.meta.url));
const MODES = { no_stem: [] as string[], stem: ["--stem"] };
type Mode = keyof typeof MODES;

async function readTitles(): Promise<string[]> {
  const titles: { id: string; summary: string }[] = [];
  for (const split of ["train", "validation", "test"]) {
    const text = await Deno.readTextFile(new URL(`${split}.jsonl`, DATA_DIR));
    for (const line of text.split("\n")) {
      if (line.trim() !== "") titles.push(JSON.parse(line));
    }
  }
  titles.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return titles.map((row) => row.summary);
}

function timeInProcess(pairs: [string, string][], stem: boolean): number {
  const scorer = new RougeScorer({ stem });
  const startMs = performance.now();
  let checksum = 0;
  for (const [prediction, reference] of pairs) {
    checksum += scorer.score(prediction, reference).rougeLsum.fmeasure;
  }
  const elapsedMs = performance.now() - startMs;
  if (!Number.isFinite(checksum)) throw new Error("non-finite ROUGE");
  return pairs.length / (elapsedMs / 1000);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** Runs a command; returns its wall seconds and stdout, or throws with its stderr. */
async function timeCommand(
  command: string,
  args: string[],
): Promise<{ seconds: number; stdout: string }> {
  const startMs = performance.now();
  const output = await new Deno.Command(command, { args, stdout: "piped", stderr: "piped" })
    .output();
  const seconds = (performance.now() - startMs) / 1000;
  if (!output.success) {
    throw new Error(`${command} ${args.join(" ")}: ${new TextDecoder().decode(output.stderr)}`);
  }
  return { seconds, stdout: new TextDecoder().decode(output.stdout) };
}

const round = (value: number, digits = 1) => Number(value.toFixed(digits));

const flags = parseFlags({
  args: Deno.args,
  options: { pairs: { type: "string" }, "no-port": { type: "boolean", default: false } },
});
const pairCount = Number(flags.values.pairs ?? DEFAULT_PAIR_COUNT);
if (!Number.isInteger(pairCount) || pairCount < 1) throw new Error("--pairs: a positive integer");

const titles = await readTitles();
const pairs: [string, string][] = [];
for (let i = 0; i < pairCount; i++) {
  pairs.push([titles[i % titles.length], titles[(i + 1) % titles.length]]);
}
const pairsFile = await Deno.makeTempFile({ suffix: ".jsonl" });
await Deno.writeTextFile(
  pairsFile,
  pairs.map(([prediction, reference]) => JSON.stringify({ prediction, reference })).join("\n") +
    "\n",
);

try {
  const firstRun = { stem: timeInProcess(pairs, true), no_stem: timeInProcess(pairs, false) };
  const runs: Record<Mode, number[]> = { no_stem: [], stem: [] };
  for (let run = 0; run < TIMED_RUNS; run++) {
    runs.no_stem.push(timeInProcess(pairs, false));
    runs.stem.push(timeInProcess(pairs, true));
  }
  const inProcess = { no_stem: median(runs.no_stem), stem: median(runs.stem) };

  const endToEnd = {} as Record<Mode, { seconds: number; rougeLsum: number }>;
  const port = {} as Record<Mode, { pairsPerS: number; seconds: number; rougeLsum: number }>;
  const runPort = !flags.values["no-port"];
  if (runPort) {
    const check = await timeCommand("python3", [PORT_PATH, "--check", FIXTURE_DIR]);
    if (JSON.parse(check.stdout).failures !== 0) throw new Error(`port check: ${check.stdout}`);
  }
  for (const [mode, modeArgs] of Object.entries(MODES) as [Mode, string[]][]) {
    const cli = await timeCommand(Deno.execPath(), [
      "run",
      "--allow-read",
      CLI_PATH,
      pairsFile,
      ...modeArgs,
    ]);
    endToEnd[mode] = { seconds: cli.seconds, rougeLsum: JSON.parse(cli.stdout).rougeLsum };
    if (!runPort) continue;
    const python = await timeCommand("python3", [PORT_PATH, pairsFile, ...modeArgs]);
    const result = JSON.parse(python.stdout);
    port[mode] = {
      pairsPerS: result.pairs_per_s,
      seconds: python.seconds,
      rougeLsum: result.rougeLsum_sum / result.pairs,
    };
  }

  const modes = Object.keys(MODES) as Mode[];
  const perMode = <T>(f: (mode: Mode) => T) =>
    Object.fromEntries(modes.map((mode) => [mode, f(mode)])) as Record<Mode, T>;
  const speedup = runPort
    ? {
      in_process: perMode((m) => round(inProcess[m] / port[m].pairsPerS)),
      end_to_end: perMode((m) => round(port[m].seconds / endToEnd[m].seconds)),
    }
    : null;
  console.log(JSON.stringify(
    {
      pairs: pairCount,
      rouge_types: ["rouge1", "rouge2", "rougeL", "rougeLsum"],
      in_process_pairs_per_s: {
        peftlab: perMode((m) => Math.round(inProcess[m])),
        peftlab_first_run: perMode((m) => Math.round(firstRun[m])),
        runs: TIMED_RUNS,
        rouge_score_port: runPort ? perMode((m) => Math.round(port[m].pairsPerS)) : null,
      },
      end_to_end_seconds: {
        "deno task rouge": perMode((m) => round(endToEnd[m].seconds, 2)),
        rouge_score_port: runPort ? perMode((m) => round(port[m].seconds, 2)) : null,
      },
      speedup,
      target_speedup: TARGET_SPEEDUP,
      meets_target: speedup
        ? perMode((m) =>
          speedup.in_process[m] >= TARGET_SPEEDUP && speedup.end_to_end[m] >= TARGET_SPEEDUP
        )
        : null,
      scores_agree: runPort
        ? perMode((m) =>
          Math.abs(endToEnd[m].rougeLsum - port[m].rougeLsum) <= SCORE_AGREEMENT_TOLERANCE
        )
        : null,
    },
    null,
    2,
  ));
} finally {
  await Deno.remove(pairsFile);
}
