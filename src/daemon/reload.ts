/**
 * `hb reload` / SIGHUP: which differences between the running config and the
 * file on disk can be applied live. All or nothing: if any difference is
 * refused, nothing is applied and every refusal is reported.
 *
 * Live: timing.keepalive/warntime/deadtime (the native thread switches at
 * once), timing.initdead (used at the next start), cluster.auto_failback,
 * resources.*, health.*, metrics.listen, log.*, control.history, paths.script_dirs, a group's
 * monitors and failure handling (on_fail, max_restarts, restart_window: running
 * monitors restart with the new settings), and new groups added after the existing ones. Refused (restart hb, one node at a time): cluster
 * name and node, auth keys, nodes (and their votes), links, addresses, uplink, fencing, quorum,
 * watchdog, control.socket and control.group,
 * paths.state_dir, and any change to an existing group (its index is carried
 * in every heartbeat record, and its resources may be running).
 */
import { formatDuration } from "../config/duration.ts";
import type { Config, GroupConfig } from "../config/schema.ts";
import { fail, type Response, success } from "../control/protocol.ts";

export interface ReloadPlan {
  changes: string[];
  refused: string[];
}

const same = (a: unknown, b: unknown) =>
  JSON.stringify(a, (_, v) => (v instanceof Uint8Array ? Buffer.from(v).toString("hex") : v)) ===
  JSON.stringify(b, (_, v) => (v instanceof Uint8Array ? Buffer.from(v).toString("hex") : v));

/** Keys whose values are durations in milliseconds: shown as the config writes them ("500ms", "2s"). */
const DURATIONS =
  /^(timing\.(keepalive|warntime|deadtime|initdead)|resources\.failure_hold|health\.(interval|timeout)|group\.[^.]+\.(restart_window|resources\[\d+\]\.monitor\.(interval|timeout))|addresses\.|uplink\.(interval|timeout|hold_down)|fencing\.(timeout|backoff)|watchdog\.interval|legacy\.deadtime)/;
/** Where secrets live: their paths are named, their values never. */
const SECRET = /(^|\.)(key|secret)(\[|\.|$)/;

function show(path: string, v: unknown): string {
  if (typeof v === "number" && DURATIONS.test(path)) return formatDuration(v);
  return JSON.stringify(v, (_, x) => (x instanceof Uint8Array ? "(bytes)" : x)) ?? "absent";
}

/** The leaf keys that differ between a and b, as "path: old -> new" (at most `max` of them). */
function differences(path: string, a: unknown, b: unknown, max = 3): string[] {
  if (same(a, b)) return [];
  const isObj = (x: unknown) => typeof x === "object" && x !== null && !(x instanceof Uint8Array);
  if (!isObj(a) || !isObj(b) || Array.isArray(a) !== Array.isArray(b))
    return [SECRET.test(path) ? `${path} changed` : `${path}: ${show(path, a)} -> ${show(path, b)}`];
  const keys = [...new Set([...Object.keys(a as object), ...Object.keys(b as object)])];
  const out: string[] = [];
  for (const k of keys) {
    const sub = Array.isArray(a) ? `${path}[${k}]` : `${path}.${k}`;
    out.push(
      ...differences(sub, (a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], max - out.length),
    );
    if (out.length >= max) break;
  }
  return out;
}

/** What a running group's monitors and failure handling are: changed live. */
const watching = (g: GroupConfig) => ({
  on_fail: g.on_fail,
  max_restarts: g.max_restarts,
  restart_window: g.restart_window,
  resources: g.resources.map((r) => ({ monitor: r.monitor })),
});
/** The rest of a group: what may be running, changed only by a restart. */
const placed = (g: GroupConfig) => ({
  ...g,
  on_fail: 0,
  max_restarts: 0,
  restart_window: 0,
  resources: g.resources.map((r) => ({ ...r, monitor: 0 })),
});

export function planReload(cur: Config, next: Config): ReloadPlan {
  const changes: string[] = [];
  const refused: string[] = [];
  const RESTART = "restart hb to change it (one node at a time)";
  const live = (path: string, a: unknown, b: unknown) => {
    if (!same(a, b)) changes.push(`${path}: ${show(path, a)} -> ${show(path, b)}`);
  };
  const fixed = (path: string, a: unknown, b: unknown, why = RESTART) => {
    const d = differences(path, a, b);
    if (d.length) refused.push(`${d.join("; ")}: ${why}`);
  };

  fixed("cluster.name", cur.cluster.name, next.cluster.name);
  fixed("cluster.node", cur.cluster.node, next.cluster.node);
  live("cluster.auto_failback", cur.cluster.auto_failback, next.cluster.auto_failback);
  for (const k of ["keepalive", "warntime", "deadtime", "initdead", "rt_priority"] as const)
    live(`timing.${k}`, cur.timing[k], next.timing[k]);
  fixed(
    "auth",
    cur.auth,
    next.auth,
    "restart hb to change keys (list the new key beside the old one first, so nodes with either agree)",
  );
  fixed("node", cur.nodes, next.nodes);
  fixed("link", cur.links, next.links);
  fixed("addresses", cur.addresses, next.addresses);
  fixed("uplink", cur.uplink, next.uplink);
  fixed("fencing", cur.fencing, next.fencing);
  // who may hold what changes with the quorum rule: every node must switch at once (a restart of each)
  fixed("quorum", cur.quorum, next.quorum);
  fixed("control.group", cur.control.group, next.control.group);
  fixed("watchdog", cur.watchdog, next.watchdog);
  fixed("legacy", cur.legacy, next.legacy);
  fixed("control.socket", cur.control.socket, next.control.socket);
  live("control.history", cur.control.history, next.control.history);
  fixed("paths.state_dir", cur.paths.state_dir, next.paths.state_dir);
  live("paths.script_dirs", cur.paths.script_dirs, next.paths.script_dirs);
  for (const k of ["failure_hold", "stop_retries", "stop_policy"] as const)
    live(`resources.${k}`, cur.resources[k], next.resources[k]);
  for (const k of ["level", "file", "facility", "syslog_socket"] as const) live(`log.${k}`, cur.log[k], next.log[k]);

  live("metrics.listen", cur.metrics.listen, next.metrics.listen);
  for (const k of ["command", "interval", "timeout", "fall", "rise", "penalty"] as const)
    live(`health.${k}`, cur.health[k], next.health[k]);
  cur.groups.forEach((g, i) => {
    const n = next.groups[i];
    if (n?.name === g.name) changes.push(...differences(`group.${g.name}`, watching(g), watching(n), 10));
    if (!n)
      refused.push(
        `group ${g.name} was removed: stop it with hb standby ${g.name} on every node, then restart hb with the new config`,
      );
    else if (n.name !== g.name)
      refused.push(
        `group ${g.name} was replaced by ${n.name} at the same place: add new groups after the existing ones`,
      );
    else if (!same(placed(g), placed(n)))
      refused.push(
        `group ${g.name} changed: its resources may be running; restart hb to change it (one node at a time)`,
      );
  });
  for (const g of next.groups.slice(cur.groups.length))
    changes.push(`group ${g.name} added (preferred ${g.preferred})`);
  if (cur.groups.length <= 32 && next.groups.length > 32)
    refused.push(
      `${next.groups.length} groups: past 32 the heartbeat record changes format (version 2), which older records' readers do not understand; restart every node with the new config`,
    );
  return { changes, refused };
}

export interface ReloadContext {
  readonly config: Config;
  /** read and validate the file again; throws ConfigError */
  reread(): Config;
  /** every change was planned safe: make it so (links, log, history, runner, machine) */
  apply(next: Config): void;
  log: { info(m: string): void; error(m: string): void };
  record(kind: "config", text: string, cause?: string): void;
}

/** Re-read the config; apply it whole if every change is safe live, else nothing. */
export function reload(d: ReloadContext, why: string): Response {
  let next: Config;
  try {
    next = d.reread();
  } catch (e) {
    const msg = (e as Error).message;
    d.log.error(`${why}: the config has errors; nothing changed:\n${msg}`);
    d.record("config", `${why}: refused: the config has errors`, msg.split("\n")[0] ?? "");
    return fail("refused", `the config has errors; nothing changed:\n${msg}`);
  }
  const plan = planReload(d.config, next);
  if (plan.refused.length) {
    d.log.error(`${why}: nothing changed: ${plan.refused.join("; ")}`);
    d.record("config", `${why}: refused: ${plan.refused.join("; ")}`);
    return fail("refused", `nothing changed:\n${plan.refused.join("\n")}`);
  }
  if (plan.changes.length === 0) {
    d.log.info(`${why}: the config is unchanged`);
    return success({ changes: [] });
  }
  d.apply(next);
  for (const c of plan.changes) d.log.info(`${why}: ${c}`);
  d.record("config", `${why}: applied ${plan.changes.join("; ")}`);
  return success({ changes: plan.changes });
}
