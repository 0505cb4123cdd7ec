import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { readExamples } from "../lib/data/mod.ts";
import { dataErrorOf } from "./data_helpers.ts";

const MIXED = new URL("./fixtures/bad_data/mixed.jsonl", import.meta.url).pathname;
const MIXED_MAX_LINE_BYTES = 300;

async function writeTemp(content: string | Uint8Array): Promise<string> {
  const path = await Deno.makeTempFile({ suffix: ".jsonl" });
  if (typeof content === "string") await Deno.writeTextFile(path, content);
  else await Deno.writeFile(path, content);
  return path;
}

function row(id: string, document: string, summary: string): string {
  return JSON.stringify({ id, document, summary });
}

Deno.test("data: on_bad_row fail lists the first 5 offenders with file:line and the total", async () => {
  const error = await dataErrorOf(() =>
    readExamples(MIXED, { maxLineBytes: MIXED_MAX_LINE_BYTES })
  );
  equal(error.file, MIXED);
  equal(error.line, 2);
  equal(error.badRowCount, 7);
  deepStrictEqual(error.offenders.map((o) => o.line), [2, 3, 4, 5, 7]);
  match(error.message, /7 bad rows/);
  ok(error.message.includes(`${MIXED}:2: not JSON`), error.message);
  ok(error.message.includes(`${MIXED}:7: not a JSON object`), error.message);
  match(error.message, /and 2 more/);
  ok(!error.message.includes("\n"), "one-line message");
});

Deno.test("data: on_bad_row skip keeps good rows and reports each kind of bad row", async () => {
  const { examples, report } = await readExamples(MIXED, {
    maxLineBytes: MIXED_MAX_LINE_BYTES,
    onBadRow: "skip",
  });
  deepStrictEqual(examples.map((e) => e.id), ["a1", "a8", "a11"]);
  equal(report.badRows, 7);
  equal(report.rowsRead, 10);
  equal(report.examples, 3);
  const reasons = report.badRowSamples.map((o) => `${o.line}: ${o.reason}`);
  match(reasons[0], /^2: not JSON/);
  equal(reasons[1], `3: missing field "summary"`);
  equal(reasons[2], `4: field "document" is empty`);
  equal(reasons[3], `5: field "document" is a number, not a string`);
  match(reasons[4], /^7: not a JSON object \(got an array\)/);
});

Deno.test("data: invalid UTF-8 and an over-long line are reported with their line numbers", async () => {
  const bytes = await Deno.readFile(MIXED);
  // Lines 9 (Latin-1 é) and 10 (600 bytes) of the fixture, then the good line 11.
  let offset = 0;
  for (let line = 1; line < 9; line++) offset = bytes.indexOf(10, offset) + 1;
  const late = await writeTemp(bytes.subarray(offset));
  const error = await dataErrorOf(() => readExamples(late, { maxLineBytes: MIXED_MAX_LINE_BYTES }));
  deepStrictEqual(error.offenders.map((o) => o.line), [1, 2]);
  match(error.offenders[0].reason, /invalid UTF-8 at byte 30 of the line/);
  match(error.offenders[1].reason, /longer than 300 bytes/);
  await Deno.remove(late);
});

Deno.test("data: the default line limit is 1 MiB and a longer line does not stop the rest", async () => {
  const huge = row("big", "x".repeat(1024 * 1024 + 10), "s");
  const path = await writeTemp([row("r1", "d1", "s1"), huge, row("r3", "d3", "s3")].join("\n"));
  const { examples, report } = await readExamples(path, { onBadRow: "skip" });
  deepStrictEqual(examples.map((e) => e.id), ["r1", "r3"]);
  equal(report.badRowSamples[0].line, 2);
  match(report.badRowSamples[0].reason, /longer than 1048576 bytes/);
  await Deno.remove(path);
});

Deno.test("data: exact duplicates are reported with their first occurrence and kept", async () => {
  const lines = [
    row("x1", "same doc", "same title"),
    row("x2", "other doc", "title"),
    row("x3", "same doc", "same title"),
    row("x4", "same doc", "different title"),
    row("x2", "yet another doc", "title"),
  ];
  const path = await writeTemp(lines.join("\n") + "\n");
  const { examples, report } = await readExamples(path);
  equal(examples.length, 5);
  equal(report.duplicates.count, 1);
  deepStrictEqual(report.duplicates.samples, [{ line: 3, firstLine: 1 }]);
  equal(report.duplicateIds.count, 1);
  deepStrictEqual(report.duplicateIds.samples, [{ line: 5, firstLine: 2, id: "x2" }]);
  await Deno.remove(path);
});

Deno.test("data: field names are configurable, ids optional, numeric ids become strings", async () => {
  const path = await writeTemp(
    [
      JSON.stringify({ abstract: "Doc A", title: "Title A" }),
      JSON.stringify({ key: 7, abstract: "Doc B", title: "Title B" }),
      JSON.stringify({ abstract: "Doc A", title: "Title A2" }),
    ].join("\r\n"),
  );
  const { examples } = await readExamples(path, {
    documentField: "abstract",
    summaryField: "title",
    idField: "key",
  });
  deepStrictEqual(examples.map((e) => [e.document, e.summary]), [
    ["Doc A", "Title A"],
    ["Doc B", "Title B"],
    ["Doc A", "Title A2"],
  ]);
  match(examples[0].id, /^sha256:[0-9a-f]{16}$/);
  equal(examples[1].id, "7");
  // Same document → same derived id → same split: no leakage between splits.
  equal(examples[2].id, examples[0].id);
  const missing = await dataErrorOf(() => readExamples(path));
  match(missing.message, /missing field "document"/);
  await Deno.remove(path);
});

Deno.test("data: limit returns the first N rows and stops reading", async () => {
  const lines = Array.from({ length: 50 }, (_, i) => row(`r${i}`, `doc ${i}`, `sum ${i}`));
  lines.push("this line is not JSON but is never reached");
  const path = await writeTemp(lines.join("\n"));
  const { examples, report } = await readExamples(path, { limit: 10 });
  deepStrictEqual(examples.map((e) => e.id), Array.from({ length: 10 }, (_, i) => `r${i}`));
  ok(report.limitReached);
  await Deno.remove(path);
});

Deno.test("data: an empty file, a missing file and an all-bad file are errors, not empty datasets", async () => {
  const empty = await writeTemp("\n\n");
  match((await dataErrorOf(() => readExamples(empty))).message, /no examples/);
  const missing = await dataErrorOf(() => readExamples(empty + ".absent"));
  equal(missing.line, 0);
  match(missing.message, /cannot open/);
  const allBad = await writeTemp("{}\n");
  match(
    (await dataErrorOf(() => readExamples(allBad, { onBadRow: "skip" }))).message,
    /no usable rows \(1 bad rows skipped\)/,
  );
  await Deno.remove(empty);
  await Deno.remove(allBad);
});
