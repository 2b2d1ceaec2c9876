/** The contract between the daemon's driver and whatever starts and stops resources (the real runner, or a test's fake). */
import type { ResourceConfig } from "../config/schema.ts";

export interface RunResult {
  ok: boolean;
  error?: string;
}

/** A monitor crossed its threshold (issue 17): failed (ok false) or recovered, while its group runs here. */
export interface MonitorReport {
  group: number;
  step: number;
  ok: boolean;
  detail?: string;
}

/** Starts and stops resources; never throws, answers with a result. */
export interface Runner {
  run(op: "start" | "stop", group: number, step: number): Promise<RunResult>;
  /** Remove leftovers of groups this node does not hold (addresses after a crash). */
  sweep(held: number[]): Promise<void>;
  /** Announce the group's addresses again (gratuitous ARP / NA bursts). */
  announce(group: number): void;
  reboot(reason: string): void;
  /** Remove the group's floating addresses now (quorum lost: before any stop script runs). */
  dropAddresses?(group: number): void;
  /** Watch the group's resources while it runs here (on), or no longer; crossings come back through report. */
  monitor?(group: number, on: boolean, report: (r: MonitorReport) => void): void;
  /** Fence a dead peer (power it off, cut it off): ok only if that is certain. */
  fence?(peer: string): Promise<RunResult>;
}

/** How a resource is named in logs, status and history. */
export const resourceName = (r: ResourceConfig): string =>
  r.kind === "ip" ? `ip ${r.address}/${r.prefix}` : r.kind === "script" ? `script ${r.script}` : `systemd ${r.systemd}`;
