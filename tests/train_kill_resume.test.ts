import { deepStrictEqual, ok } from "node:assert/strict";

const root = new URL("../", import.meta.url);

/** A training run in its own process; prints `step N` after each step and `RESULT <json>` at the end. */
const childScript = `
import { initEngine } from "${new URL("lib/engine/mod.ts", root).href}";
import { createGPT2 } from "${new URL("lib/model/gpt2.ts", root).href}";
import { lora } from "${new URL("lib/peft/mod.ts", root).href}";
import { defaultTrainOptions, Rng, train } from "${new URL("lib/train/mod.ts", root).href}";
await initEngine({ backend: "cpu" });
const [checkpointDir, delayMs] = [Deno.args[0] || undefined, Number(Deno.args[1] ?? 0)];
const rng = new Rng(5);
const example = () => {
  const doc = Array.from({ length: 6 }, () => 1 + Math.floor(rng.next() * 29));
  const ids = [...doc, 31, doc[0], doc[1]];
  return { ids, labels: ids.map((id, i) => (i > 6 ? id : -100)) };
};
const data = { train: Array.from({ length: 24 }, example), validation: Array.from({ length: 6 }, example) };
const model = createGPT2({ nLayer: 2, nHead: 2, nEmbd: 16, vocabSize: 32, nPositions: 32,
  layerNormEpsilon: 1e-5, activationFunction: "gelu_new", dropout: 0.1 }, 1);
const applied = lora.apply(model, lora.parseConfig({ r: 2, dropout: 0.1 }, "lora"), 2);
const pause = new Int32Array(new SharedArrayBuffer(4));
const result = await train(model, applied, data, { ...defaultTrainOptions, seed: 7, batchSize: 4,
  gradientAccumulation: 2, learningRate: 1e-2, warmupSteps: 2, epochs: 4, checkpointEverySteps: 2,
  earlyStoppingPatience: 3 }, {
  checkpointDir,
  progress: (u) => {
    if (u.phase !== "train") return;
    console.log("step " + u.step);
    if (delayMs > 0) Atomics.wait(pause, 0, 0, delayMs);
  },
});
const weights = Object.fromEntries([...applied.trainable].map(([n, v]) => [n, Array.from(v.dataSync())]));
console.log("RESULT " + JSON.stringify({ ...result, weights }));
`;

function spawnChild(script: string, args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", new URL("deno.json", root).pathname, script, ...args],
    stdout: "piped",
    stderr: "null",
  }).spawn();
}

async function runToEnd(script: string, args: string[]): Promise<Record<string, unknown>> {
  const child = spawnChild(script, args);
  const output = new TextDecoder().decode((await child.output()).stdout);
  const line = output.split("\n").find((l) => l.startsWith("RESULT "));
  ok(line, `no result in:\n${output}`);
  return JSON.parse(line.slice("RESULT ".length));
}

function comparable(result: Record<string, unknown>) {
  const {
    trainSeconds: _s,
    validationSeconds: _v,
    checkpointSeconds: _c,
    tokensPerSecond: _t,
    peakMemory: _p,
    resumedFromStep: _r,
    ...rest
  } = result;
  return rest;
}

Deno.test("trainer: kill -9 mid-epoch, rerun, and training resumes and ends with the same metrics and weights", async () => {
  const work = await Deno.makeTempDir();
  const script = `${work}/child.ts`;
  await Deno.writeTextFile(script, childScript);
  const checkpointDir = `${work}/checkpoints`;

  const uninterrupted = await runToEnd(script, ["", "0"]);
  deepStrictEqual(uninterrupted.steps, 12);

  const victim = spawnChild(script, [checkpointDir, "150"]);
  const reader = victim.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  while (!seen.includes("step 5\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    seen += value;
  }
  victim.kill("SIGKILL");
  const status = await victim.status;
  await reader.cancel().catch(() => {});
  ok(!status.success && status.signal === "SIGKILL", "the first run must die by SIGKILL mid-run");
  ok(!seen.includes("RESULT"), "the first run must not have finished");

  const resumed = await runToEnd(script, [checkpointDir, "0"]);
  ok((resumed.resumedFromStep as number) >= 4, `resumed from ${resumed.resumedFromStep}`);
  ok((resumed.resumedFromStep as number) < 12);
  deepStrictEqual(comparable(resumed), comparable(uninterrupted));
  await Deno.remove(work, { recursive: true });
});
