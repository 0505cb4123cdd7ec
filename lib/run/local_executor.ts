import type { Executor, StageExit, StageHandle, StageJob } from "./executor.ts";
import { parseWorkerLine, type WorkerEvent } from "./protocol.ts";

/** Grace period between SIGTERM and SIGKILL when a stage is cancelled. */
export const CANCEL_GRACE_MS = 2000;

/**
 * Runs each stage as a subprocess on this machine, appending its stdout and stderr to the stage
 * log and forwarding event lines.
 */
export class LocalExecutor implements Executor {
  readonly name = "local";
  readonly defaultParallelism: number;

  constructor(parallelism = 1) {
    this.defaultParallelism = parallelism;
  }

  /** Start `job.command`; the handle resolves with its exit status once the log is flushed. */
  start(job: StageJob, onEvent: (event: WorkerEvent) => void): StageHandle {
    const child = new Deno.Command(job.command[0], {
      args: job.command.slice(1),
      cwd: job.cwd,
      env: job.env,
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const log = Deno.openSync(job.logPath, { append: true, create: true });
    const encoder = new TextEncoder();
    const pump = async (stream: ReadableStream<Uint8Array>, parse: boolean) => {
      let pending = "";
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        pending += chunk;
        const lines = pending.split("\n");
        pending = lines.pop()!;
        for (const line of lines) {
          const event = parse ? parseWorkerLine(line) : undefined;
          if (event) onEvent(event);
          if (!event || event.type === "log" || event.type === "error") {
            const text = event?.type === "log" || event?.type === "error" ? event.message : line;
            log.writeSync(encoder.encode(text + "\n"));
          }
        }
      }
      if (pending) log.writeSync(encoder.encode(pending + "\n"));
    };
    const finished = (async (): Promise<StageExit> => {
      const [status] = await Promise.all([
        child.status,
        pump(child.stdout, true),
        pump(child.stderr, false),
      ]);
      log.close();
      return { code: status.code, signal: status.signal ?? undefined };
    })();
    let cancelled = false;
    return {
      finished,
      async cancel() {
        if (cancelled) return;
        cancelled = true;
        try {
          child.kill("SIGTERM");
        } catch { /* already gone */ }
        const timer = setTimeout(() => {
          try {
            child.kill("SIGKILL");
          } catch { /* already gone */ }
        }, CANCEL_GRACE_MS);
        await finished;
        clearTimeout(timer);
      },
    };
  }
}
