import * as tf from "@tensorflow/tfjs-core";
import { assert, assertEquals } from "./asserts.ts";
import { initEngine, MemoryMeter } from "../lib/engine/mod.ts";

Deno.test("memory meter: the tensor peak includes a tensor freed inside a synchronous call, with no sample()", async () => {
  await initEngine({ backend: "cpu" });
  const meter = new MemoryMeter(0);
  const before = tf.memory().numBytes;
  // One synchronous call: a timer could never fire between the allocation and the free.
  tf.tidy(() => {
    const zeros = tf.zeros([1000, 250]); // 1,000,000 bytes
    tf.add(zeros, zeros); // and another 1,000,000 while the first is alive
  });
  const peak = meter.stop();
  assertEquals(peak.peakTensorBytes, before + 2_000_000);
  assert(peak.peakRssBytes > 0 && peak.peakRssBytes >= Deno.memoryUsage().rss * 0.5);
  assertEquals(peak.peakDeviceBytes, undefined, "the cpu backend has no device bytes");
});

Deno.test("memory meter: a buffer shared by several handles (reshape) counts once", async () => {
  await initEngine({ backend: "cpu" });
  const meter = new MemoryMeter(0);
  const before = tf.memory().numBytes;
  const flat = tf.zeros([1_000_000]); // 4,000,000 bytes
  const views = [tf.reshape(flat, [1000, 1000]), tf.reshape(flat, [100, 10_000])];
  const handleBytes = tf.memory().numBytes - before; // tfjs counts each handle
  tf.dispose([flat, ...views]);
  assertEquals(handleBytes, 12_000_000);
  assertEquals(meter.stop().peakTensorBytes, before + 4_000_000);
});

Deno.test("memory meter: two meters at once each see their own span, and stop() is idempotent", async () => {
  await initEngine({ backend: "cpu" });
  const outer = new MemoryMeter(0);
  const base = tf.memory().numBytes;
  tf.dispose(tf.zeros([500_000])); // 2,000,000 bytes, before the inner meter
  const inner = new MemoryMeter(0);
  tf.dispose(tf.zeros([250_000])); // 1,000,000 bytes
  assertEquals(inner.stop().peakTensorBytes, base + 1_000_000);
  assertEquals(inner.stop().peakTensorBytes, base + 1_000_000);
  tf.dispose(tf.zeros([100_000]));
  assertEquals(outer.stop().peakTensorBytes, base + 2_000_000);
});

Deno.test("memory meter: its timer samples RSS while the event loop runs", async () => {
  await initEngine({ backend: "cpu" });
  const meter = new MemoryMeter(5);
  const rssBefore = Deno.memoryUsage().rss;
  await new Promise((resolve) => setTimeout(resolve, 40));
  assert(meter.stop().peakRssBytes >= rssBefore * 0.9);
});
