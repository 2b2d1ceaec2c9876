/**
 * Watching resources while their group runs here (issue 17): one Watch per monitored resource checks it
 * every interval (never two checks at once: the next is planned when one ends) and counts the results
 * in a Threshold. Only a crossing is reported: `fall` failures in a row make it failed, then `rise`
 * successes in a row make it recovered. What to do about it is the state machine's decision.
 */
import type { CheckResult } from "./checks.ts";

export type Verdict = "failed" | "recovered";

/** Failures and successes in a row, against fall and rise: a check that flaps around them never crosses. */
export class Threshold {
  failures = 0;
  successes = 0;
  failed = false;
  constructor(
    readonly fall: number,
    readonly rise: number,
  ) {}

  record(ok: boolean): Verdict | undefined {
    if (ok) {
      this.failures = 0;
      this.successes++;
      if (this.failed && this.successes >= this.rise) {
        this.failed = false;
        return "recovered";
      }
      return undefined;
    }
    this.successes = 0;
    this.failures++;
    if (!this.failed && this.failures >= this.fall) {
      this.failed = true;
      return "failed";
    }
    return undefined;
  }

  get state(): "ok" | "failing" | "failed" {
    return this.failed ? "failed" : this.failures > 0 ? "failing" : "ok";
  }
}

/** What status and the metrics show of one monitor. */
export interface WatchStatus {
  /** pending: no result yet; failing: failures below fall; stopped: the group no longer runs here */
  state: "pending" | "ok" | "failing" | "failed" | "stopped";
  /** the last result: when (wall clock, ms), how long it took, why it failed */
  last?: { ok: boolean; at: number; ms: number; detail?: string };
  /** failures in a row now */
  failures: number;
  fall: number;
  rise: number;
  checks: number;
  failed_checks: number;
}

export interface WatchTiming {
  interval: number;
  fall: number;
  rise: number;
}

export class Watch {
  private timer?: ReturnType<typeof setTimeout>;
  private stopped = false;
  private readonly th: Threshold;
  private last?: WatchStatus["last"];
  private checks = 0;
  private failedChecks = 0;

  constructor(
    private readonly check: () => Promise<CheckResult>,
    private readonly timing: WatchTiming,
    private readonly onVerdict: (v: Verdict, detail: string | undefined) => void,
    /** every result (a failure below fall is logged, so the operator sees it coming) */
    private readonly onResult: (r: CheckResult, th: Threshold) => void = () => {},
  ) {
    this.th = new Threshold(timing.fall, timing.rise);
  }

  start(): this {
    this.plan();
    return this;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private plan(): void {
    if (!this.stopped) this.timer = setTimeout(() => void this.once(), this.timing.interval);
  }

  private async once(): Promise<void> {
    const t0 = performance.now();
    let r: CheckResult;
    try {
      r = await this.check();
    } catch (e) {
      r = { ok: false, detail: (e as Error).message }; // a check must not throw; if one does, it failed
    }
    if (this.stopped) return; // a result for a group that no longer runs here counts for nothing
    this.checks++;
    if (!r.ok) this.failedChecks++;
    this.last = { ok: r.ok, at: Date.now(), ms: Math.round(performance.now() - t0), detail: r.detail };
    const v = this.th.record(r.ok);
    this.onResult(r, this.th);
    if (v) this.onVerdict(v, r.detail);
    this.plan();
  }

  status(): WatchStatus {
    return {
      state: this.stopped ? "stopped" : this.checks === 0 ? "pending" : this.th.state,
      last: this.last,
      failures: this.th.failures,
      fall: this.th.fall,
      rise: this.th.rise,
      checks: this.checks,
      failed_checks: this.failedChecks,
    };
  }
}
