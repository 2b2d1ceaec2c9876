/**
 * Starting and stopping resources for real: floating addresses through the
 * shim (probe, add with a lease, announce, keep leased from the native thread)
 * and services (LSB scripts, systemd units) as child processes with a timeout.
 * Nothing here blocks the event loop for long: the probe waits at most
 * probe_wait, processes are awaited asynchronously. Every call answers with a
 * RunResult; nothing throws out of run().
 */
import { accessSync, constants, existsSync } from "node:fs";
import { join } from "node:path";
import type { AddressesConfig, GroupConfig, ResourceConfig } from "../config/schema.ts";
import { logger } from "../log/log.ts";
import { addrAdd, addrDel, addrHas, announce, probe, type Vip, vipPrepare } from "../native/shim.ts";
import { type CheckResult, exitDetail, hasProbes, heartbeatStatus, runProbes } from "./checks.ts";
import { CHILD_ENV, execGroup } from "./exec.ts";
import { type Threshold, Watch, type WatchStatus } from "./monitor.ts";
import { type MonitorReport, type Runner, type RunResult, resourceName } from "./types.ts";

/** What the runner needs from the heartbeat engine: keeping a VIP leased and announced. */
export interface VipKeeper {
  vip(on: boolean, a: Vip, lease: { lifetimeS: number; pairs: number; secondMs: number; refreshMs: number }): void;
}

export interface RunnerOptions {
  groups: GroupConfig[];
  addresses: AddressesConfig;
  scriptDirs: string[];
  keeper: VipKeeper;
  /** true while a peer that may still hold our addresses died less than a lease ago */
  peerRecentlyLost: () => boolean;
  /** the fence program and its arguments (the node name is appended), and its timeout */
  fence?: { command: string[]; timeout: number };
  /** a monitor put something right by itself (an address another program removed): for the history */
  onRepair?: (text: string) => void;
  /** an address conflict was found (another host answers for a floating address) */
  onConflict?: (address: string, ifname: string, message: string) => void;
  /** how a service process is run (tests replace it) */
  spawn?: typeof Bun.spawn;
  /** systemctl, by absolute path (default: /usr/bin/systemctl, else /bin/systemctl) */
  systemctl?: string;
}

const SYSTEMCTL = existsSync("/usr/bin/systemctl") ? "/usr/bin/systemctl" : "/bin/systemctl";

const vipOf = (r: Extract<ResourceConfig, { kind: "ip" }>): Vip => ({
  family: r.family,
  address: r.address,
  prefix: r.prefix,
  ifname: r.interface,
  label: r.label,
});

/** Find an LSB script: an absolute path, or the first executable in the script directories. */
export function findScript(name: string, dirs: string[]): string | undefined {
  const candidates = name.startsWith("/") ? [name] : dirs.map((d) => join(d, name));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      /* next */
    }
  }
  return undefined;
}

export class ResourceRunner implements Runner {
  private readonly log = logger("resources");
  private prepared = false;
  private readonly watches = new Map<number, (Watch | undefined)[]>();
  private readonly reports = new Map<number, (r: MonitorReport) => void>();
  constructor(private o: RunnerOptions) {}

  /** Run the fence command against a dead peer: ok only when it exits 0 within its timeout. */
  async fence(peer: string): Promise<RunResult> {
    const f = this.o.fence;
    if (!f || f.command.length === 0) return { ok: false, error: "no fence command configured" };
    try {
      return await this.exec("fence", `fence ${peer}`, [...f.command, peer], f.timeout);
    } catch (e) {
      return { ok: false, error: (e as Error).message };
    }
  }

  /** After a config reload: the group list (new groups at the end) and the script directories. */
  reconfigure(groups: GroupConfig[], scriptDirs: string[]): void {
    this.o = { ...this.o, groups, scriptDirs };
    // running groups are watched with their new monitor settings from now on
    // (a copy: monitor() deletes and re-adds each entry, which a live Map iteration would visit forever)
    for (const [gi, report] of [...this.reports]) this.monitor(gi, true, report);
  }

  /** Watch a running group's resources (the state machine's monitor effect), or stop watching them. */
  monitor(group: number, on: boolean, report: (r: MonitorReport) => void): void {
    for (const w of this.watches.get(group) ?? []) w?.stop();
    this.reports.delete(group);
    if (!on) return;
    const g = this.o.groups[group];
    if (!g) return;
    this.reports.set(group, report);
    this.watches.set(
      group,
      g.resources.map((r, step) => this.watch(group, step, r, report)),
    );
  }

  /** Each resource's monitor as status shows it (undefined: not monitored). */
  monitorStatus(group: number): (WatchStatus | undefined)[] {
    return (this.watches.get(group) ?? []).map((w) => w?.status());
  }

  private watch(gi: number, step: number, r: ResourceConfig, report: (x: MonitorReport) => void): Watch | undefined {
    const m = r.monitor;
    if (!m.enabled && !hasProbes(m)) return undefined;
    const name = resourceName(r);
    const check = async (): Promise<CheckResult> => {
      if (m.enabled) {
        const own = await this.check(r);
        if (!own.ok) return own;
      }
      return runProbes(m, this.o.spawn);
    };
    const onResult = (res: CheckResult, th: Threshold) => {
      if (!res.ok && !th.failed) this.log.warn(`${name}: check failed (${th.failures} of ${th.fall}): ${res.detail}`);
    };
    return new Watch(
      check,
      m,
      (v, detail) => report({ group: gi, step, ok: v === "recovered", detail }),
      onResult,
    ).start();
  }

  /** A resource's own check: LSB status, systemctl is-active, the address still on its interface. */
  async check(r: ResourceConfig): Promise<CheckResult> {
    const timeoutMs = r.monitor.timeout;
    const quiet = { timeoutMs, spawn: this.o.spawn, onLine: (l: string) => this.log.debug(`${resourceName(r)}: ${l}`) };
    try {
      if (r.kind === "ip") return this.checkIp(r);
      if (r.kind === "script") {
        const path = findScript(r.script, this.o.scriptDirs);
        if (!path) return { ok: false, detail: `script ${r.script} not found in ${this.o.scriptDirs.join(", ")}` };
        const res = await execGroup([path, ...r.args, "status"], quiet);
        return r.monitor.style === "heartbeat" ? heartbeatStatus(res, timeoutMs) : exitDetail("status", res, timeoutMs);
      }
      const cmd = [this.o.systemctl ?? SYSTEMCTL, "is-active", "--", r.systemd];
      return exitDetail("systemctl is-active", await execGroup(cmd, quiet), timeoutMs);
    } catch (e) {
      return { ok: false, detail: (e as Error).message };
    }
  }

  /** The address is there, or is put back and announced (systemd-networkd and netplan remove addresses they did not add). */
  private checkIp(r: Extract<ResourceConfig, { kind: "ip" }>): CheckResult {
    const a = vipOf(r);
    if (addrHas(a)) return { ok: true };
    try {
      this.putBack(a);
    } catch (e) {
      return {
        ok: false,
        detail: `${r.address} is gone from ${r.interface} and cannot be added back: ${(e as Error).message}`,
      };
    }
    const text = `${r.address}/${r.prefix} was removed from ${r.interface} by another program: added back and announced`;
    this.log.warn(text);
    this.o.onRepair?.(text);
    return { ok: true, detail: text };
  }

  /** Add (replace: idempotent if a stale copy is there), announce, keep leased and announced: the number of frames sent. */
  private putBack(a: Vip): number {
    const cfg = this.o.addresses;
    const lifetimeS = Math.round(cfg.lease / 1000);
    addrAdd(a, lifetimeS, true);
    const sent = announce(a, cfg.garp_pairs);
    this.o.keeper.vip(true, a, {
      lifetimeS,
      pairs: cfg.garp_pairs,
      secondMs: cfg.garp_second,
      refreshMs: cfg.garp_refresh,
    });
    return sent;
  }

  async run(op: "start" | "stop", group: number, step: number): Promise<RunResult> {
    const r = this.o.groups[group]?.resources[step];
    if (!r) return { ok: false, error: `no resource ${step} in group ${group}` };
    try {
      if (r.kind === "ip") return op === "start" ? this.addIp(r) : this.removeIp(r);
      if (r.kind === "script") {
        const path = findScript(r.script, this.o.scriptDirs);
        if (!path)
          return { ok: op === "stop", error: `script ${r.script} not found in ${this.o.scriptDirs.join(", ")}` };
        return await this.exec(resourceName(r), op, [path, ...r.args, op], r.timeout);
      }
      // "--": a unit name can never be read as an option
      return await this.exec(resourceName(r), op, [this.o.systemctl ?? SYSTEMCTL, op, "--", r.systemd], r.timeout);
    } catch (e) {
      return { ok: false, error: (e as Error).message };
    }
  }

  private addIp(r: Extract<ResourceConfig, { kind: "ip" }>): RunResult {
    const a = vipOf(r);
    const cfg = this.o.addresses;
    if (cfg.probe_wait > 0 && probe(a, cfg.probe_wait)) {
      if (!this.o.peerRecentlyLost()) {
        const error = `address conflict: another host answers for ${r.address} on ${r.interface}`;
        this.o.onConflict?.(r.address, r.interface, error);
        return { ok: false, error };
      }
      this.log.warn(
        `${r.address} still answers from the peer that died (its lease ends within ${cfg.lease / 1000} s): taking over`,
      );
      // Until its lease ends, the dead peer's kernel may answer a client's ARP again; when the
      // address vanishes there, such a client would be stranded: announce once more just after.
      setTimeout(() => {
        try {
          if (addrHas(a))
            this.log.info(
              `${r.address} announced after the old holder's lease (${announce(a, cfg.garp_pairs)} frames)`,
            );
        } catch (e) {
          this.log.warn(`cannot announce ${r.address}: ${(e as Error).message}`);
        }
      }, cfg.lease + 250).unref();
    }
    const lifetimeS = Math.round(cfg.lease / 1000);
    const sent = this.putBack(a);
    this.log.info(
      `${r.address}/${r.prefix} added on ${r.label ?? r.interface}${lifetimeS ? ` (lease ${lifetimeS} s)` : ""}; announced (${sent} frames)`,
    );
    return { ok: true };
  }

  private removeIp(r: Extract<ResourceConfig, { kind: "ip" }>): RunResult {
    const a = vipOf(r);
    try {
      this.o.keeper.vip(false, a, { lifetimeS: 0, pairs: 0, secondMs: 0, refreshMs: 0 });
    } catch {
      /* not kept: fine */
    }
    const was = addrDel(a);
    this.log.info(`${r.address}/${r.prefix} ${was ? "removed" : "was not there"} on ${r.interface}`);
    return { ok: true };
  }

  /** Quorum lost: the group's addresses go now, whatever its stop sequence does after. */
  dropAddresses(group: number): void {
    for (const r of this.o.groups[group]?.resources ?? [])
      if (r.kind === "ip")
        try {
          this.removeIp(r);
        } catch (e) {
          this.log.error(`cannot remove ${r.address} from ${r.interface}: ${(e as Error).message}`);
        }
  }

  /** Remove every address of the groups we do not hold (stale after a crash, or left by hand). */
  async sweep(held: number[]): Promise<void> {
    if (!this.prepared) {
      // open the packet sockets now: the first takeover must not wait for the kernel to create them
      this.prepared = true;
      for (const g of this.o.groups)
        for (const r of g.resources)
          if (r.kind === "ip") {
            try {
              vipPrepare(r.family, r.interface);
            } catch (e) {
              this.log.warn(`cannot prepare ${r.interface}: ${(e as Error).message}`);
            }
          }
    }
    this.o.groups.forEach((g, gi) => {
      if (held.includes(gi)) return;
      for (const r of g.resources) {
        if (r.kind !== "ip") continue;
        try {
          if (addrDel(vipOf(r)))
            this.log.warn(
              `removed stale ${r.address}/${r.prefix} from ${r.interface} (group ${g.name} is not held here)`,
            );
        } catch (e) {
          this.log.warn(`cannot check ${r.address} on ${r.interface}: ${(e as Error).message}`);
        }
      }
    });
  }

  /** Run a command in its own process group; log its output; kill it all at the timeout. */
  private async exec(name: string, op: string, cmd: string[], timeoutMs: number): Promise<RunResult> {
    const log = logger(name.replace(/\s+/, ":"));
    const r = await execGroup(cmd, { timeoutMs, spawn: this.o.spawn, onLine: (l) => log.info(l) });
    if (r.timedOut) return { ok: false, error: `${op} timed out after ${timeoutMs} ms (killed)` };
    if (r.code !== 0)
      return { ok: false, error: `${op} exited ${r.code}${r.signal ? ` (${r.signal})` : ""} after ${r.ms} ms` };
    return { ok: true };
  }

  announce(group: number): void {
    const cfg = this.o.addresses;
    for (const r of this.o.groups[group]?.resources ?? []) {
      if (r.kind !== "ip") continue;
      try {
        const a = vipOf(r);
        const sent = announce(a, cfg.garp_pairs);
        // and the second burst again, after the clients' locktime
        this.o.keeper.vip(true, a, {
          lifetimeS: Math.round(cfg.lease / 1000),
          pairs: cfg.garp_pairs,
          secondMs: cfg.garp_second,
          refreshMs: cfg.garp_refresh,
        });
        this.log.info(`${r.address} announced again (${sent} frames)`);
      } catch (e) {
        this.log.warn(`cannot announce ${r.address}: ${(e as Error).message}`);
      }
    }
  }

  reboot(reason: string): void {
    this.log.error(`self-fencing: ${reason}; rebooting now`);
    // Heartbeat's way: immediate reboot without a clean shutdown, so no resource runs twice
    Bun.spawn([this.o.systemctl ?? SYSTEMCTL, "reboot", "--force", "--force"], {
      stdin: "ignore",
      stdout: "ignore",
      stderr: "ignore",
      env: { ...CHILD_ENV },
    });
  }
}
