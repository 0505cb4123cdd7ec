/**
 * A stage's upstream by role: the pipeline file wires stages to roles (`needs: {tokenized:
 * tokenize, base: pretrain}`), and a stage reads only its roles, never another stage's name.
 *
 * @module
 */
import { ConfigError } from "../config/errors.ts";
import type { StageContext } from "../run/types.ts";

/** Every upstream filling `role`: stage cell → output folder (empty when none does). */
export function neededFolders(ctx: Pick<StageContext, "needs">, role: string): [string, string][] {
  return Object.entries(ctx.needs[role] ?? {});
}

/**
 * The output folder of the one upstream stage filling `role`, or undefined when none does.
 * Throws ConfigError (`needs.<role>`) when several do.
 */
export function optionalNeededFolder(
  ctx: Pick<StageContext, "needs">,
  role: string,
): string | undefined {
  const folders = neededFolders(ctx, role);
  if (folders.length > 1) {
    const names = folders.map(([stage]) => stage).join(", ");
    throw new ConfigError(`needs.${role}`, `must name one stage, got ${names}`);
  }
  return folders[0]?.[1];
}

/**
 * The output folder of the one upstream stage filling `role`. Throws ConfigError (`needs.<role>`,
 * saying what the role is for) when none or several do.
 */
export function neededFolder(
  ctx: Pick<StageContext, "needs">,
  role: string,
  what: string,
): string {
  const folder = optionalNeededFolder(ctx, role);
  if (folder === undefined) {
    throw new ConfigError(`needs.${role}`, `missing: name the stage giving ${what}`);
  }
  return folder;
}
