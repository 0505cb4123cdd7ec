import * as tf from "@tensorflow/tfjs-core";
import { assertEquals } from "./asserts.ts";
import { concatScalars, initEngine, probeWebGpuAdapter, sumInOrder } from "../lib/engine/mod.ts";

const adapter = await probeWebGpuAdapter();
const backends = adapter ? ["cpu", "webgpu"] as const : ["cpu"] as const;

for (const backend of backends) {
  Deno.test({
    name: `few-input kernels (${backend}): 13 scalars concatenate in order and sum like AddN`,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      await initEngine({ backend });
      // More inputs than a WebGPU adapter may bind at once (lavapipe: AddN of 12 kept the last).
      const values = Array.from({ length: 13 }, (_, i) => 0.1 * (i + 1) ** 2);
      const scalars = values.map((v) => tf.scalar(v));
      const joined = concatScalars(scalars);
      assertEquals(Array.from(await joined.data()), Array.from(new Float32Array(values)));
      const total = sumInOrder(scalars);
      let expected = 0;
      for (const v of new Float32Array(values)) expected = Math.fround(expected + v);
      assertEquals((await total.data())[0], expected);
      if (backend === "cpu") {
        const addN = tf.addN(scalars);
        assertEquals((await total.data())[0], (await addN.data())[0], "bit-identical to AddN");
        addN.dispose();
      }
      tf.dispose([...scalars, joined, total]);
    },
  });
}
