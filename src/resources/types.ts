/** The contract between the daemon's driver and whatever starts and stops resources (the real runner, or a test's fake). */
import type { ResourceConfig } from "../config/schema.ts";

export interface RunResult {
  ok: boolean;
  error?: string;
}

/** Starts and stops resources; never throws, answers with a result. */
export interface Runner {
  run(op: "start" | "stop", group: number, step: number): Promise<RunResult>;
  /** Remove leftovers of groups this node does not hold (addresses after a crash). */
  sweep(held: number[]): Promise<void>;
  /** Announce the group's addresses again (gratuitous ARP / NA bursts). */
  announce(group: number): void;
  reboot(reason: string): void;
  /** Fence a dead peer (power it off, cut it off): ok only if that is certain. */
  fence?(peer: string): Promise<RunResult>;
}

/** How a resource is named in logs, status and history. */
export const resourceName = (r: ResourceConfig): string =>
  r.kind === "ip" ? `ip ${r.address}/${r.prefix}` : r.kind === "script" ? `script ${r.script}` : `systemd ${r.systemd}`;
