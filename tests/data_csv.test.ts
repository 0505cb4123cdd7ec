import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { readExamples } from "../lib/data/mod.ts";
import { dataErrorOf } from "./data_helpers.ts";

const BAD_QUOTING = new URL("./fixtures/bad_data/bad_quoting.csv", import.meta.url).pathname;

async function writeCsv(content: string): Promise<string> {
  const path = await Deno.makeTempFile({ suffix: ".csv" });
  await Deno.writeTextFile(path, content);
  return path;
}

Deno.test("csv: quoted commas, quoted newlines, doubled quotes and CRLF are read as RFC 4180 says", async () => {
  const path = await writeCsv(
    "summary,id,document\r\n" +
      '"Title, with comma",c1,"A document, with a comma"\r\n' +
      'Title two,c2,"A document\r\nspanning ""two"" lines"\r\n' +
      "\r\n" +
      "plain title,c3,plain document\r\n" +
      '"",c4,"empty title must be rejected"\r\n' +
      'last title,c5,"ends with a quoted field"',
  );
  const { examples, report } = await readExamples(path, { onBadRow: "skip" });
  deepStrictEqual(examples, [
    { id: "c1", document: "A document, with a comma", summary: "Title, with comma" },
    { id: "c2", document: 'A document\r\nspanning "two" lines', summary: "Title two" },
    { id: "c3", document: "plain document", summary: "plain title" },
    { id: "c5", document: "ends with a quoted field", summary: "last title" },
  ]);
  // c2 spans lines 3–4, the blank line 5 is ignored, the empty title is on line 7.
  deepStrictEqual(report.badRowSamples.map((o) => [o.line, o.reason]), [
    [7, 'field "summary" is empty'],
  ]);
  await Deno.remove(path);
});

Deno.test("csv: bad quoting and wrong field counts are reported with the line where the record starts", async () => {
  const error = await dataErrorOf(() => readExamples(BAD_QUOTING));
  equal(error.badRowCount, 4);
  deepStrictEqual(error.offenders.map((o) => o.line), [2, 3, 5, 6]);
  match(error.offenders[0].reason, /text after a closing quote/);
  match(error.offenders[1].reason, /quote inside an unquoted field/);
  match(error.offenders[2].reason, /expected 3 fields .* got 2/);
  match(error.offenders[3].reason, /never closed/);
  ok(error.message.includes(`${BAD_QUOTING}:6:`), error.message);

  const { examples, report } = await readExamples(BAD_QUOTING, { onBadRow: "skip" });
  deepStrictEqual(examples.map((e) => e.id), ["q3"]);
  equal(report.badRows, 4);
});

Deno.test("csv: an unbalanced quote cannot swallow more than the line limit", async () => {
  const lines = ["document,summary", '"unclosed document,title'];
  for (let i = 0; i < 20; i++) lines.push(`document ${i},title ${i}`);
  const path = await writeCsv(lines.join("\n"));
  const { examples, report } = await readExamples(path, { onBadRow: "skip", maxLineBytes: 100 });
  equal(report.badRowSamples[0].line, 2);
  match(report.badRowSamples[0].reason, /runs past 100 characters/);
  ok(examples.length >= 15, `recovered ${examples.length} rows`);
  equal(examples.at(-1)?.summary, "title 19");
  await Deno.remove(path);
});

Deno.test("csv: a header without the document or summary column is a DataError on line 1", async () => {
  const path = await writeCsv("text,title\nsome text,some title\n");
  const error = await dataErrorOf(() => readExamples(path));
  equal(error.line, 1);
  match(error.message, /no column "document" \(columns: text, title\)/);
  const { examples } = await readExamples(path, { documentField: "text", summaryField: "title" });
  deepStrictEqual(examples.map((e) => [e.document, e.summary]), [["some text", "some title"]]);
  await Deno.remove(path);
});

Deno.test("csv: invalid UTF-8 in a row is reported with its line", async () => {
  const path = await Deno.makeTempFile({ suffix: ".csv" });
  const encoder = new TextEncoder();
  await Deno.writeFile(
    path,
    Uint8Array.from([
      ...encoder.encode("document,summary\ngood,row\nbad "),
      0xff,
      ...encoder.encode(",row\n"),
    ]),
  );
  const error = await dataErrorOf(() => readExamples(path));
  equal(error.line, 3);
  match(error.message, /:3: invalid UTF-8 at byte 5/);
  await Deno.remove(path);
});

Deno.test("csv: a UTF-8 byte-order mark (spreadsheet export) does not rename the first column", async () => {
  const path = await writeCsv("\uFEFFdocument,summary\nsome text,some title\n");
  const { examples } = await readExamples(path);
  deepStrictEqual(examples.map((e) => [e.document, e.summary]), [["some text", "some title"]]);
  await Deno.remove(path);
});
