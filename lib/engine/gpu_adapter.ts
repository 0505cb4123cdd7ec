/**
 * The WebGPU adapter: which one a process gets (vendor, architecture, description, whether it is
 * a fallback/software adapter), what to record about it, and — when there is none or only a CPU
 * emulation where a GPU should be — the one-line fix (driver, Vulkan ICD, container capability).
 *
 * @module
 */

/** The WebGPU adapter a backend runs on, as `GPUAdapter.info` reports it. */
export interface GpuAdapterInfo {
  /** Vendor by name where the PCI id is known ("nvidia", "amd", "intel", "mesa"), else as is. */
  vendor: string;
  /** Vendor as reported (Deno reports the PCI vendor id in decimal, e.g. "4318" for NVIDIA). */
  vendorId: string;
  /** GPU architecture, e.g. "hopper"; empty when the driver does not say (most Vulkan ones). */
  architecture: string;
  /** Device id as reported. */
  device: string;
  /** The driver's description, e.g. "NVIDIA H200" or "llvmpipe (LLVM 15.0.6, 256 bits)". */
  description: string;
  /** WebGPU's own `isFallbackAdapter` flag (on `GPUAdapter` or, in newer runtimes, its `info`). */
  isFallbackAdapter: boolean;
  /** True when the "GPU" is the CPU: a fallback adapter, or llvmpipe/SwiftShader… by name. */
  software: boolean;
}

/** PCI vendor ids (Vulkan's `vendorID`) of GPU vendors, by name. */
const vendorNamesById: Record<number, string> = {
  0x10de: "nvidia",
  0x1002: "amd",
  0x8086: "intel",
  0x10005: "mesa",
  0x13b5: "arm",
  0x5143: "qualcomm",
  0x106b: "apple",
  0x1010: "imagination",
  0x15ad: "vmware",
  0x1af4: "virtio",
};

/** Names of software (CPU-emulated) GPU adapters that must never count as a GPU. */
const softwareAdapterPattern = /llvmpipe|lavapipe|swiftshader|softpipe|software|microsoft basic/i;

/** The vendor's name for a reported vendor string (decimal or hex PCI id, or already a name). */
export function vendorName(reported: string): string {
  const text = reported.trim();
  const id = /^0x[0-9a-f]+$/i.test(text) || /^\d+$/.test(text) ? Number(text) : NaN;
  return vendorNamesById[id] ?? (text || "unreported");
}

/** Raw fields of a `GPUAdapterInfo`, all optional (runtimes differ in what they fill in). */
export interface ReportedAdapter {
  info?: {
    vendor?: string;
    architecture?: string;
    device?: string;
    description?: string;
    isFallbackAdapter?: boolean;
  };
  isFallbackAdapter?: boolean;
}

/** Turns what a runtime reports about an adapter into {@link GpuAdapterInfo}. */
export function describeAdapter(adapter: ReportedAdapter): GpuAdapterInfo {
  const info = adapter.info ?? {};
  const isFallbackAdapter = Boolean(adapter.isFallbackAdapter ?? info.isFallbackAdapter);
  const description = info.description?.trim() || "unknown adapter";
  const vendorId = info.vendor?.trim() ?? "";
  return {
    vendor: vendorName(vendorId),
    vendorId,
    architecture: info.architecture?.trim() ?? "",
    device: info.device?.trim() ?? "",
    description,
    isFallbackAdapter,
    software: isFallbackAdapter ||
      softwareAdapterPattern.test(`${description} ${info.architecture ?? ""}`),
  };
}

/** One line naming an adapter, e.g. "nvidia NVIDIA H200 (hopper)" or "mesa llvmpipe (…)…". */
export function adapterSummary(gpu: GpuAdapterInfo): string {
  const architecture = gpu.architecture ? ` (${gpu.architecture})` : "";
  const kind = gpu.software ? " (software, fallback adapter: runs on the CPU)" : "";
  return `${gpu.vendor} ${gpu.description}${architecture}${kind}`;
}

/**
 * Asks the runtime for the WebGPU adapter tfjs will use (the `high-performance` one, as
 * tfjs-backend-webgpu requests it); `null` when the runtime has no WebGPU or no adapter.
 */
export async function probeWebGpuAdapter(): Promise<GpuAdapterInfo | null> {
  const gpu = (navigator as { gpu?: { requestAdapter(options?: object): Promise<unknown> } }).gpu;
  if (gpu == null) return null;
  let adapter: ReportedAdapter | null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: "high-performance" }) as typeof adapter;
  } catch {
    return null;
  }
  return adapter == null ? null : describeAdapter(adapter);
}

/** The adapter as flat stage metrics (`adapter.vendor`, `adapter.fallback`, …). */
export function adapterMetrics(gpu: GpuAdapterInfo): Record<string, string | boolean> {
  return {
    "adapter.vendor": gpu.vendor,
    "adapter.vendorId": gpu.vendorId,
    "adapter.architecture": gpu.architecture || "unreported",
    "adapter.device": gpu.device,
    "adapter.description": gpu.description,
    "adapter.fallback": gpu.isFallbackAdapter,
    "adapter.software": gpu.software,
  };
}

/** What the machine offers a Vulkan-based WebGPU runtime; see {@link gpuEnvironment}. */
export interface GpuEnvironment {
  /** `Deno.build.os`: the Vulkan, ICD and NVIDIA container checks apply to `linux` only. */
  os: string;
  /** The runtime exposes `navigator.gpu`. */
  webGpuApi: boolean;
  /** First line of `/proc/driver/nvidia/version` when an NVIDIA kernel driver is loaded. */
  nvidiaDriver: string | null;
  /** The Vulkan loader (`libvulkan.so.1`, Debian's libvulkan1) was found. */
  vulkanLoader: boolean;
  /** Vulkan ICD manifests found (`…/vulkan/icd.d/*.json`, `VK_ICD_FILENAMES`, `VK_DRIVER_FILES`) */
  icdFiles: string[];
  /** `NVIDIA_DRIVER_CAPABILITIES` as the container runtime set it, when set. */
  driverCapabilities?: string;
}

/**
 * Environment variables the GPU stack reads: the Vulkan loader's driver lists, the NVIDIA container
 * runtime's settings, CUDA's device choice and library path (tfjs-node-gpu), Deno's WebGPU backend
 * choice. A sandboxed stage must see them to use the GPU its parent sees, and
 * {@link gpuEnvironment} to explain a missing one.
 */
export const gpuEnvironmentVariables = [
  "VK_ICD_FILENAMES",
  "VK_DRIVER_FILES",
  "VK_ADD_DRIVER_FILES",
  "NVIDIA_DRIVER_CAPABILITIES",
  "NVIDIA_VISIBLE_DEVICES",
  "CUDA_VISIBLE_DEVICES",
  "LD_LIBRARY_PATH",
  "DENO_WEBGPU_BACKEND",
  "XDG_RUNTIME_DIR",
] as const;

/** Folders the Vulkan loader reads ICD manifests from on Linux. */
const icdFolders = [
  "/etc/vulkan/icd.d",
  "/usr/share/vulkan/icd.d",
  "/usr/local/share/vulkan/icd.d",
];

/** Where distributions put `libvulkan.so.1`. */
const vulkanLoaderPaths = [
  "/usr/lib/x86_64-linux-gnu/libvulkan.so.1",
  "/usr/lib/aarch64-linux-gnu/libvulkan.so.1",
  "/usr/lib64/libvulkan.so.1",
  "/usr/lib/libvulkan.so.1",
  "/usr/local/lib/libvulkan.so.1",
];

/** Where the NVIDIA kernel driver reports itself. */
const nvidiaDriverFolder = "/proc/driver/nvidia";

/** Files and folders {@link gpuEnvironment} reads: a sandboxed stage must be allowed to. */
export const gpuEnvironmentPaths: readonly string[] = [
  nvidiaDriverFolder,
  ...icdFolders,
  ...vulkanLoaderPaths,
];

function envValue(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined; // no env permission
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** First line of `/proc/driver/nvidia/version`; `null` when no NVIDIA kernel driver is loaded. */
export async function nvidiaDriverVersion(): Promise<string | null> {
  try {
    return (await Deno.readTextFile(`${nvidiaDriverFolder}/version`)).split("\n")[0].trim();
  } catch {
    return null; // no NVIDIA driver (or no read permission)
  }
}

/** Reads what {@link webGpuFix} needs from the file system and the environment; never throws. */
export async function gpuEnvironment(): Promise<GpuEnvironment> {
  const icdFiles: string[] = [];
  for (const variable of ["VK_ICD_FILENAMES", "VK_DRIVER_FILES"]) {
    for (const file of (envValue(variable) ?? "").split(":").filter(Boolean)) {
      if (await exists(file)) icdFiles.push(file);
    }
  }
  for (const folder of icdFolders) {
    try {
      for await (const entry of Deno.readDir(folder)) {
        if (entry.name.endsWith(".json")) icdFiles.push(`${folder}/${entry.name}`);
      }
    } catch {
      // folder absent
    }
  }
  let vulkanLoader = false;
  for (const path of vulkanLoaderPaths) vulkanLoader ||= await exists(path);
  return {
    os: Deno.build.os,
    webGpuApi: (navigator as { gpu?: unknown }).gpu != null,
    nvidiaDriver: await nvidiaDriverVersion(),
    vulkanLoader,
    icdFiles: [...new Set(icdFiles)],
    driverCapabilities: envValue("NVIDIA_DRIVER_CAPABILITIES"),
  };
}

/** True when an NVIDIA_DRIVER_CAPABILITIES value grants `graphics` (itself or through `all`). */
function grantsGraphics(capabilities: string): boolean {
  const granted = capabilities.split(",").map((c) => c.trim().toLowerCase());
  return granted.includes("all") || granted.includes("graphics");
}

/**
 * The fix, in one line, for a machine that gave no WebGPU adapter, or (`softwareAdapter` given)
 * only a CPU emulation although an NVIDIA driver is loaded. Names the missing piece: the Vulkan
 * loader, the NVIDIA Vulkan ICD and the container capability that mounts it, or a GPU driver.
 */
export function webGpuFix(environment: GpuEnvironment, softwareAdapter?: string): string {
  const found = softwareAdapter
    ? `only a software adapter (${softwareAdapter}) although an NVIDIA driver is loaded`
    : "no WebGPU adapter";
  if (!environment.webGpuApi) {
    return `${found}: this runtime has no navigator.gpu (use Deno ≥ 2.0, run with --allow-all)`;
  }
  if (environment.os !== "linux") {
    return `${found}: check the GPU driver (WebGPU uses Metal on macOS, D3D12 or Vulkan on Windows)`;
  }
  if (!environment.vulkanLoader) {
    return `${found}: the Vulkan loader is missing; install libvulkan1 and libegl1 ` +
      `(apt-get install libvulkan1 libegl1) and a Vulkan driver`;
  }
  if (environment.nvidiaDriver != null) {
    const nvidiaIcd = environment.icdFiles.some((file) => /nvidia/i.test(file));
    const capabilities = environment.driverCapabilities;
    if (capabilities !== undefined && !grantsGraphics(capabilities)) {
      return `${found}: NVIDIA_DRIVER_CAPABILITIES=${capabilities} lacks "graphics", so the ` +
        `container runtime does not mount the NVIDIA Vulkan driver; start the container with ` +
        `NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics (or all)`;
    }
    if (!nvidiaIcd) {
      return `${found}: the NVIDIA Vulkan ICD (nvidia_icd.json) is not installed; on the host ` +
        `install the driver's Vulkan part, in a container set ` +
        `NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics and install libvulkan1 and libegl1`;
    }
    return `${found}: the NVIDIA Vulkan ICD is present but gave no adapter; check that the ` +
      `user-space driver matches the kernel driver (${environment.nvidiaDriver}) with vulkaninfo`;
  }
  if (environment.icdFiles.length === 0) {
    return `${found}: no Vulkan driver (ICD) is installed; install your GPU's Vulkan driver ` +
      `(NVIDIA driver, or mesa-vulkan-drivers for AMD/Intel; mesa's lavapipe is a CPU emulation ` +
      `for tests)`;
  }
  const drivers = environment.icdFiles.map((file) => file.split("/").pop()).join(", ");
  return `${found}: Vulkan drivers are installed (${drivers}) but none ` +
    `found a GPU; check the GPU driver and /dev/dri (or /dev/nvidia*) access with vulkaninfo`;
}
