/**
 * Hub models as stage dependencies: a `deps` entry `hf:org/name[@revision]` (optionally followed
 * by a sub-path or glob such as `/*`, as `${model.path}/*` gives) stands for the repository's
 * snapshot. Its state is the commit the revision resolves to, so a moved revision makes the stage
 * stale; a stage about to run gets the snapshot of exactly that commit, downloaded if needed.
 *
 * @module
 */
import { isHubRef, parseHubRef, resolveModel, resolveRevision } from "../hub/mod.ts";

/** The `hf:org/name[@revision]` part of a dependency, or undefined when it is not a Hub model. */
export function hubReference(dep: string): string | undefined {
  if (!isHubRef(dep)) return undefined;
  const match = /^(hf:[^/@]+\/[^/@]+(?:@[^/]+)?)(?:\/.*)?$/.exec(dep);
  return match ? match[1] : dep;
}

/** A Hub dependency pinned to its commit, ready for a stage to read. */
export interface HubSnapshot {
  /** The snapshot folder of the commit: what `ctx.path(reference)` gives the stage. */
  dir: string;
  /** The repository's cache folder (the snapshot links into its blobs): readable by the stage. */
  repoCacheDir: string;
}

/**
 * Resolves Hub references to commits, once per reference for the resolver's lifetime (a status
 * over many stages asks the Hub once). Throws HubError (unknown repository or revision, offline
 * and not cached).
 */
export class HubResolver {
  #commits = new Map<string, Promise<string>>();

  /** The commit `reference` (`hf:org/name[@revision]`) stands for now. */
  commit(reference: string): Promise<string> {
    let commit = this.#commits.get(reference);
    if (!commit) {
      commit = resolveRevision(reference).then((resolved) => resolved.commit);
      this.#commits.set(reference, commit);
    }
    return commit;
  }
}

/**
 * The snapshot of `reference` at exactly `commit` (the one its stage key was computed with),
 * downloaded when not cached yet. Throws HubError.
 */
export async function hubSnapshot(reference: string, commit: string): Promise<HubSnapshot> {
  const { repoId } = parseHubRef(reference);
  const resolved = await resolveModel(`hf:${repoId}@${commit}`);
  return { dir: resolved.dir, repoCacheDir: resolved.repoCacheDir };
}
