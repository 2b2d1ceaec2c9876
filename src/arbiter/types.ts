/** The arbiter's contracts: what the daemon asks of it, what it reports, and the store it keeps keys in (etcd, or a fake). */

/** What the arbiter tells the state machine (each only when it changes). */
export type ArbiterReport =
  /** our lease is alive by our own clock (false: it may have expired at the store; detail says why) */
  | { type: "lease"; valid: boolean; detail?: string }
  /** the group's key names us (held), or someone else (owner), or nobody */
  | { type: "claim"; group: number; held: boolean; owner?: string };

export interface ArbiterStatus {
  kind: "etcd";
  /** the store answered the last request */
  reachable: boolean;
  endpoint: string;
  lease: string | null;
  /** ms left on the lease by our clock (it may live longer at etcd, never shorter) */
  lease_left_ms: number;
  ttl_ms: number;
  revision: string;
  error: string | null;
  /** by group name: who the key names, per the last answer ("" = nobody) */
  owners: Record<string, string>;
}

export interface Arbiter {
  start(report: (e: ArbiterReport) => void): void;
  /** Want group's key (on), or give it up; resolves once the key is released (or that failed: the lease ends it). */
  claim(group: number, on: boolean): Promise<void>;
  /** Revoke the lease (at exit, once every group is released): keys vanish at once. */
  close(): Promise<void>;
  status(): ArbiterStatus;
}

export interface KeyValue {
  key: string;
  value: string;
  lease: string;
  modRevision: string;
}

/** The store operations the arbiter uses (etcd.ts speaks them to etcd). */
export interface LeaseStore {
  revision: string;
  endpoint: string;
  grant(ttlS: number): Promise<{ id: string; ttlS: number }>;
  keepalive(id: string): Promise<number>;
  revoke(id: string): Promise<void>;
  claim(key: string, value: string, lease: string): Promise<{ held: boolean; owner?: string }>;
  release(key: string, value: string): Promise<void>;
  deleteIf(key: string, modRevision: string): Promise<void>;
  list(prefix: string): Promise<KeyValue[]>;
}
