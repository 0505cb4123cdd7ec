import * as tf from "@tensorflow/tfjs-core";
import { assert, assertEquals, assertRejects } from "./engine_assert.ts";
import { assertNoTensorLeak, initEngine, MemoryMeter, TensorLeakError } from "../lib/engine/mod.ts";

Deno.test("memory meter: peak tensor bytes count a tensor that was freed before stop()", async () => {
  await initEngine({ backend: "cpu" });
  const meter = new MemoryMeter(0);
  const before = tf.memory().numBytes;
  const big = tf.zeros([1000, 250]); // 1,000,000 bytes
  meter.sample();
  big.dispose();
  const peak = meter.stop();
  assert(peak.peakTensorBytes >= before + 1_000_000, `peak ${peak.peakTensorBytes}`);
  assert(peak.peakRssBytes > 0 && peak.peakRssBytes >= Deno.memoryUsage().rss * 0.5);
});

Deno.test("memory meter: its timer samples while the event loop runs", async () => {
  await initEngine({ backend: "cpu" });
  const meter = new MemoryMeter(5);
  const big = tf.zeros([1000, 500]); // 2,000,000 bytes
  await new Promise((resolve) => setTimeout(resolve, 40));
  big.dispose();
  assert(meter.stop().peakTensorBytes >= 2_000_000);
});

Deno.test("leak check: a step that keeps one tensor per call is reported with both counts", async () => {
  await initEngine({ backend: "cpu" });
  const kept: tf.Tensor[] = [];
  const error = await assertRejects(
    () => assertNoTensorLeak(() => void kept.push(tf.ones([2])), 5),
    TensorLeakError,
  );
  assertEquals(error.tensorsAtEnd - error.tensorsAfterWarmup, 4);
  tf.dispose(kept);
});

Deno.test("leak check: a tidy step with lasting state from its first call passes", async () => {
  await initEngine({ backend: "cpu" });
  let state: tf.Tensor | undefined;
  await assertNoTensorLeak(() => {
    state ??= tf.zeros([3]); // like optimizer slots created on the first step
    const next = tf.tidy(() => tf.add(state!, tf.ones([3])));
    state.dispose();
    state = next;
  }, 10);
  assertEquals(Array.from(state!.dataSync()), [10, 10, 10]);
  state!.dispose();
});
