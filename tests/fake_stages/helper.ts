/** Shared by fake stages, so tests can change code a stage imports. */
export function describeParams(params: Record<string, unknown>): string {
  return JSON.stringify(params);
}
