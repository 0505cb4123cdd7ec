import { ConfigError } from "../lib/config/errors.ts";
import {
  readBoolean,
  readChoice,
  readNumber,
  readPatternMap,
  readTargetModules,
  rejectUnknownKeys,
} from "../lib/config/readers.ts";
import { assertEquals, assertThrows } from "./asserts.ts";

const where = "params.config";

Deno.test("config readers: an absent key gives the default, a present one its value", () => {
  assertEquals(readNumber({}, "r", where, 8, { min: 1, integer: true }), 8);
  assertEquals(readNumber({ r: 4 }, "r", where, 8, { min: 1, integer: true }), 4);
  assertEquals(readNumber({ lr: 0.5 }, "lr", where, 1, { min: 0, max: 1 }), 0.5);
  assertEquals(readBoolean({}, "use_rslora", where, false), false);
  assertEquals(readChoice({ init: "text" }, "init", where, "random", ["random", "text"]), "text");
});

Deno.test("config readers: a value out of range or of the wrong type names the dotted key", () => {
  const message = (fn: () => unknown) => assertThrows(fn, ConfigError).message;
  assertEquals(
    message(() => readNumber({ r: 0 }, "r", where, 8, { min: 1, integer: true })),
    "params.config.r: expected an integer in [1, 9007199254740991], got 0",
  );
  assertEquals(
    message(() => readNumber({ r: 2.5 }, "r", where, 8, { min: 1, integer: true })),
    "params.config.r: expected an integer in [1, 9007199254740991], got 2.5",
  );
  assertEquals(
    message(() => readNumber({ dropout: 1 }, "dropout", where, 0, { min: 0, max: 0.99 })),
    "params.config.dropout: expected a number in [0, 0.99], got 1",
  );
  assertEquals(
    message(() => readNumber({ alpha: "16" }, "alpha", "", 8)),
    'alpha: expected a number in [-Infinity, Infinity], got "16"',
  );
  assertEquals(
    message(() => readBoolean({ use_rslora: "yes" }, "use_rslora", where, false)),
    'params.config.use_rslora: expected true or false, got "yes"',
  );
  assertEquals(
    message(() => rejectUnknownKeys({ rank: 8 }, ["r", "alpha"], where)),
    "params.config.rank: unknown key; allowed: r, alpha",
  );
});

Deno.test("config readers: target modules are a list of names or one regular expression", () => {
  assertEquals(readTargetModules({}, "target_modules", where, ["c_attn"]), ["c_attn"]);
  assertEquals(
    readTargetModules({ target_modules: "c_attn" }, "target_modules", where, []),
    "c_attn",
  );
  assertThrows(
    () => readTargetModules({ target_modules: "h.(" }, "target_modules", where, []),
    ConfigError,
  );
  assertEquals(readPatternMap({ rank_pattern: { c_attn: 4 } }, "rank_pattern", where, true), {
    c_attn: 4,
  });
  const error = assertThrows(
    () => readPatternMap({ rank_pattern: { c_attn: 2.5 } }, "rank_pattern", where, true),
    ConfigError,
  );
  assertEquals(error.key, "params.config.rank_pattern.c_attn");
});
