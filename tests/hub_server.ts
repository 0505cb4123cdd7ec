/**
 * A local stand-in for the Hugging Face Hub's file endpoints, for the hub tests: it answers
 * `HEAD`/`GET /{repo}/resolve/{revision}/{file}` with `X-Repo-Commit`, `ETag` (git blob sha1)
 * and, for LFS files, a 302 to a second server (another host:port, like the Hub's CDN) with
 * `X-Linked-Etag` (sha256) and `X-Linked-Size`; errors carry `X-Error-Code` as the Hub's do.
 * Failures can be injected: a connection dropped after N bytes, or corrupted content.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { join } from "node:path";

/** Files of one commit: name → bytes. Names matching `lfs` are served as LFS files. */
export type CommitFiles = Record<string, Uint8Array>;

/** One repository: its commits and where its branches and tags point. */
export interface FakeRepo {
  /** commit hash → files. */
  commits: Record<string, CommitFiles>;
  /** branch or tag → commit hash. */
  refs: Record<string, string>;
  /** Answer 401 unless the request carries `Authorization: Bearer <token>`. */
  token?: string;
}

/** One request the fake Hub received. */
export interface SeenRequest {
  server: "hub" | "cdn";
  method: string;
  path: string;
  range: string | null;
  authorization: string | null;
}

/** Files served as LFS (redirected to the CDN), as on the Hub by default. */
const LFS_FILE = /\.(safetensors|bin)$/;

/** A deterministic fake commit hash. */
export function fakeCommit(label: string): string {
  return createHash("sha1").update(`commit ${label}`).digest("hex");
}

/** The git blob id of `bytes` (what the Hub sends as ETag for a file kept in git). */
export function gitBlobSha1(bytes: Uint8Array): string {
  return createHash("sha1").update(`blob ${bytes.length}\0`).update(bytes).digest("hex");
}

/** The sha256 of `bytes` (the ETag of an LFS file). */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** The files of a fixture folder (only the names given). */
export async function readFixtureFiles(dir: string, names: string[]): Promise<CommitFiles> {
  const files: CommitFiles = {};
  for (const name of names) files[name] = await Deno.readFile(join(dir, name));
  return files;
}

/** A running fake Hub (two listeners on 127.0.0.1: the Hub and its LFS "CDN"). */
export class FakeHub {
  /** Every request, in arrival order. */
  readonly requests: SeenRequest[] = [];
  /** Drop the connection of the next GETs of these file names after this many bytes. */
  readonly dropAfterBytes = new Map<string, number>();
  /** Serve these file names once with one byte flipped. */
  readonly corruptOnce = new Set<string>();
  #hub!: Deno.HttpServer<Deno.NetAddr>;
  #cdn!: Deno.HttpServer<Deno.NetAddr>;
  /** sha256 → bytes of every LFS file, served by the CDN. */
  readonly #lfs = new Map<string, { name: string; bytes: Uint8Array }>();

  private constructor(readonly repos: Record<string, FakeRepo>) {}

  /** Starts both listeners on random ports. */
  static start(repos: Record<string, FakeRepo>): FakeHub {
    const hub = new FakeHub(repos);
    const quiet = { hostname: "127.0.0.1", port: 0, onListen: () => {} };
    hub.#hub = Deno.serve(quiet, (request) => hub.#answerHub(request));
    hub.#cdn = Deno.serve(quiet, (request) => hub.#answerCdn(request));
    for (const repo of Object.values(repos)) {
      for (const files of Object.values(repo.commits)) {
        for (const [name, bytes] of Object.entries(files)) {
          if (LFS_FILE.test(name)) hub.#lfs.set(sha256Hex(bytes), { name, bytes });
        }
      }
    }
    return hub;
  }

  /** The URL to put in HF_ENDPOINT. */
  get endpoint(): string {
    return `http://127.0.0.1:${this.#hub.addr.port}`;
  }

  /** The requests for one file name (by the end of the path). */
  requestsFor(file: string): SeenRequest[] {
    return this.requests.filter((r) => r.path.endsWith(`/${file}`) || r.path.endsWith(file));
  }

  /** Stops both listeners. */
  async stop(): Promise<void> {
    await Promise.all([this.#hub.shutdown(), this.#cdn.shutdown()]);
  }

  #record(server: "hub" | "cdn", request: Request): void {
    this.requests.push({
      server,
      method: request.method,
      path: decodeURIComponent(new URL(request.url).pathname),
      range: request.headers.get("range"),
      authorization: request.headers.get("authorization"),
    });
  }

  #answerHub(request: Request): Response {
    this.#record("hub", request);
    const match = new URL(request.url).pathname.match(/^\/(.+?)\/resolve\/([^/]+)\/(.+)$/);
    if (!match) return new Response("not found", { status: 404 });
    const [, repoId, rawRevision, rawFile] = match;
    const revision = decodeURIComponent(rawRevision);
    const file = decodeURIComponent(rawFile);
    const repo = this.repos[repoId];
    const error = (status: number, code: string, headers: Record<string, string> = {}) =>
      new Response(null, { status, headers: { "x-error-code": code, ...headers } });
    if (repo === undefined) return error(404, "RepoNotFound");
    if (repo.token && request.headers.get("authorization") !== `Bearer ${repo.token}`) {
      return error(401, "RepoNotFound");
    }
    const commit = repo.commits[revision] ? revision : repo.refs[revision];
    if (commit === undefined) return error(404, "RevisionNotFound");
    const bytes = repo.commits[commit][file];
    if (bytes === undefined) return error(404, "EntryNotFound", { "x-repo-commit": commit });
    if (LFS_FILE.test(file)) {
      const sha = sha256Hex(bytes);
      return new Response(null, {
        status: 302,
        headers: {
          location: `http://127.0.0.1:${this.#cdn.addr.port}/lfs/${sha}`,
          "x-repo-commit": commit,
          "x-linked-etag": `"${sha}"`,
          "x-linked-size": String(bytes.length),
          etag: `"${gitBlobSha1(new TextEncoder().encode(`pointer ${sha}`))}"`,
        },
      });
    }
    return this.#serveBytes(file, bytes, request, {
      "x-repo-commit": commit,
      etag: `"${gitBlobSha1(bytes)}"`,
    });
  }

  #answerCdn(request: Request): Response {
    this.#record("cdn", request);
    const sha = new URL(request.url).pathname.replace(/^\/lfs\//, "");
    const entry = this.#lfs.get(sha);
    if (entry === undefined) return new Response("no such object", { status: 404 });
    return this.#serveBytes(entry.name, entry.bytes, request, {});
  }

  /** Serves `bytes` honouring `Range: bytes=N-`, with any injected failure for `name`. */
  #serveBytes(
    name: string,
    bytes: Uint8Array,
    request: Request,
    headers: Record<string, string>,
  ): Response {
    const range = request.headers.get("range")?.match(/^bytes=(\d+)-$/);
    const start = range ? Number(range[1]) : 0;
    if (start > bytes.length) return new Response(null, { status: 416, headers });
    const body = bytes.slice(start);
    const status = range ? 206 : 200;
    const allHeaders = {
      ...headers,
      "content-length": String(body.length),
      ...(range ? { "content-range": `bytes ${start}-${bytes.length - 1}/${bytes.length}` } : {}),
    };
    if (request.method === "HEAD") return new Response(null, { status, headers: allHeaders });
    if (this.corruptOnce.delete(name) && body.length > 0) body[body.length - 1] ^= 0xff;
    const dropAfter = this.dropAfterBytes.get(name);
    if (dropAfter === undefined) return new Response(body, { status, headers: allHeaders });
    this.dropAfterBytes.delete(name);
    const part = body.slice(0, dropAfter);
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(part);
      },
      pull(controller) {
        // Ending the body short of Content-Length makes the server abort the connection.
        controller.close();
      },
    });
    return new Response(stream, { status, headers: allHeaders });
  }
}
