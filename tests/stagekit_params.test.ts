import { ConfigError } from "../lib/config/errors.ts";
import { Params, underSection } from "../lib/stagekit/params.ts";
import { assertEquals, assertThrows } from "./asserts.ts";

const params = new Params({
  lr: 0.01,
  epochs: 3,
  method: "lora",
  stem: true,
  training: { batch_size: 8 },
  nothing: null,
});

Deno.test("params: typed getters return the value, or the fallback when the key is absent or null", () => {
  assertEquals(params.number("lr"), 0.01);
  assertEquals(params.integer("epochs", 1, 1), 3);
  assertEquals(params.string("method"), "lora");
  assertEquals(params.boolean("stem"), true);
  assertEquals(params.number("missing", 5), 5);
  assertEquals(params.string("nothing", "x"), "x");
  assertEquals(params.optionalString("nothing"), null);
  assertEquals(params.section("training").integer("batch_size"), 8);
  assertEquals(params.choice("method", ["prompt", "lora"]), "lora");
});

Deno.test("params: a wrong or missing value names its stage-relative key and what was expected", () => {
  const message = (fn: () => unknown) => assertThrows(fn, ConfigError).message;
  assertEquals(
    message(() => params.number("method")),
    'params.method: must be a number, got "lora"',
  );
  assertEquals(message(() => params.string("lr")), "params.lr: must be a string, got 0.01");
  assertEquals(message(() => params.boolean("lr")), "params.lr: must be true or false, got 0.01");
  assertEquals(message(() => params.number("missing")), "params.missing: is required (a number)");
  assertEquals(
    message(() => params.integer("lr")),
    "params.lr: must be a whole number ≥ 0, got 0.01",
  );
  assertEquals(
    message(() => params.section("training").string("batch_size")),
    "params.training.batch_size: must be a string, got 8",
  );
  assertEquals(
    message(() => params.choice("method", ["prompt", "full"])),
    'params.method: must be one of prompt, full, got "lora"',
  );
});

Deno.test("params: a method's section-relative key is placed under its section", () => {
  const error = assertThrows(
    () =>
      underSection("params.config", () => {
        throw new ConfigError("target_modules", "matches nothing");
      }),
    ConfigError,
  );
  assertEquals(error.key, "params.config.target_modules");
});
