/** Who had the floating address when: every change with its time, from `ip -ts monitor address` (finer than any sampling). */
import { VIP } from "./failover.ts";
import { eachLine, type Lab } from "./netns.ts";

/** When node i had the address: [from, to) in ms since the epoch, from `ip -ts monitor address` on its eth0. */
export class AddressLog {
  readonly spans: [number, number][] = [];
  private since?: number;
  private readonly proc: ReturnType<Lab["spawn"]>;
  constructor(
    lab: Lab,
    ns: string,
    readonly address = VIP,
  ) {
    const proc = lab.spawn(ns, ["ip", "-ts", "monitor", "address", "dev", "eth0"]);
    this.proc = proc;
    void eachLine(proc.stdout, (l) => this.line(l));
  }
  private line(l: string): void {
    const m = /^\[(\S+)\]\s*(Deleted )?.*inet (\S+)\//.exec(l);
    if (!m || m[3] !== this.address) return;
    const t = Date.parse(`${m[1]!.slice(0, 23)}Z`);
    if (m[2] && this.since !== undefined) {
      this.spans.push([this.since, t]);
      this.since = undefined;
    } else if (!m[2] && this.since === undefined) this.since = t;
  }
  /** the spans, the open one closed now */
  all(now = Date.now()): [number, number][] {
    return this.since === undefined ? this.spans : [...this.spans, [this.since, now]];
  }
  stop(): void {
    this.proc.kill();
  }
}

/** The longest time (ms) two nodes held the address at once. */
export function overlap(logs: AddressLog[]): number {
  let worst = 0;
  const spans = logs.map((l) => l.all());
  for (let i = 0; i < spans.length; i++)
    for (let j = i + 1; j < spans.length; j++)
      for (const [a0, a1] of spans[i]!)
        for (const [b0, b1] of spans[j]!) worst = Math.max(worst, Math.min(a1, b1) - Math.max(a0, b0));
  return worst;
}
