/**
 * `hb reload` / SIGHUP: which differences between the running config and the
 * file on disk can be applied live. All or nothing: if any difference is
 * refused, nothing is applied and every refusal is reported.
 *
 * Live: timing.keepalive/warntime/deadtime (the native thread switches at
 * once), timing.initdead (used at the next start), cluster.auto_failback,
 * resources.*, log.*, control.history, paths.script_dirs, and new groups added
 * after the existing ones. Refused (restart hb, one node at a time): cluster
 * name and node, auth keys, nodes, links, addresses, uplink, fencing, watchdog, control.socket,
 * paths.state_dir, and any change to an existing group (its index is carried
 * in every heartbeat record, and its resources may be running).
 */
import type { Config } from "../config/schema.ts";
import { fail, type Response, success } from "../control/protocol.ts";

export interface ReloadPlan {
  changes: string[];
  refused: string[];
}

const same = (a: unknown, b: unknown) =>
  JSON.stringify(a, (_, v) => (v instanceof Uint8Array ? Buffer.from(v).toString("hex") : v)) ===
  JSON.stringify(b, (_, v) => (v instanceof Uint8Array ? Buffer.from(v).toString("hex") : v));

export function planReload(cur: Config, next: Config): ReloadPlan {
  const changes: string[] = [];
  const refused: string[] = [];
  const RESTART = "restart hb to change it (one node at a time)";
  const live = (path: string, a: unknown, b: unknown) => {
    if (!same(a, b)) changes.push(`${path}: ${JSON.stringify(a)} -> ${JSON.stringify(b)}`);
  };
  const fixed = (path: string, a: unknown, b: unknown, why = RESTART) => {
    if (!same(a, b)) refused.push(`${path} changed: ${why}`);
  };

  fixed("cluster.name", cur.cluster.name, next.cluster.name);
  fixed("cluster.node", cur.cluster.node, next.cluster.node);
  live("cluster.auto_failback", cur.cluster.auto_failback, next.cluster.auto_failback);
  for (const k of ["keepalive", "warntime", "deadtime", "initdead"] as const)
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
  fixed("watchdog", cur.watchdog, next.watchdog);
  fixed("legacy", cur.legacy, next.legacy);
  fixed("control.socket", cur.control.socket, next.control.socket);
  live("control.history", cur.control.history, next.control.history);
  fixed("paths.state_dir", cur.paths.state_dir, next.paths.state_dir);
  live("paths.script_dirs", cur.paths.script_dirs, next.paths.script_dirs);
  for (const k of ["failure_hold", "stop_retries", "stop_policy"] as const)
    live(`resources.${k}`, cur.resources[k], next.resources[k]);
  for (const k of ["level", "file", "facility", "syslog_socket"] as const) live(`log.${k}`, cur.log[k], next.log[k]);

  cur.groups.forEach((g, i) => {
    const n = next.groups[i];
    if (!n)
      refused.push(
        `group ${g.name} was removed: stop it with hb standby ${g.name} on every node, then restart hb with the new config`,
      );
    else if (n.name !== g.name)
      refused.push(
        `group ${g.name} was replaced by ${n.name} at the same place: add new groups after the existing ones`,
      );
    else if (!same(g, n))
      refused.push(
        `group ${g.name} changed: its resources may be running; restart hb to change it (one node at a time)`,
      );
  });
  for (const g of next.groups.slice(cur.groups.length))
    changes.push(`group ${g.name} added (preferred ${g.preferred})`);
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
