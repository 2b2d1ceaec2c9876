/**
 * The typed face of the C shim: the one module that declares its symbols.
 * Everything else in hb talks to the functions and classes exported here.
 */
import { FFIType, ptr } from "bun:ffi";
import { loadLibrary, type Loaded } from "./load.ts";

const { i32, ptr: p } = FFIType;

const SYMBOLS = {
  hb_abi_version: { args: [], returns: i32 },
  hb_hmac_sha256: { args: [p, i32, p, i32, p], returns: i32 },
} as const;

export const ABI_VERSION = 1;

let loaded: Loaded<typeof SYMBOLS> | undefined;

/** Load (once) and check the ABI. Throws ShimLoadError. */
export function shim() {
  if (!loaded) {
    loaded = loadLibrary(SYMBOLS);
    const abi = loaded.lib.symbols.hb_abi_version();
    if (abi !== ABI_VERSION) throw new Error(`native shim ABI ${abi}, expected ${ABI_VERSION}: rebuild with make`);
  }
  return loaded;
}

export function shimInfo(): { abi: number; via: string } {
  const s = shim();
  return { abi: s.lib.symbols.hb_abi_version(), via: s.via };
}

/** HMAC-SHA256, computed by the shim (the same code that signs frames). */
export function hmacSha256(key: Uint8Array, msg: Uint8Array): Uint8Array {
  const out = new Uint8Array(32);
  // ptr() refuses empty buffers; give the shim a 1-byte buffer with length 0 instead.
  const k = key.length ? key : new Uint8Array(1);
  const m = msg.length ? msg : new Uint8Array(1);
  const rc = shim().lib.symbols.hb_hmac_sha256(ptr(k), key.length, ptr(m), msg.length, ptr(out));
  if (rc !== 0) throw new Error(`hb_hmac_sha256: ${rc}`);
  return out;
}
