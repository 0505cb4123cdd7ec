/**
 * The system BLAS through Deno FFI: finds OpenBLAS, BLIS, MKL or Accelerate at run time and exposes
 * a row-major `sgemm` over Float32Arrays (which may be views of the wasm heap: no copies).
 *
 * @module
 */

/** Row-major single-precision GEMM: `C = alpha · op(A) · op(B) + beta · C`. */
export interface Sgemm {
  (
    transposeA: boolean,
    transposeB: boolean,
    m: number,
    n: number,
    k: number,
    alpha: number,
    a: Float32Array,
    lda: number,
    b: Float32Array,
    ldb: number,
    beta: number,
    c: Float32Array,
    ldc: number,
  ): void;
}

/** A loaded BLAS library. */
export interface BlasLibrary {
  /** File that was opened, e.g. `libopenblas.so.0`. */
  path: string;
  /** Build description (OpenBLAS's `openblas_get_config`), or the file name. */
  version: string;
  /** The GEMM routine. */
  sgemm: Sgemm;
  /** Sets the BLAS worker thread count where the library allows it; returns the count in effect. */
  setThreads(threads: number): number;
}

/** Environment variable naming a BLAS library file to try before the built-in list. */
export const blasPathVariable = "PEFTLAB_BLAS";

const cblasRowMajor = 101;
const cblasNoTrans = 111;
const cblasTrans = 112;

function candidatePaths(): string[] {
  let fromEnv: string | undefined;
  try {
    fromEnv = Deno.env.get(blasPathVariable);
  } catch {
    // no env permission: use the built-in list
  }
  const builtIn = Deno.build.os === "darwin"
    ? ["/System/Library/Frameworks/Accelerate.framework/Accelerate", "libopenblas.dylib"]
    : Deno.build.os === "windows"
    ? ["libopenblas.dll", "openblas.dll"]
    : [
      "libopenblas.so.0",
      "libopenblas.so",
      "libopenblasp.so.0",
      "libblis.so.4",
      "libblis.so.3",
      "libblis.so",
      "libmkl_rt.so.2",
      "libmkl_rt.so",
    ];
  return fromEnv ? [fromEnv, ...builtIn] : builtIn;
}

const symbols = {
  cblas_sgemm: {
    parameters: [
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "f32",
      "buffer",
      "i32",
      "buffer",
      "i32",
      "f32",
      "buffer",
      "i32",
    ],
    result: "void",
  },
  openblas_set_num_threads: { parameters: ["i32"], result: "void", optional: true },
  openblas_get_num_threads: { parameters: [], result: "i32", optional: true },
  openblas_get_config: { parameters: [], result: "pointer", optional: true },
  bli_thread_set_num_threads: { parameters: ["i64"], result: "void", optional: true },
  MKL_Set_Num_Threads: { parameters: ["i32"], result: "void", optional: true },
} as const;

let loaded: BlasLibrary | null | undefined;

/**
 * Opens the first BLAS library found (`$PEFTLAB_BLAS` first) and returns it, or `null` when none
 * loads or FFI is not allowed (needs `--allow-ffi` and `--unstable-ffi`). The result is cached.
 */
export function loadBlas(): BlasLibrary | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  if (typeof Deno?.dlopen !== "function") return null;
  for (const path of candidatePaths()) {
    let lib: Deno.DynamicLibrary<typeof symbols>;
    try {
      lib = Deno.dlopen(path, symbols);
    } catch {
      continue;
    }
    const s = lib.symbols;
    const sgemm: Sgemm = (ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) =>
      s.cblas_sgemm(
        cblasRowMajor,
        ta ? cblasTrans : cblasNoTrans,
        tb ? cblasTrans : cblasNoTrans,
        m,
        n,
        k,
        alpha,
        a,
        lda,
        b,
        ldb,
        beta,
        c,
        ldc,
      );
    let version = path;
    if (s.openblas_get_config) {
      const pointer = s.openblas_get_config();
      if (pointer) version = `${path} (${new Deno.UnsafePointerView(pointer).getCString()})`;
    }
    let threadsInEffect = 0;
    const setThreads = (threads: number): number => {
      if (s.openblas_set_num_threads) {
        s.openblas_set_num_threads(threads);
        threadsInEffect = s.openblas_get_num_threads ? s.openblas_get_num_threads() : threads;
      } else if (s.bli_thread_set_num_threads) {
        s.bli_thread_set_num_threads(BigInt(threads));
        threadsInEffect = threads;
      } else if (s.MKL_Set_Num_Threads) {
        s.MKL_Set_Num_Threads(threads);
        threadsInEffect = threads;
      } else {
        threadsInEffect = navigator.hardwareConcurrency; // Accelerate picks its own
      }
      return threadsInEffect;
    };
    loaded = { path, version, sgemm, setThreads };
    return loaded;
  }
  return null;
}
