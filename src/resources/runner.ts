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
import { type Runner, type RunResult, resourceName } from "./types.ts";

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
  /** an address conflict was found (another host answers for a floating address) */
  onConflict?: (address: string, ifname: string, message: string) => void;
  /** how a service process is run (tests replace it) */
  spawn?: typeof Bun.spawn;
  /** systemctl, by absolute path (default: /usr/bin/systemctl, else /bin/systemctl) */
  systemctl?: string;
}

/** What every child gets, whatever the daemon's own environment: a fixed PATH and the C locale. */
export const CHILD_ENV = { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C" } as const;
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
    addrAdd(a, lifetimeS, true); // replace: idempotent if a stale copy is there
    const sent = announce(a, cfg.garp_pairs);
    this.o.keeper.vip(true, a, {
      lifetimeS,
      pairs: cfg.garp_pairs,
      secondMs: cfg.garp_second,
      refreshMs: cfg.garp_refresh,
    });
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
    const spawn = this.o.spawn ?? Bun.spawn;
    const started = performance.now();
    const p = spawn(cmd, { stdin: "ignore", stdout: "pipe", stderr: "pipe", detached: true, env: { ...CHILD_ENV } });
    const pump = async (stream: ReadableStream<Uint8Array>) => {
      let rest = "";
      const dec = new TextDecoder();
      for await (const chunk of stream) {
        rest += dec.decode(chunk, { stream: true });
        const lines = rest.split("\n");
        rest = lines.pop() ?? "";
        for (const l of lines) if (l.trim()) log.info(l.trimEnd());
      }
      if (rest.trim()) log.info(rest.trimEnd());
    };
    const output = Promise.all([
      pump(p.stdout as ReadableStream<Uint8Array>),
      pump(p.stderr as ReadableStream<Uint8Array>),
    ]);
    let timedOut = false;
    let killer: ReturnType<typeof setTimeout> | undefined;
    const killGroup = () => {
      try {
        process.kill(-p.pid, "SIGKILL");
      } catch {
        /* gone */
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-p.pid, "SIGTERM");
      } catch {
        /* gone */
      }
      killer = setTimeout(killGroup, 2000);
    }, timeoutMs);
    const code = await p.exited;
    clearTimeout(timer);
    // Timed out and the leader is gone: end what is left of its group now, while no other process can
    // hold that group id, and never later (a timer firing after the group is gone could hit a reused id).
    if (killer) {
      clearTimeout(killer);
      killGroup();
    }
    await Promise.race([output, Bun.sleep(1000)]);
    const ms = Math.round(performance.now() - started);
    if (timedOut) return { ok: false, error: `${op} timed out after ${timeoutMs} ms (killed)` };
    if (code !== 0)
      return { ok: false, error: `${op} exited ${code}${p.signalCode ? ` (${p.signalCode})` : ""} after ${ms} ms` };
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
