import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { readExamples, SPLIT_NAMES, splitOf } from "../lib/data/mod.ts";
import { dataErrorOf } from "./data_helpers.ts";

const FIXTURES = new URL("./fixtures/parquet/", import.meta.url).pathname;
const EXAMPLES = join(FIXTURES, "examples.parquet");
const BAD_ROWS = join(FIXTURES, "bad_rows.parquet");

Deno.test("parquet: rows are read across row groups; duplicates and reused ids are reported as for JSONL", async () => {
  const { examples, report } = await readExamples(EXAMPLES);
  deepStrictEqual(examples.map((e) => e.id), ["p1", "p2", "p3", "p4", "p5", "p2", "p7"]);
  equal(examples[4].document, "Ünïcödé text — with dashes and “quotes”.");
  equal(examples[6].summary, "Last");
  equal(report.format, "parquet");
  equal(report.rowsRead, 7);
  deepStrictEqual(report.duplicates, { count: 1, samples: [{ line: 4, firstLine: 1 }] });
  deepStrictEqual(report.duplicateIds, {
    count: 1,
    samples: [{ line: 6, firstLine: 2, id: "p2" }],
  });
});

Deno.test("parquet: bad rows fail with file:row and the reasons a JSONL file with the same rows gets", async () => {
  const error = await dataErrorOf(() => readExamples(BAD_ROWS));
  equal(error.file, BAD_ROWS);
  equal(error.badRowCount, 4);
  deepStrictEqual(error.offenders.map((o) => `${o.line}: ${o.reason}`), [
    `2: field "summary" is null, not a string`,
    `3: field "document" is empty`,
    `4: field "document" is empty`,
    `6: field "id" is null, not a string or number`,
  ]);
  ok(error.message.includes(`${BAD_ROWS}:2: field "summary" is null`), error.message);
  ok(!error.message.includes("\n"));

  // The same rows as JSONL (one row per line) are judged the same way.
  const jsonl = await Deno.makeTempFile({ suffix: ".jsonl" });
  try {
    const rows = [
      { id: "b1", document: "good one", summary: "s1" },
      { id: "b2", document: "has no summary", summary: null },
      { id: "b3", document: "", summary: "s3" },
      { id: "b4", document: " \n\t", summary: "s4" },
      { id: "b5", document: "good five", summary: "s5" },
      { id: null, document: "no id", summary: "s6" },
      { id: "b7", document: "good seven", summary: "s7" },
    ];
    await Deno.writeTextFile(jsonl, rows.map((row) => JSON.stringify(row)).join("\n") + "\n");
    const jsonlError = await dataErrorOf(() => readExamples(jsonl));
    deepStrictEqual(
      jsonlError.offenders.map((o) => [o.line, o.reason]),
      error.offenders.map((o) => [o.line, o.reason]),
    );
  } finally {
    await Deno.remove(jsonl);
  }

  const { examples, report } = await readExamples(BAD_ROWS, { onBadRow: "skip" });
  deepStrictEqual(examples.map((e) => e.id), ["b1", "b5", "b7"]);
  equal(report.badRows, 4);
  equal(report.rowsRead, 7);
});

Deno.test("parquet: field names, limit and one-file split work as for JSONL and CSV", async () => {
  const numbers = await dataErrorOf(() => readExamples(EXAMPLES, { documentField: "n_words" }));
  equal(numbers.offenders[0].reason, `field "n_words" is a number, not a string`);
  equal(numbers.badRowCount, 7);

  const renamed = await readExamples(EXAMPLES, {
    summaryField: "document",
    documentField: "summary",
  });
  equal(renamed.examples[0].document, "Attention");

  const limited = await readExamples(EXAMPLES, { limit: 2 });
  deepStrictEqual(limited.examples.map((e) => e.id), ["p1", "p2"]);
  equal(limited.report.limitReached, true);
  equal(limited.report.rowsRead, 2);

  const all = await readExamples(join(FIXTURES, "arrow_zstd.parquet"));
  let total = 0;
  for (const split of SPLIT_NAMES) {
    const part = await readExamples(join(FIXTURES, "arrow_zstd.parquet"), {
      split,
      onBadRow: "skip",
    })
      .catch(() => ({ examples: [] }));
    ok(part.examples.every((e) => splitOf(e.id) === split), split);
    total += part.examples.length;
  }
  equal(total, all.examples.length);
});

Deno.test("parquet: INT64 ids become their decimal strings, exactly", async () => {
  const { examples } = await readExamples(join(FIXTURES, "int_ids.parquet"));
  deepStrictEqual(examples.map((e) => e.id), ["1", "2", "9007199254740993"]);
});

Deno.test("parquet: a missing column or a file that is not Parquet is one DataError on line 0", async () => {
  const missing = await dataErrorOf(() => readExamples(join(FIXTURES, "no_summary.parquet")));
  equal(missing.line, 0);
  match(
    missing.message,
    /no_summary\.parquet: Parquet file has no column "summary" \(columns: id, document, title\)$/,
  );
  const fake = await Deno.makeTempFile({ suffix: ".parquet" });
  try {
    await Deno.writeTextFile(fake, '{"id": "x", "document": "not parquet", "summary": "s"}\n');
    const notParquet = await dataErrorOf(() => readExamples(fake));
    equal(notParquet.line, 0);
    match(notParquet.message, /: not a readable Parquet file \(/);
  } finally {
    await Deno.remove(fake);
  }
  const absent = await dataErrorOf(() => readExamples("/nonexistent/data.parquet"));
  match(absent.message, /^\/nonexistent\/data\.parquet: cannot open/);
});

Deno.test("parquet: a zstd, dictionary-encoded file written by arrow-rs reads as its JSONL source", async () => {
  const source = join(
    new URL("../data/arxiv-cs-abstract-title/", import.meta.url).pathname,
    "test.jsonl",
  );
  const jsonl = await readExamples(source, { limit: 20 });
  const parquet = await readExamples(join(FIXTURES, "arrow_zstd.parquet"));
  deepStrictEqual(parquet.examples, jsonl.examples);
});
