import { equal, match, ok } from "node:assert/strict";

const CLI = new URL("../cli/rouge.ts", import.meta.url).pathname;
const FIXTURES = new URL("./fixtures/rouge/", import.meta.url);

async function runRouge(...args: string[]) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", CLI, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

async function writePairs(content: string): Promise<string> {
  const path = await Deno.makeTempFile({ suffix: ".jsonl" });
  await Deno.writeTextFile(path, content);
  return path;
}

Deno.test("rouge CLI: prints the fixture means as JSON and exits 0, with and without --stem", async () => {
  const pairs = new URL("pairs.jsonl", FIXTURES).pathname;
  for (
    const [args, file] of [[[pairs], "expected.json"], [
      [pairs, "--stem"],
      "expected.stem.json",
    ]] as const
  ) {
    const expected = JSON.parse(await Deno.readTextFile(new URL(file, FIXTURES)));
    const result = await runRouge(...args);
    equal(result.code, 0, result.stderr);
    const printed = JSON.parse(result.stdout);
    equal(Object.keys(printed).join(","), "rouge1,rouge2,rougeL,rougeLsum,n");
    equal(printed.n, 400);
    for (const type of ["rouge1", "rouge2", "rougeL", "rougeLsum"]) {
      ok(Math.abs(printed[type] - expected[type]) <= 1e-6, type);
    }
  }
});

Deno.test("rouge CLI: a bad line is one error naming file:line, exit 2", async () => {
  const cases: [string, RegExp][] = [
    [
      '{"prediction": "a", "reference": "b"}\n{"prediction": "a"}\n',
      /:2: missing field "reference"/,
    ],
    ['{"prediction": "a", "reference": "b"}\n\nnot json\n', /:3: not JSON/],
    ['{"prediction": 1, "reference": "b"}\n', /:1: field "prediction" is a number, not a string/],
    ["\n", /no pairs/],
  ];
  for (const [content, message] of cases) {
    const path = await writePairs(content);
    const result = await runRouge(path);
    equal(result.code, 2);
    equal(result.stdout, "");
    match(result.stderr, message);
    ok(result.stderr.includes(path), result.stderr);
    equal(result.stderr.trim().split("\n").length, 1, result.stderr);
    await Deno.remove(path);
  }
});

Deno.test("rouge CLI: usage errors and unreadable files exit 2", async () => {
  for (const args of [[], ["a.jsonl", "b.jsonl"], ["--no-such-flag", "a.jsonl"]]) {
    const result = await runRouge(...args);
    equal(result.code, 2, `${args}: ${result.stderr}`);
    match(result.stderr, /usage: deno task rouge/);
  }
  const missing = await runRouge("/nonexistent/pairs.jsonl");
  equal(missing.code, 2);
  match(missing.stderr, /\/nonexistent\/pairs.jsonl: cannot open/);
});
