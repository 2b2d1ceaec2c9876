/**
 * The heartbeat boundary. The real implementation is the C engine
 * (./native.ts over the shim); FakeNetwork (./fake.ts) implements the same
 * interface on a fake clock for simulations. Both judge liveness the same way:
 * per link up -> late (warntime) -> dead (deadtime) -> up, per peer the best
 * of its links, and initdead until a peer is first heard.
 */

export type Liveness = "unknown" | "up" | "late" | "dead";
export const LIVENESS: readonly Liveness[] = ["unknown", "up", "late", "dead"];

/** Why a frame was dropped: mirrors enum hb_drop in native/frame.h, in order. */
export const DROP_REASONS = [
  "length",
  "version",
  "cluster",
  "sender",
  "key",
  "mac",
  "link",
  "generation",
  "replay",
  "duplicate",
] as const;
export type DropReason = (typeof DROP_REASONS)[number];

export interface LinkCounters {
  drops: Record<DropReason, number>;
  tx: number;
  txErrors: number;
  rx: number;
  /** Our own frames looped back (ignored). */
  self: number;
}

/** Times are milliseconds on the implementation's monotonic clock. */
export type HeartbeatEvent =
  | { type: "peer"; peer: string; state: Liveness; gapMs: number; at: number }
  | { type: "link"; peer: string; link: string; state: Liveness; gapMs: number; at: number }
  /** Sending on a link failed (down) or works again (up). */
  | { type: "local"; link: string; up: boolean; errno: number; at: number }
  | { type: "carrier"; link: string; up: boolean; at: number }
  /** Carrier of an interface that carries floating addresses. */
  | { type: "iface"; ifname: string; up: boolean; at: number }
  /** Uplink score: share of ping targets answering (0..100), targets up. */
  | { type: "score"; score: number; up: number; at: number }
  /** The peer's state record changed. */
  | { type: "record"; peer: string; record: Uint8Array; at: number }
  | { type: "control"; peer: string; link: string; data: Uint8Array; at: number }
  /** Events were lost (queue full); read the state again. */
  | { type: "overflow"; lost: number; at: number }
  | { type: "stopped"; errno: number; at: number }
  /** frames were dropped since the last one (at most every 2 s; the counters say which) */
  | { type: "drops"; at: number }
  /** a beat left lateMs after its time, over half the way to warntime: this host is too slow for these timers
   * (at most every 10 s) */
  | { type: "slow"; lateMs: number; at: number }
  /** Two live senders claim one node id (a cloned VM): peer, or null for this node's own id; the
   * addresses: the one in use, then the other (for this node: the other only). At most once a second. */
  | { type: "duplicate"; peer: string | null; link: string; addresses: string[]; at: number }
  /** Renewing the lease of a floating address, or announcing it, failed; or the native thread removed it
   * because the deadline JavaScript keeps moving passed (deadline), or because a peer went dead while
   * guarded (peer-dead, with that peer); errno 0 = removed. */
  | {
      type: "vip";
      op: VipOp;
      /** the peer whose death removed it (peer-dead), else null */
      peer: string | null;
      errno: number;
      address: string;
      at: number;
    };

/** The native thread's VIP events by their state number (engine.h, HB_EV_VIP). */
export const VIP_OPS = { 1: "renew", 2: "announce", 3: "deadline", 4: "peer-dead" } as const;
export type VipOp = (typeof VIP_OPS)[keyof typeof VIP_OPS];

/** A rule the heartbeat thread enforces by itself: when a peer goes dead and the votes it still hears
 * (`self` + `votes` of every peer up or late) fall below `need`, it removes the floating addresses. */
export interface AddressGuard {
  votes: Record<string, number>;
  self: number;
  need: number;
}

export interface Links {
  /** Start beating; events arrive through onEvent, in order. */
  start(onEvent: (e: HeartbeatEvent) => void): void;
  /** Our state record, repeated in every beat from now on (at most 64 bytes). */
  setRecord(record: Uint8Array): void;
  /** Send a control message on every link at once (at most 64 bytes). */
  sendControl(data: Uint8Array): void;
  counters(): Record<string, LinkCounters>;
  stop(): void;
}

/** What the heartbeat knows of every peer on every link; times in ms on its monotonic clock (0 = never). */
export type PeerLinks = {
  peer: string;
  links: {
    link: string;
    lastRxMs: number;
    state: Liveness;
    late: number;
    rx: number;
    /** frames naming this peer that failed authentication (a wrong key, most likely), and the last one */
    authFail: number;
    authFailMs: number;
  }[];
}[];

export interface HeartbeatTiming {
  keepalive: number;
  warntime: number;
  deadtime: number;
  initdead: number;
}
