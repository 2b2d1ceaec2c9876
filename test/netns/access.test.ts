/**
 * Read-only access through the control socket (issue 13, part 5): with `control.group`, a member of that
 * group (not root) reads status, history and the report; standby, takeover, clear and reload are refused
 * by the daemon, which learns each client's uid from the kernel (SO_PEERCRED). A user outside the group
 * cannot reach the socket at all. Clients run under setpriv with ids that exist nowhere else.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { ClusterFiles, configText, HB, type HbProcess, startHb } from "../lib/cluster.ts";
import { announceSkip, Lab, netnsUnavailable, run } from "../lib/netns.ts";

const GID = 47_311; // the control group, by number: no /etc/group entry is needed
const UID = 47_312;
const why = netnsUnavailable();
if (why) announceSkip("test/netns/access.test.ts", why);

describe.skipIf(Boolean(why))("read-only access for the control group", () => {
  let lab: Lab;
  let files: ClusterFiles;
  let a: HbProcess;
  beforeAll(async () => {
    lab = await Lab.create({ nodes: 2 });
    files = new ClusterFiles(
      `${configText({ nodes: 2, links: ['kind = "udp"\ninterface = "eth0"'] })}\n[control]\ngroup = "${GID}"\n`,
    );
    a = startHb(lab, files, 1);
    await a.waitLine(/control socket: members of group \d+ may read status and history/, 10_000);
    await a.waitLine(/heartbeat: \d+ link/, 10_000);
    chmodSync(files.dir, 0o711); // the lab's own directory: others may pass through to the socket's
  });
  afterAll(async () => {
    await a?.stop();
    await lab?.destroy();
    files?.cleanup();
  });
  const as = (groups: string, args: string[]) =>
    run(["setpriv", `--reuid=${UID}`, `--regid=${UID}`, groups, HB, ...args, "--socket", files.socket(1)], 20_000);
  const member = (args: string[]) => as(`--groups=${GID}`, args);
  const outsider = (args: string[]) => as("--clear-groups", args);

  test("the socket is 0660 in a 0750 directory of the group", () => {
    const s = statSync(files.socket(1));
    expect([s.mode & 0o777, s.uid, s.gid]).toEqual([0o660, 0, GID]);
    const d = statSync(dirname(files.socket(1)));
    expect([d.mode & 0o777, d.uid, d.gid]).toEqual([0o750, 0, GID]);
  });

  test("a member reads status, history and the report", async () => {
    const st = await member(["status", "--json"]);
    expect(st.stderr).toBe("");
    expect(JSON.parse(st.stdout).node.name).toBe("node1");
    expect((await member(["history", "--json"])).code).toBe(0);
    const rep = await member(["report"]);
    expect(rep.stdout).toMatch(/^HB (OK|WARNING|CRITICAL) - /);
  });

  test("a member may change nothing: the daemon refuses, by the uid the kernel gives", async () => {
    for (const args of [["standby"], ["takeover"], ["clear", "web"]]) {
      const r = await member(args);
      expect({ args, code: r.code }).toEqual({ args, code: 1 });
      expect(r.stderr).toContain(`${args[0]} needs root: the control group may only read`);
    }
    // reload reads the config first, which is root's alone (0600): it stops there
    const reload = await member(["reload", "--config", files.config(1)]);
    expect(reload.code).toBe(1);
    expect(reload.stderr).toContain("permission denied");
    // and root still may
    expect((await run([HB, "history", "--socket", files.socket(1)])).code).toBe(0);
  });

  test("a user outside the group cannot reach the socket", async () => {
    const r = await outsider(["status"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("permission denied");
  });
});
