/**
 * Load the embedded C shim. First choice: copy it into a memfd and dlopen
 * /proc/self/fd/N, which needs no writable or executable directory. Fallback:
 * dlopen the embedded path, which makes Bun extract it to $TMPDIR (fails when
 * TMPDIR is missing or mounted noexec). If both fail, one error names both
 * causes. Only src/native/ imports bun:ffi.
 */
import { dlopen, FFIType, type Library, type FFIFunction } from "bun:ffi";
import { closeSync, readFileSync, writeSync } from "node:fs";
import shimPath from "../../build/libhb.so" with { type: "file" };

const SYS_memfd_create = 319n; // x86-64
const MFD_CLOEXEC = 1;

export class ShimLoadError extends Error {
  override readonly name = "ShimLoadError";
}

export interface Loaded<T extends Record<string, FFIFunction>> {
  lib: Library<T>;
  via: "memfd" | "extract";
}

function viaMemfd<T extends Record<string, FFIFunction>>(symbols: T): Library<T> {
  const libc = dlopen("libc.so.6", {
    syscall: { args: [FFIType.i64, FFIType.cstring, FFIType.u32], returns: FFIType.i64 },
  });
  let fd = -1;
  try {
    fd = Number(libc.symbols.syscall(SYS_memfd_create, Buffer.from("hb-shim\0"), MFD_CLOEXEC));
    if (fd < 0) throw new Error("memfd_create failed (kernel older than 3.17, or seccomp)");
    const bytes = readFileSync(shimPath);
    for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off);
    // The mapping keeps the code alive; the descriptor can go once dlopen returns.
    return dlopen(`/proc/self/fd/${fd}`, symbols);
  } finally {
    if (fd >= 0) closeSync(fd);
    libc.close();
  }
}

/** HB_NO_MEMFD=1 skips the memfd path (diagnostics, and the tests of the fallback). */
export function loadLibrary<T extends Record<string, FFIFunction>>(symbols: T): Loaded<T> {
  let first: unknown = new Error("skipped (HB_NO_MEMFD=1)");
  if (process.env.HB_NO_MEMFD !== "1") {
    try {
      return { lib: viaMemfd(symbols), via: "memfd" };
    } catch (e) {
      first = e;
    }
  }
  try {
    return { lib: dlopen(shimPath, symbols), via: "extract" };
  } catch (second) {
    const why = (e: unknown) => (e instanceof Error ? e.message : String(e));
    throw new ShimLoadError(
      `cannot load the native shim: via memfd: ${why(first)}; via extraction to ${process.env.TMPDIR ?? "(TMPDIR unset)"}: ${why(second)}. ` +
        "hb needs /proc mounted (for memfd) or a TMPDIR that allows exec.",
      { cause: second },
    );
  }
}
