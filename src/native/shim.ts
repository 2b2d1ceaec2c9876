/**
 * The only importer of bun:ffi: loads the embedded C shim and declares its
 * symbols. Everything else in hb uses the functions and classes exported here.
 *
 * Loading: first copy the shim into a memfd and dlopen /proc/self/fd/N, which
 * needs no writable or executable directory. Fallback: dlopen the embedded
 * path, which makes Bun extract it to $TMPDIR (fails when TMPDIR is missing or
 * mounted noexec). If both fail, one error names both causes.
 * HB_NO_MEMFD=1 skips the memfd path (diagnostics, and the fallback's tests).
 */
import { dlopen, FFIType, JSCallback, type Pointer, ptr, read } from "bun:ffi";
import { closeSync, readFileSync, writeSync } from "node:fs";
import { constants } from "node:os";
import shimPath from "../../build/libhb.so" with { type: "file" };

const { i32, u32, i64, u64, ptr: p, cstring } = FFIType;

const SYMBOLS = {
  hb_abi_version: { args: [], returns: i32 },
  hb_reexec_with: { args: [cstring, cstring], returns: i32 },
  hb_hmac_sha256: { args: [p, i32, p, i32, p], returns: i32 },
  hb_monotonic_ns: { args: [], returns: i64 },
  hb_event_size: { args: [], returns: i32 },
  hb_engine_new: { args: [u32, i32, u64, i32, i32, i32, i32], returns: p },
  hb_engine_add_key: { args: [p, i32, p, i32], returns: i32 },
  hb_engine_set_send_key: { args: [p, i32], returns: i32 },
  hb_engine_add_peer: { args: [p, i32], returns: i32 },
  hb_engine_set_heard: { args: [p, i32, p, i32], returns: i32 },
  hb_engine_wake_on: { args: [p, i32], returns: i32 },
  hb_engine_wake_ack: { args: [p, i32], returns: i32 },
  hb_engine_peer_floor: { args: [p, i32, u64, p, i32], returns: i32 },
  hb_engine_peer_seen: { args: [p, i32, p, i32], returns: i32 },
  hb_engine_add_ether: { args: [p, cstring, p, i32], returns: i32 },
  hb_engine_add_udp: { args: [p, cstring, i32, i32, i32, p, i32], returns: i32 },
  hb_engine_add_serial: { args: [p, cstring, i32], returns: i32 },
  hb_engine_set_record: { args: [p, p, i32], returns: i32 },
  hb_engine_send_control: { args: [p, p, i32], returns: i32 },
  hb_engine_start: { args: [p, p], returns: i32 },
  hb_engine_poll: { args: [p, p, i32], returns: i32 },
  hb_engine_counters: { args: [p, i32, p, i32], returns: i32 },
  hb_engine_lateness: { args: [p, p, i32], returns: i32 },
  hb_engine_realtime: { args: [p, i32], returns: i32 },
  hb_engine_lock_memory: { args: [p], returns: i64 },
  hb_engine_set_timing: { args: [p, i32, i32, i32], returns: i32 },
  hb_engine_peer_link: { args: [p, i32, i32, p, i32], returns: i32 },
  hb_engine_watch: { args: [p, cstring], returns: i32 },
  hb_engine_add_ping: { args: [p, p, cstring, i32, i32, i32], returns: i32 },
  hb_legacy_open: { args: [cstring, i32], returns: i32 },
  hb_legacy_read: { args: [i32, p, i32, p], returns: i32 },
  hb_legacy_close: { args: [i32], returns: i32 },
  hb_dgram_open: { args: [], returns: i32 },
  hb_dgram_send: { args: [i32, p, i32, p, i32], returns: i32 },
  hb_dgram_close: { args: [i32], returns: i32 },
  hb_signal_guard: { args: [i32], returns: i32 },
  hb_write_atomic: { args: [cstring, cstring, p, i32, i32, i32], returns: i32 },
  hb_signal_count: { args: [i32], returns: i32 },
  hb_signal_wake_fd: { args: [], returns: i32 },
  hb_signal_wake_drain: { args: [], returns: i32 },
  hb_signal_rt_range: { args: [], returns: i32 },
  hb_engine_stop: { args: [p], returns: i32 },
  hb_engine_free: { args: [p], returns: FFIType.void },
  hb_engine_vip: { args: [p, i32, i32, cstring, p, i32, cstring, i32, i32, i32, i32], returns: i32 },
  hb_engine_vip_deadline: { args: [p, i64], returns: i32 },
  hb_engine_vip_guard: { args: [p, p, i32, i32], returns: i32 },
  hb_addr_add: { args: [i32, cstring, p, i32, cstring, i32, i32], returns: i32 },
  hb_addr_del: { args: [i32, cstring, p, i32], returns: i32 },
  hb_addr_has: { args: [i32, cstring, p], returns: i32 },
  hb_announce: { args: [i32, cstring, p, i32], returns: i32 },
  hb_probe: { args: [i32, cstring, p, i32], returns: i32 },
  hb_vip_prepare: { args: [i32, cstring], returns: i32 },
} as const;

export const ABI_VERSION = 7;
/** memfd_create has its own number on each architecture (asm/unistd.h) */
const SYS_memfd_create = process.arch === "arm64" ? 279n : 319n;
const MFD_CLOEXEC = 1;

export class ShimLoadError extends Error {
  override readonly name = "ShimLoadError";
}

type Lib = ReturnType<typeof dlopen<typeof SYMBOLS>>;

function viaMemfd(): Lib {
  const libc = dlopen("libc.so.6", { syscall: { args: [i64, cstring, u32], returns: i64 } });
  let fd = -1;
  try {
    fd = Number(libc.symbols.syscall(SYS_memfd_create, Buffer.from("hb-shim\0"), MFD_CLOEXEC));
    if (fd < 0) throw new Error("memfd_create failed (kernel older than 3.17, or seccomp)");
    const bytes = readFileSync(shimPath);
    for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off);
    // the mapping keeps the code alive; the descriptor can go once dlopen returns
    return dlopen(`/proc/self/fd/${fd}`, SYMBOLS);
  } finally {
    if (fd >= 0) closeSync(fd);
    libc.close();
  }
}

function load(): { lib: Lib; via: "memfd" | "extract" } {
  let first: unknown = new Error("skipped (HB_NO_MEMFD=1)");
  if (process.env.HB_NO_MEMFD !== "1") {
    try {
      return { lib: viaMemfd(), via: "memfd" };
    } catch (e) {
      first = e;
    }
  }
  try {
    return { lib: dlopen(shimPath, SYMBOLS), via: "extract" };
  } catch (second) {
    const why = (e: unknown) => (e instanceof Error ? e.message : String(e));
    throw new ShimLoadError(
      `cannot load the native shim: via memfd: ${why(first)}; via extraction to ${process.env.TMPDIR ?? "(TMPDIR unset)"}: ${why(second)}. ` +
        "hb needs /proc mounted (for memfd) or a TMPDIR that allows exec.",
      { cause: second },
    );
  }
}

let loaded: ReturnType<typeof load> | undefined;

/** Load (once) and check the ABI. Throws ShimLoadError. */
function shim() {
  if (!loaded) {
    loaded = load();
    const abi = loaded.lib.symbols.hb_abi_version();
    if (abi !== ABI_VERSION)
      throw new ShimLoadError(`native shim ABI ${abi}, expected ${ABI_VERSION}: rebuild with make`);
  }
  return loaded;
}
const sym = () => shim().lib.symbols;

export function shimInfo(): { abi: number; via: string } {
  const s = shim();
  return { abi: s.lib.symbols.hb_abi_version(), via: s.via };
}

/** A non-empty buffer for ptr() (which refuses empty ones); the length passed stays 0. */
const nonEmpty = (b: Uint8Array) => (b.length ? b : new Uint8Array(1));

/** HMAC-SHA256, computed by the shim (the same code that signs frames). */
export function hmacSha256(key: Uint8Array, msg: Uint8Array): Uint8Array {
  const out = new Uint8Array(32);
  const rc = sym().hb_hmac_sha256(ptr(nonEmpty(key)), key.length, ptr(nonEmpty(msg)), msg.length, ptr(out));
  if (rc !== 0) throw new Error(`hb_hmac_sha256: ${rc}`);
  return out;
}

/** Run this executable again with name=value in its environment: same PID, same arguments. Returns only if
 * that failed, with the errno's name (the environment is as it was). */
export function reexecWith(name: string, value: string): string {
  return errnoName(-sym().hb_reexec_with(cstr(name), cstr(value)));
}

/** CLOCK_MONOTONIC in milliseconds (the clock of every engine event). */
export function monotonicMs(): number {
  return Number(sym().hb_monotonic_ns()) / 1e6;
}

const ERRNO_NAME = new Map(Object.entries(constants.errno).map(([k, v]) => [v, k]));
export function errnoName(n: number): string {
  return ERRNO_NAME.get(Math.abs(n)) ?? `errno ${Math.abs(n)}`;
}

/**
 * Replace dir/name whole: the directory opened once, a fresh randomly named file in it (O_EXCL |
 * O_NOFOLLOW), its mode set on its descriptor, then renamed over name (see native/files.c).
 */
export function writeAtomicAt(dir: string, name: string, data: Uint8Array, mode: number, sync: boolean): void {
  const rc = sym().hb_write_atomic(
    Buffer.from(`${dir}\0`),
    Buffer.from(`${name}\0`),
    ptr(nonEmpty(data)),
    data.length,
    mode,
    sync ? 1 : 0,
  );
  if (rc < 0) throw new NativeError(`writing ${dir}/${name}`, -rc);
}

/**
 * Stray signals the runtime does not handle: a counting handler replaces the default action (which
 * would end the process). Returns the signals now guarded (those already handled are left alone).
 */
export function guardSignals(signals: number[]): number[] {
  return signals.filter((n) => sym().hb_signal_guard(n) === 1);
}
/** How often a guarded signal arrived. */
export function signalCount(n: number): number {
  return Math.max(0, sym().hb_signal_count(n));
}
/** The eventfd a guarded signal bumps (for the engine to watch), or -1. */
export function signalWakeFd(): number {
  return Math.max(-1, sym().hb_signal_wake_fd());
}
/** Empty that eventfd, after reading the counts. */
export function drainSignalWake(): void {
  sym().hb_signal_wake_drain();
}
/** This libc's real-time signal range. */
export function realtimeSignals(): { min: number; max: number } {
  const r = sym().hb_signal_rt_range();
  return { min: r >> 8, max: r & 255 };
}

/** An error from the shim: which call, and the errno it returned. */
export class NativeError extends Error {
  override readonly name = "NativeError";
  constructor(
    readonly call: string,
    readonly errno: number,
  ) {
    super(`${call}: ${errnoName(errno)}`);
  }
}
const check = (call: string, rc: number): number => {
  if (rc < 0) throw new NativeError(call, -rc);
  return rc;
};

/* ---------- floating addresses ---------- */

export interface Vip {
  family: 4 | 6;
  address: string;
  prefix: number;
  ifname: string;
  label?: string;
}
export interface VipLease {
  /** kernel lifetime in whole seconds, renewed every third of it; 0 = forever */
  lifetimeS: number;
  /** announcement pairs per burst */
  pairs: number;
  /** delay of the second burst, ms (0 = none) */
  secondMs: number;
  /** periodic refresh, ms (0 = none) */
  refreshMs: number;
}

function addrBytes(a: Pick<Vip, "family" | "address">): Uint8Array {
  if (a.family === 4) return Uint8Array.from(a.address.split(".").map(Number));
  // expand :: and hex groups into 16 bytes
  const [head, tail = ""] = a.address.includes("::")
    ? a.address.split("::")
    : [a.address, undefined as unknown as string];
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const v = parseInt(g || "0", 16);
    out[2 * i] = v >> 8;
    out[2 * i + 1] = v & 255;
  });
  return out;
}

/** Add (or, with replace, renew) an address with a kernel lifetime (0 = forever). */
export function addrAdd(a: Vip, lifetimeS: number, replace = false): void {
  check(
    `add ${a.address}/${a.prefix} on ${a.ifname}`,
    sym().hb_addr_add(
      a.family,
      cstr(a.ifname),
      ptr(addrBytes(a)),
      a.prefix,
      cstr(a.label ?? ""),
      lifetimeS,
      replace ? 1 : 0,
    ),
  );
}
/** Remove an address; false when it was not there. */
export function addrDel(a: Vip): boolean {
  const rc = sym().hb_addr_del(a.family, cstr(a.ifname), ptr(addrBytes(a)), a.prefix);
  if (rc === -99 /* EADDRNOTAVAIL */) return false;
  check(`remove ${a.address}/${a.prefix} from ${a.ifname}`, rc);
  return true;
}
export function addrHas(a: Pick<Vip, "family" | "address" | "ifname">): boolean {
  return (
    check(`look up ${a.address} on ${a.ifname}`, sym().hb_addr_has(a.family, cstr(a.ifname), ptr(addrBytes(a)))) === 1
  );
}
/** Send `pairs` gratuitous ARP request+reply (IPv4) or 2 x unsolicited NA (IPv6). Returns frames sent. */
export function announce(a: Pick<Vip, "family" | "address" | "ifname">, pairs: number): number {
  return check(
    `announce ${a.address} on ${a.ifname}`,
    sym().hb_announce(a.family, cstr(a.ifname), ptr(addrBytes(a)), pairs),
  );
}
/** Does anyone answer for the address within waitMs? (ARP probe / DAD) */
export function probe(a: Pick<Vip, "family" | "address" | "ifname">, waitMs: number): boolean {
  return (
    check(`probe ${a.address} on ${a.ifname}`, sym().hb_probe(a.family, cstr(a.ifname), ptr(addrBytes(a)), waitMs)) ===
    1
  );
}
/** Open the packet sockets for announcements and probes on an interface ahead of the first takeover. */
export function vipPrepare(family: 4 | 6, ifname: string): void {
  check(`prepare ${ifname}`, sym().hb_vip_prepare(family, cstr(ifname)));
}

/* ---------- local datagrams (syslog, systemd notify) ---------- */

/** A Unix datagram sender: never blocks; a full or missing receiver is an error the caller may ignore. */
export class DgramSocket {
  private fd: number;
  constructor() {
    this.fd = check("unix datagram socket", sym().hb_dgram_open());
  }
  /** Send one datagram to `path` ("@name" = abstract namespace). Throws NativeError (ENOENT, EAGAIN, ...). */
  send(path: string, msg: string | Uint8Array): void {
    if (this.fd < 0) throw new NativeError(`send to ${path}`, 9 /* EBADF */);
    const p = Buffer.from(path);
    const b = typeof msg === "string" ? Buffer.from(msg) : msg;
    check(`send to ${path}`, sym().hb_dgram_send(this.fd, ptr(p), p.length, ptr(nonEmpty(b)), b.length));
  }
  close(): void {
    if (this.fd >= 0) sym().hb_dgram_close(this.fd);
    this.fd = -1;
  }
}

/* ---------- Heartbeat v1 listener (read-only) ---------- */

/** Sees Heartbeat v1 datagrams to `port` on one interface (src/legacy/guard.ts decides what they mean). */
export class LegacyListener {
  private fd: number;
  private readonly buf = new Uint8Array(65536);
  private readonly src = new Uint8Array(4);
  constructor(
    readonly ifname: string,
    port: number,
  ) {
    this.fd = check(`legacy listener on ${ifname}`, sym().hb_legacy_open(cstr(ifname), port));
  }
  /** The socket, for the engine to watch (hb_engine_wake_on); -1 once closed. */
  get descriptor(): number {
    return this.fd;
  }
  /** The next datagram waiting (payload and sender), or undefined; never blocks. */
  read(): { payload: Uint8Array; from: string } | undefined {
    if (this.fd < 0) return undefined;
    for (let i = 0; i < 4; i++) {
      const n = sym().hb_legacy_read(this.fd, ptr(this.buf), this.buf.length, ptr(this.src));
      if (n === -11 /* EAGAIN */) return undefined;
      if (n < 0) throw new NativeError(`legacy listener on ${this.ifname}`, -n);
      if (n === 0) continue; // our own
      return { payload: this.buf.slice(0, n), from: [...this.src].join(".") };
    }
    return undefined;
  }
  close(): void {
    if (this.fd >= 0) sym().hb_legacy_close(this.fd);
    this.fd = -1;
  }
}

/* ---------- the heartbeat engine ---------- */

export interface EngineLinkSpec {
  kind: "ether" | "udp" | "serial";
  /** ether/udp: interface; serial: device */
  device: string;
  /** ether: peer MACs (6 bytes each), empty = broadcast */
  macs?: Uint8Array[];
  /** udp */
  mode?: "broadcast" | "multicast" | "unicast";
  port?: number;
  ttl?: number;
  /** udp: IPv4 destinations (unicast peers, or the multicast group) */
  dests?: string[];
  baud?: number;
}

export interface EngineSpec {
  clusterId: number;
  selfId: number;
  generation: bigint;
  keepalive: number;
  warntime: number;
  deadtime: number;
  initdead: number;
  keys: { id: number; secret: Uint8Array }[];
  sendKey: number;
  peerIds: number[];
  /** the engine writes the peers it hears into every beat's record: at this byte offset, peer i as bit bits[i] */
  heard?: { offset: number; bits: number[] };
  /** by peer index: what an earlier run last accepted from it (generation, sequence per link) */
  floors?: ({ generation: bigint; seqs: bigint[] } | undefined)[];
  links: EngineLinkSpec[];
  /** interfaces whose carrier to report (EV.IFACE, arg = index here) */
  watches?: string[];
  /** uplink ping targets (EV.SCORE) */
  pings?: { addr: string; ifname: string; intervalMs: number; timeoutMs: number; misses: number }[];
}

/** A raw engine event; the heartbeat layer gives it names. */
export interface RawEvent {
  type: number;
  peer: number;
  link: number;
  state: number;
  tMs: number;
  gapMs: number;
  arg: number;
  data: Uint8Array;
}

export const EV = {
  PEER: 1,
  LINK: 2,
  LOCAL: 3,
  CARRIER: 4,
  RECORD: 5,
  CONTROL: 6,
  OVERFLOW: 7,
  STOPPED: 8,
  VIP: 9,
  IFACE: 10,
  SCORE: 11,
  DUPLICATE: 12,
  WAKE: 13,
  DROPS: 14,
  SLOW: 15,
} as const;
export const COUNTERS = 14; // HB_CNT_COUNT: 10 drop reasons, tx, tx_err, rx, self
const BATCH = 64;
const UDP_MODE = { broadcast: 0, multicast: 1, unicast: 2 } as const;

const cstr = (s: string) => Buffer.from(`${s}\0`);
const ipv4 = (a: string) => Uint8Array.from(a.split(".").map(Number));
/** One heartbeat link of the engine's spec, added to the engine. */
function addLink(s: ReturnType<typeof sym>, h: Pointer, l: EngineSpec["links"][number]): void {
  if (l.kind === "ether") {
    const macs = l.macs ?? [];
    const flat = new Uint8Array(Math.max(1, macs.length * 6));
    for (const [i, m] of macs.entries()) flat.set(m, i * 6);
    check(`ether link on ${l.device}`, s.hb_engine_add_ether(h, cstr(l.device), ptr(flat), macs.length));
  } else if (l.kind === "udp") {
    const dests = l.dests ?? [];
    const flat = new Uint8Array(Math.max(1, dests.length * 4));
    for (const [i, d] of dests.entries()) flat.set(ipv4(d), i * 4);
    check(
      `udp link on ${l.device}`,
      s.hb_engine_add_udp(
        h,
        cstr(l.device),
        UDP_MODE[l.mode ?? "broadcast"],
        l.port ?? 0,
        l.ttl ?? 0, // 0: refused (the config always sets them)
        ptr(flat),
        dests.length,
      ),
    );
  } else {
    check(`serial link on ${l.device}`, s.hb_engine_add_serial(h, cstr(l.device), l.baud ?? 0)); // 0: refused (the config always sets it)
  }
}

export class Engine {
  private handle: Pointer | null;
  private callback?: JSCallback;
  private readonly evSize: number;
  private readonly buf: Uint8Array;

  constructor(spec: EngineSpec) {
    const s = sym();
    this.evSize = s.hb_event_size();
    this.buf = new Uint8Array(this.evSize * BATCH);
    const made = s.hb_engine_new(
      spec.clusterId >>> 0,
      spec.selfId,
      spec.generation,
      spec.keepalive,
      spec.warntime,
      spec.deadtime,
      spec.initdead,
    );
    if (!made) throw new NativeError("hb_engine_new", 22);
    // a `ptr` return is a number at run time; the types also allow bigint for 64-bit returns
    const h = made as Pointer;
    this.handle = h;
    try {
      for (const k of spec.keys) check(`add key ${k.id}`, s.hb_engine_add_key(h, k.id, ptr(k.secret), k.secret.length));
      check("set send key", s.hb_engine_set_send_key(h, spec.sendKey));
      for (const id of spec.peerIds) check(`add peer ${id}`, s.hb_engine_add_peer(h, id));
      if (spec.heard)
        check(
          "heard set",
          s.hb_engine_set_heard(
            h,
            spec.heard.offset,
            ptr(Int32Array.from(spec.heard.bits.length ? spec.heard.bits : [0])),
            spec.heard.bits.length,
          ),
        );
      (spec.floors ?? []).forEach((f, i) => {
        if (f)
          check(
            `floor of peer ${i}`,
            s.hb_engine_peer_floor(
              h,
              i,
              f.generation,
              ptr(BigUint64Array.from(f.seqs.length ? f.seqs : [0n])),
              f.seqs.length,
            ),
          );
      });
      for (const l of spec.links) addLink(s, h, l);
      for (const w of spec.watches ?? []) check(`watch ${w}`, s.hb_engine_watch(h, cstr(w)));
      for (const pg of spec.pings ?? [])
        check(
          `ping ${pg.addr}${pg.ifname ? ` via ${pg.ifname}` : ""}`,
          s.hb_engine_add_ping(h, ptr(ipv4(pg.addr)), cstr(pg.ifname), pg.intervalMs, pg.timeoutMs, pg.misses),
        );
    } catch (e) {
      s.hb_engine_free(h);
      this.handle = null;
      throw e;
    }
  }

  private get h(): Pointer {
    if (!this.handle) throw new Error("engine is closed");
    return this.handle;
  }

  /** Start the thread; onEvents gets every batch, in order, on the JS thread. */
  start(onEvents: (events: RawEvent[]) => void): void {
    // threadsafe: the C thread calls it; Bun queues the call onto the JS thread
    this.callback = new JSCallback(() => onEvents(this.poll()), { args: [], returns: "void", threadsafe: true });
    check("start", sym().hb_engine_start(this.h, this.callback.ptr));
  }

  /** Take every queued event. */
  poll(): RawEvent[] {
    const out: RawEvent[] = [];
    if (!this.handle) return out;
    for (;;) {
      const n = check("poll", sym().hb_engine_poll(this.h, ptr(this.buf), BATCH));
      const dv = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
      for (let i = 0; i < n; i++) {
        const o = i * this.evSize;
        const len = dv.getInt32(o + 36, true);
        out.push({
          type: dv.getUint32(o, true),
          peer: dv.getInt32(o + 4, true),
          link: dv.getInt32(o + 8, true),
          state: dv.getInt32(o + 12, true),
          tMs: Number(dv.getBigInt64(o + 16, true)) / 1e6,
          gapMs: Number(dv.getBigInt64(o + 24, true)) / 1e6,
          arg: dv.getInt32(o + 32, true),
          data: this.buf.slice(o + 40, o + 40 + Math.max(0, Math.min(64, len))),
        });
      }
      if (n < BATCH) return out;
    }
  }

  /** After start: an HB_EV_WAKE (arg = the returned index) when fd becomes readable; edge-triggered. */
  wakeOn(fd: number): number {
    return check("wake on", sym().hb_engine_wake_on(this.h, fd));
  }

  /** Take the wake-up of index i: the next readiness raises a new one. */
  wakeAck(i: number): void {
    if (this.handle) sym().hb_engine_wake_ack(this.handle, i);
  }

  setRecord(record: Uint8Array): void {
    check("set record", sym().hb_engine_set_record(this.h, ptr(nonEmpty(record)), record.length));
  }

  sendControl(data: Uint8Array): void {
    check("send control", sym().hb_engine_send_control(this.h, ptr(nonEmpty(data)), data.length));
  }

  /** Keep a VIP leased and announced from the native thread (see hb_engine_vip), or forget it. */
  vip(on: boolean, a: Vip, lease: VipLease): void {
    check(
      `vip ${a.address}`,
      sym().hb_engine_vip(
        this.h,
        on ? 1 : 0,
        a.family,
        cstr(a.ifname),
        ptr(addrBytes(a)),
        a.prefix,
        cstr(a.label ?? ""),
        lease.lifetimeS,
        lease.pairs,
        lease.secondMs,
        lease.refreshMs,
      ),
    );
  }

  /** Past `inMs` from now, the native thread removes every address it keeps (unless moved again); null: never. */
  vipDeadline(inMs: number | null): void {
    const until = inMs === null ? 0n : BigInt(sym().hb_monotonic_ns()) + BigInt(Math.max(1, Math.round(inMs * 1e6)));
    check("vip deadline", sym().hb_engine_vip_deadline(this.h, until));
  }

  /** When a peer goes dead and the votes still heard (selfVotes + votes[i] of each live peer, in peer order)
   * fall below need, the native thread removes every address it keeps. need 0: no rule. */
  vipGuard(votes: number[], selfVotes: number, need: number): void {
    const v = Int32Array.from(votes.length ? votes : [0]);
    check("vip guard", sym().hb_engine_vip_guard(this.h, v, selfVotes, need));
  }

  /** New timing, applied by the native thread at once (hb reload). */
  setTiming(keepalive: number, warntime: number, deadtime: number): void {
    check("set timing", sym().hb_engine_set_timing(this.h, keepalive, warntime, deadtime));
  }

  /** What the native thread knows of one peer on one link. */
  /** What was last accepted from a peer: its generation and sequence per link. */
  peerSeen(peer: number, links: number): { generation: bigint; seqs: bigint[] } {
    const out = new BigUint64Array(1 + links);
    check("peer seen", sym().hb_engine_peer_seen(this.h, peer, ptr(out), out.length));
    return { generation: out[0]!, seqs: [...out.slice(1)] };
  }

  peerLink(
    peer: number,
    link: number,
  ): { lastRxMs: number; state: number; late: number; rx: number; authFail: number; authFailMs: number } {
    const out = new BigInt64Array(6);
    check("peer link", sym().hb_engine_peer_link(this.h, peer, link, ptr(out), 6));
    return {
      lastRxMs: Number(out[0]) / 1e6,
      state: Number(out[1]),
      late: Number(out[2]),
      rx: Number(out[3]),
      authFail: Number(out[4]),
      authFailMs: Number(out[5]) / 1e6,
    };
  }

  counters(link: number): bigint[] {
    const out = new BigUint64Array(COUNTERS);
    const n = check("counters", sym().hb_engine_counters(this.h, link, ptr(out), COUNTERS));
    return [...out.slice(0, n)];
  }

  /** How late beats left: the worst ever and lately (ms), and how many were over half the way to warntime. */
  lateness(): { worstMs: number; recentMs: number; slow: number } {
    const out = new BigInt64Array(3);
    check("lateness", sym().hb_engine_lateness(this.h, ptr(out), 3));
    return { worstMs: Number(out[0]) / 1e6, recentMs: Number(out[1]) / 1e6, slow: Number(out[2]) };
  }

  /** The heartbeat thread at real-time priority prio (SCHED_FIFO), 0 = normal: 0, or the -errno refusing it. */
  realtime(prio: number): number {
    return sym().hb_engine_realtime(this.h, prio);
  }

  /** Lock in RAM what the heartbeat thread touches: the bytes locked, or the -errno refusing it. */
  lockMemory(): number {
    return Number(sym().hb_engine_lock_memory(this.h));
  }

  /** Stop the thread, close its sockets, free it. Idempotent. */
  close(): void {
    if (!this.handle) return;
    sym().hb_engine_stop(this.handle);
    sym().hb_engine_free(this.handle);
    this.handle = null;
    this.callback?.close();
    this.callback = undefined;
  }
}

/* ---------- who is on the other end of the control socket ---------- */

const SOL_SOCKET = 1;
const SO_PEERCRED = 17; // the same number on x86-64 and arm64
let credLib: ReturnType<typeof openCredLib> | undefined;
function openCredLib() {
  return dlopen("libc.so.6", {
    getsockopt: { args: [i32, i32, i32, p, p], returns: i32 },
    getgrnam: { args: [cstring], returns: p },
  });
}

/** The uid of the process connected to this Unix socket (SO_PEERCRED), or undefined when it cannot be told. */
export function peerUid(fd: number | undefined): number | undefined {
  if (typeof fd !== "number" || fd < 0) return undefined;
  credLib ??= openCredLib();
  const cred = new Uint32Array(3); // struct ucred: pid, uid, gid
  const len = new Uint32Array([12]);
  return credLib.symbols.getsockopt(fd, SOL_SOCKET, SO_PEERCRED, ptr(cred), ptr(len)) === 0 ? cred[1] : undefined;
}

/** A group's id by name (NSS: /etc/group, LDAP...), or a number given as such; undefined when there is none. */
export function groupId(name: string): number | undefined {
  if (/^\d+$/.test(name)) return Number(name);
  credLib ??= openCredLib();
  const g = credLib.symbols.getgrnam(Buffer.from(`${name}\0`));
  // struct group { char *gr_name; char *gr_passwd; gid_t gr_gid; ... }: the id after two pointers
  return g ? read.u32(g, 16) : undefined;
}
