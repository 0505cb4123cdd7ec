/**
 * Opens report.html in headless Chromium (Debian's `chromium`) over the DevTools protocol: the page
 * must load with no console error, no exception and no network request, show its table and
 * charts, and a full-page PNG screenshot is taken into the test's temp dir.
 * Set PEFTLAB_KEEP_SCREENSHOT=1 to keep the temp dir (its path is printed) for a look.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { buildMetricsTable, renderReportHtml, type RunMetrics } from "../lib/report/mod.ts";

const CHROMIUM_PATH = Deno.env.get("CHROMIUM_PATH") ?? "/usr/bin/chromium";
const VIEWPORT_WIDTH_PX = 1280;
const VIEWPORT_HEIGHT_PX = 900;
const BROWSER_START_TIMEOUT_MS = 30_000;
const PAGE_LOAD_TIMEOUT_MS = 30_000;

const chromiumFound = (() => {
  try {
    return Deno.statSync(CHROMIUM_PATH).isFile;
  } catch {
    return false;
  }
})();
if (!chromiumFound) {
  console.warn(
    `SKIPPED report chromium tests: no Chromium at ${CHROMIUM_PATH} ` +
      "(apt-get update && apt-get install -y chromium, or set CHROMIUM_PATH)",
  );
}

function fakeRun(method: string, seed: number, level: number, trainableParams: number): RunMetrics {
  return {
    method,
    seed,
    rouge1: 0.30 + 0.03 * level + 0.005 * seed,
    rouge1Ci: [0.28 + 0.03 * level, 0.33 + 0.03 * level],
    rouge2: 0.10 + 0.02 * level,
    rouge2Ci: [0.085 + 0.02 * level, 0.115 + 0.02 * level],
    rougeL: 0.25 + 0.025 * level,
    rougeLCi: [0.235 + 0.025 * level, 0.27 + 0.025 * level],
    validationLoss: 3 - 0.2 * level,
    validationLossCurve: [4.4 - 0.1 * level + 0.03 * seed, 3.5 - 0.15 * level, 3 - 0.2 * level],
    trainableParams,
    totalParams: 2_650_000,
    trainSeconds: 80 + 40 * level + seed,
    validationSeconds: 6,
    checkpointSeconds: 2,
    tokensPerSecond: 4100 - 600 * level,
    peakTrainRssBytes: 410e6 + 30e6 * level,
    peakTrainTensorBytes: 21e6 + 9e6 * level,
    peakEvalRssBytes: 380e6,
    peakEvalTensorBytes: 15e6,
    evalSeconds: 40,
    samples: [1, 2, 3].map((i) => ({
      id: `cnn-${i}`,
      document: `Story ${i}: the council voted <7 to 2> to fund the "new" bridge & a park. `.repeat(
        3 * i,
      ),
      reference: `Council funds bridge ${i} & park.`,
      prediction: `${method}: the council <b>funds</b> a bridge ${i}.`,
    })),
  };
}

/** A DevTools protocol value (the protocol is untyped here). */
// deno-lint-ignore no-explicit-any
type Json = any;

type Message = {
  id?: number;
  method?: string;
  params?: Json;
  result?: Json;
  error?: Json;
  sessionId?: string;
};

/** A minimal Chrome DevTools Protocol client over Deno's WebSocket. */
class DevTools {
  #nextId = 1;
  #pending = new Map<number, { resolve(result: unknown): void; reject(error: Error): void }>();
  #listeners: ((message: Message) => void)[] = [];

  private constructor(readonly socket: WebSocket) {
    socket.onmessage = (event) => {
      const message: Message = JSON.parse(event.data);
      if (message.id !== undefined) {
        const waiter = this.#pending.get(message.id);
        this.#pending.delete(message.id);
        if (message.error) waiter?.reject(new Error(JSON.stringify(message.error)));
        else waiter?.resolve(message.result);
      } else this.#listeners.forEach((listener) => listener(message));
    };
  }

  static async connect(url: string): Promise<DevTools> {
    const socket = new WebSocket(url);
    await new Promise((resolve, reject) => {
      socket.onopen = resolve;
      socket.onerror = () => reject(new Error(`cannot connect to ${url}`));
    });
    return new DevTools(socket);
  }

  send(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<Json> {
    const id = this.#nextId++;
    this.socket.send(JSON.stringify({ id, method, params, sessionId }));
    return new Promise((resolve, reject) => this.#pending.set(id, { resolve, reject }));
  }

  on(listener: (message: Message) => void) {
    this.#listeners.push(listener);
  }

  waitFor(method: string, sessionId: string, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${method} not seen in ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.on((message) => {
        if (message.method === method && message.sessionId === sessionId) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  }

  async close() {
    const closed = new Promise((resolve) => this.socket.onclose = resolve);
    this.socket.close();
    await closed;
  }
}

/** Starts headless Chromium with a fresh profile; returns its DevTools URL and a stopper. */
async function startChromium(profileDir: string) {
  const child = new Deno.Command(CHROMIUM_PATH, {
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      `--user-data-dir=${profileDir}`,
      "--remote-debugging-port=0",
      "about:blank",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const lines = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  let url: string | undefined;
  const deadline = Date.now() + BROWSER_START_TIMEOUT_MS;
  while (url === undefined && Date.now() < deadline) {
    const { value, done } = await lines.read();
    if (done) break;
    buffered += value;
    url = buffered.match(/DevTools listening on (ws:\/\/\S+)/)?.[1];
  }
  // Keep draining stderr so Chromium never blocks on a full pipe.
  const drained = (async () => {
    while (!(await lines.read()).done) { /* discard */ }
  })();
  const stop = async () => {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await child.status;
    await drained;
  };
  if (url === undefined) {
    await stop();
    throw new Error(`Chromium did not print its DevTools URL:\n${buffered}`);
  }
  return { url, stop };
}

interface PageVisit {
  problems: string[];
  facts: Json;
  screenshot: Uint8Array;
}

/** Loads `file` in a new tab; collects console errors, exceptions and non-file requests. */
async function visit(browser: DevTools, file: string, factsExpression: string): Promise<PageVisit> {
  const { targetId } = await browser.send("Target.createTarget", { url: "about:blank" });
  const { sessionId } = await browser.send("Target.attachToTarget", { targetId, flatten: true });
  const problems: string[] = [];
  browser.on((message) => {
    if (message.sessionId !== sessionId) return;
    const params = message.params;
    if (
      message.method === "Runtime.consoleAPICalled" && ["error", "assert"].includes(params.type)
    ) {
      problems.push(
        `console.${params.type}: ${
          JSON.stringify(params.args.map((a: { value?: unknown; description?: string }) =>
            a.value ?? a.description
          ))
        }`,
      );
    } else if (message.method === "Runtime.exceptionThrown") {
      problems.push(
        `exception: ${
          params.exceptionDetails.exception?.description ?? params.exceptionDetails.text
        }`,
      );
    } else if (message.method === "Log.entryAdded" && params.entry.level === "error") {
      problems.push(`log ${params.entry.source}: ${params.entry.text}`);
    } else if (message.method === "Network.requestWillBeSent") {
      const url: string = params.request.url;
      if (!url.startsWith("file:") && !url.startsWith("data:")) problems.push(`request: ${url}`);
    }
  });
  for (const domain of ["Runtime", "Log", "Page", "Network"]) {
    await browser.send(`${domain}.enable`, {}, sessionId);
  }
  await browser.send("Emulation.setDeviceMetricsOverride", {
    width: VIEWPORT_WIDTH_PX,
    height: VIEWPORT_HEIGHT_PX,
    deviceScaleFactor: 1,
    mobile: false,
  }, sessionId);
  const loaded = browser.waitFor("Page.loadEventFired", sessionId, PAGE_LOAD_TIMEOUT_MS);
  await browser.send("Page.navigate", { url: pathToFileURL(file).href }, sessionId);
  await loaded;
  const evaluated = await browser.send("Runtime.evaluate", {
    expression: factsExpression,
    returnByValue: true,
  }, sessionId);
  const facts = evaluated.result.value;
  const height = await browser.send("Runtime.evaluate", {
    expression: "document.documentElement.scrollHeight",
    returnByValue: true,
  }, sessionId);
  const shot = await browser.send("Page.captureScreenshot", {
    format: "png",
    captureBeyondViewport: true,
    clip: { x: 0, y: 0, width: VIEWPORT_WIDTH_PX, height: height.result.value, scale: 1 },
  }, sessionId);
  await browser.send("Target.closeTarget", { targetId });
  return { problems, facts, screenshot: Uint8Array.from(atob(shot.data), (c) => c.charCodeAt(0)) };
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

Deno.test({
  name: "report chromium: report.html loads offline with no console error; screenshot taken",
  ignore: !chromiumFound,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "report_chromium_" });
    const chromium = await startChromium(join(dir, "profile"));
    const browser = await DevTools.connect(chromium.url);
    try {
      const runs = [
        fakeRun("prompt", 0, 0, 7_680),
        fakeRun("prompt", 1, 0, 7_680),
        fakeRun("lora", 0, 1, 147_456),
        fakeRun("lora", 1, 1, 147_456),
        fakeRun("full", 0, 2, 2_100_000),
        fakeRun("full", 1, 2, 2_100_000),
      ];
      const reportPath = join(dir, "report.html");
      await Deno.writeTextFile(reportPath, await renderReportHtml(buildMetricsTable(runs), runs));

      // Control: the same checks must catch an error on a page that has one.
      const brokenPath = join(dir, "broken.html");
      await Deno.writeTextFile(
        brokenPath,
        "<script>console.error('boom'); undefinedCall();</script>",
      );
      const broken = await visit(browser, brokenPath, "1");
      assert(broken.problems.some((p) => p.includes("boom")), broken.problems.join("\n"));
      assert(broken.problems.some((p) => p.includes("undefinedCall")), broken.problems.join("\n"));

      const page = await visit(
        browser,
        reportPath,
        `JSON.parse(JSON.stringify({
          title: document.title,
          rows: [...document.querySelectorAll("table.metrics tbody th")].map((th) => th.textContent),
          charts: [...document.querySelectorAll("figure.chart svg")].map((svg) => {
            const box = svg.getBoundingClientRect();
            return { width: box.width, height: box.height };
          }),
          samples: document.querySelectorAll("article.sample").length,
          tableScrolls: (() => {
            const box = document.querySelector(".table-scroll");
            return box.scrollWidth > box.clientWidth;
          })(),
          overflowX: document.documentElement.scrollWidth > window.innerWidth,
        }))`,
      );
      assertEquals(page.problems, [], "no console error, exception or network request");
      assertEquals(page.facts.rows, ["prompt", "lora", "full"]);
      assertEquals(page.facts.charts.length, 3);
      for (const chart of page.facts.charts) {
        assert(chart.width > 200 && chart.height > 150, `chart drawn: ${JSON.stringify(chart)}`);
      }
      assertEquals(page.facts.samples, 3);
      assertEquals(page.facts.overflowX, false, "the page fits the window's width");
      assertEquals(page.facts.tableScrolls, false, "three methods' table fits without scrolling");

      const screenshotPath = join(dir, "report.png");
      await Deno.writeFile(screenshotPath, page.screenshot);
      assertEquals([...page.screenshot.slice(0, 8)], PNG_SIGNATURE);
      const header = new DataView(page.screenshot.buffer, 16, 8);
      assertEquals(header.getUint32(0), VIEWPORT_WIDTH_PX, "PNG width");
      assert(header.getUint32(4) > VIEWPORT_HEIGHT_PX, "full-page PNG is taller than the window");
      console.log(`screenshot: ${screenshotPath}`);
    } finally {
      await browser.close();
      await chromium.stop();
      if (Deno.env.get("PEFTLAB_KEEP_SCREENSHOT") !== "1") {
        await Deno.remove(dir, { recursive: true });
      }
    }
  },
});
