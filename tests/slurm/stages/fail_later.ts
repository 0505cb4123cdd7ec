// Fake stage: waits params.sleep_ms, prints a line, then fails (so dependents are queued first).
export async function run(ctx: {
  params: Record<string, unknown>;
  log(message: string): void;
}): Promise<never> {
  await new Promise((resolve) => setTimeout(resolve, Number(ctx.params.sleep_ms ?? 0)));
  ctx.log("about to fail: the last line before the error");
  throw new Error("fake stage failed on purpose after a nap");
}
