/** The resource runner's process side: systemd units, LSB scripts, exit codes, timeouts, output. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hostPort, probeCommand } from "../../src/resources/checks.ts";
import { execGroup } from "../../src/resources/exec.ts";
import { findScript, ResourceRunner } from "../../src/resources/runner.ts";
import { group, MONITOR_DEFAULTS, res } from "../lib/monitor.ts";

let dir: string;
let oldPath: string | undefined;
const sh = (name: string, body: string) => {
  const f = join(dir, name);
  writeFileSync(f, `#!/bin/sh\n${body}\n`);
  chmodSync(f, 0o755);
  return f;
};
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "hb-runner-"));
  // a stand-in systemctl (given by absolute path, as the real one is): records its arguments
  sh("systemctl", `echo "$@" >> ${dir}/systemctl.log; [ "$3" = broken.service ] && exit 5; exit 0`);
  sh("showenv", `env | sort > ${dir}/env.txt; exit 0`);
  sh("web", `echo "web $1 with $*"; exit 0`);
  sh("noisy", `echo "line one"; echo "to stderr" >&2; exit 3`);
  sh("slow", `trap '' TERM; (sleep 30; touch ${dir}/child-survived) & sleep 30`);
  oldPath = process.env.PATH;
  // the daemon's own environment must not reach its children
  process.env.PATH = `${dir}:${process.env.PATH}`;
  process.env.HB_TEST_LEAK = "secret";
});
afterAll(() => {
  process.env.PATH = oldPath;
  delete process.env.HB_TEST_LEAK;
  rmSync(dir, { recursive: true, force: true });
});

const runner = (resources: Parameters<typeof res>[0][]) =>
  new ResourceRunner({
    groups: [
      group(
        "g",
        "a",
        resources.map((r) => res(r)),
      ),
    ],
    addresses: { lease: 3000, probe_wait: 0, garp_pairs: 1, garp_second: 0, garp_refresh: 0 },
    scriptDirs: ["/nonexistent", dir],
    keeper: { vip() {} },
    peerRecentlyLost: () => false,
    systemctl: join(dir, "systemctl"),
  });

/** A runner for checks that need no resources of their own (or the groups given). */
const bare = (o: Partial<ConstructorParameters<typeof ResourceRunner>[0]> = {}) =>
  new ResourceRunner({
    groups: [],
    addresses: { lease: 3000, probe_wait: 0, garp_pairs: 1, garp_second: 0, garp_refresh: 0 },
    scriptDirs: [dir],
    keeper: { vip() {} },
    peerRecentlyLost: () => false,
    ...o,
  });

test("systemd units are started and stopped with systemctl; a failing unit is a failure with its code", async () => {
  const r = runner([
    { kind: "systemd", systemd: "mysqld.service", timeout: 5000 },
    { kind: "systemd", systemd: "broken.service", timeout: 5000 },
  ]);
  expect(await r.run("start", 0, 0)).toEqual({ ok: true });
  expect(await r.run("stop", 0, 0)).toEqual({ ok: true });
  const bad = await r.run("start", 0, 1);
  expect(bad.ok).toBe(false);
  expect(bad.error).toMatch(/^start exited 5 after \d+ ms$/);
  expect(readFileSync(join(dir, "systemctl.log"), "utf8")).toBe(
    "start -- mysqld.service\nstop -- mysqld.service\nstart -- broken.service\n",
  );
});

test("children get a fixed PATH and the C locale, nothing of the daemon's environment", async () => {
  const r = runner([{ kind: "script", script: "showenv", args: [], timeout: 5000 }]);
  expect(await r.run("start", 0, 0)).toEqual({ ok: true });
  const env = readFileSync(join(dir, "env.txt"), "utf8");
  expect(env).toContain("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n");
  expect(env).toContain("LANG=C\n");
  expect(env).not.toContain("HB_TEST_LEAK");
  expect(env).not.toContain(`${dir}:`);
});

test("scripts are found in the script directories, in order, and called SCRIPT [args] start|stop", async () => {
  expect(findScript("web", ["/nonexistent", dir])).toBe(join(dir, "web"));
  expect(findScript(join(dir, "web"), [])).toBe(join(dir, "web"));
  expect(findScript("absent", [dir])).toBeUndefined();
  const r = runner([
    { kind: "script", script: "web", args: ["a1", "a2"], timeout: 5000 },
    { kind: "script", script: "noisy", args: [], timeout: 5000 },
  ]);
  expect(await r.run("start", 0, 0)).toEqual({ ok: true });
  const noisy = await r.run("start", 0, 1);
  expect(noisy).toMatchObject({ ok: false });
  expect(noisy.error).toMatch(/^start exited 3/);
});

test("a missing script fails to start but counts as stopped", async () => {
  const r = runner([{ kind: "script", script: "absent", args: [], timeout: 5000 }]);
  expect((await r.run("start", 0, 0)).ok).toBe(false);
  expect((await r.run("stop", 0, 0)).ok).toBe(true);
});

test("a script past its timeout is killed with its whole process group", async () => {
  const r = runner([{ kind: "script", script: "slow", args: [], timeout: 300 }]);
  const t0 = performance.now();
  const res = await r.run("start", 0, 0);
  expect(res).toEqual({ ok: false, error: "start timed out after 300 ms (killed)" });
  expect(performance.now() - t0).toBeLessThan(5000); // SIGTERM is ignored by the script: SIGKILL after 2 s
  await Bun.sleep(200);
  expect(existsSync(join(dir, "child-survived"))).toBe(false);
});

test("monitors: LSB status by exit code (0 running, 3 not running, else failed), systemctl is-active, a missing script", async () => {
  sh("svc", `[ "$1" = status ] || exit 0; echo "svc: $STATE"; exit $(cat ${dir}/svc.code)`);
  sh(
    "sysctl-active",
    `echo "$@" >> ${dir}/active.log; [ "$3" = broken.service ] && { echo failed; exit 3; }; echo active`,
  );
  const r = bare({ systemctl: join(dir, "sysctl-active") });
  const script = res({ kind: "script", script: "svc", args: [], timeout: 5000 });
  const code = (c: number) => writeFileSync(join(dir, "svc.code"), String(c));
  code(0);
  expect(await r.check(script)).toEqual({ ok: true });
  code(3);
  expect(await r.check(script)).toEqual({ ok: false, detail: "status exited 3: not running (svc:)" });
  code(1);
  expect(await r.check(script)).toEqual({ ok: false, detail: "status exited 1: failed (svc:)" });
  expect(await r.check(res({ kind: "systemd", systemd: "mysqld.service", timeout: 5000 }))).toEqual({ ok: true });
  expect(await r.check(res({ kind: "systemd", systemd: "broken.service", timeout: 5000 }))).toEqual({
    ok: false,
    detail: "systemctl is-active exited 3: not running (failed)",
  });
  expect(readFileSync(join(dir, "active.log"), "utf8")).toBe(
    "is-active -- mysqld.service\nis-active -- broken.service\n",
  );
  const gone = await r.check(res({ kind: "script", script: "absent", args: [], timeout: 5000 }));
  expect(gone).toEqual({ ok: false, detail: `script absent not found in ${dir}` });
});

test("a monitor's check past its timeout is killed with its process group and counts as failed", async () => {
  const t0 = performance.now();
  const r = await probeCommand([join(dir, "slow")], 300);
  expect(r).toEqual({ ok: false, detail: `${join(dir, "slow")} timed out after 300 ms (killed)` });
  expect(performance.now() - t0).toBeLessThan(5000);
  expect((await probeCommand(["/nonexistent/check"], 300)).ok).toBe(false);
  expect(hostPort("[2001:db8::10]:80")).toEqual({ host: "2001:db8::10", port: 80 });
  expect(hostPort("127.0.0.1:3306")).toEqual({ host: "127.0.0.1", port: 3306 });
});

test("monitors: a Heartbeat v1 agent's status is read by its words (exit code ignored), as Heartbeat did", async () => {
  sh("drbdlike", `[ "$1" = status ] || exit 0; cat ${dir}/said; exit $(cat ${dir}/svc.code)`);
  const r = bare();
  const agent = res(
    { kind: "script", script: "drbdlike", args: [], timeout: 5000 },
    { ...MONITOR_DEFAULTS, style: "heartbeat" },
  );
  const said = async (text: string, code = 0) => {
    writeFileSync(join(dir, "said"), text);
    writeFileSync(join(dir, "svc.code"), String(code));
    return (await r.check(agent)).ok;
  };
  expect(await said("running\n")).toBe(true);
  expect(await said("OK\n")).toBe(true);
  expect(await said("stopped\n")).toBe(false);
  expect(await said("httpd is not running\n")).toBe(false);
  expect(await said("")).toBe(false);
  expect(await said("running\n", 1)).toBe(true);
});

test("a child printing one endless line: cut, logged once, and its memory bounded", async () => {
  const lines: string[] = [];
  const r = await execGroup(["/bin/sh", "-c", "head -c 3000000 /dev/zero | tr '\\0' x; echo; echo after"], {
    timeoutMs: 10_000,
    onLine: (l) => lines.push(l),
  });
  expect(r.code).toBe(0);
  expect(lines).toHaveLength(2);
  expect(lines[0]).toEndWith("[line cut at 4096 characters]");
  expect(lines[0]!.length).toBeLessThan(4200);
  expect(lines[1]).toBe("after");
});

test("a reload while groups are watched restarts their monitors with the new settings (and returns)", () => {
  const g = (interval: number) =>
    group("g", "a", [
      res({ kind: "script", script: "web", args: [], timeout: 5000 }, { ...MONITOR_DEFAULTS, interval }),
    ]);
  const r = bare({ groups: [g(60_000)] });
  r.monitor(0, true, () => {});
  r.reconfigure([g(30_000)], [dir]);
  expect(r.monitorStatus(0).map((w) => w?.state)).toEqual(["pending"]);
  r.monitor(0, false, () => {});
  expect(r.monitorStatus(0).map((w) => w?.state)).toEqual(["stopped"]);
});
