import * as tf from "@tensorflow/tfjs-core";
import { assert } from "./engine_assert.ts";
import { initEngine, MemoryMeter } from "../lib/engine/mod.ts";

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
