/**
 * The README's "Install on a node", typed into a real terminal (tmux) line by line (issue 13). The
 * admin's shell runs in this repository; `ssh node1` and `scp ... node1:` are the only stand-ins: shell
 * functions that run the command, or copy the file, inside node1, a node made of namespaces (its own
 * network, its host name, overlays on /etc, /var and /usr/local/sbin, a tmpfs on /run), so nothing of
 * this host changes. The example's init scripts (named, httpd, mysqld) are put in node1's /etc/init.d
 * first, as a real node would have them. Every line must succeed; the last one runs hb check and the
 * daemon in the foreground, which must start the group; Ctrl-C stops it cleanly.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { announceSkip, Lab, netnsUnavailable, waitFor } from "../lib/netns.ts";
import { installSteps, Terminal } from "../lib/walkthrough.ts";

const ROOT = join(import.meta.dir, "../..");
const README = readFileSync(join(ROOT, "README.md"), "utf8");
const why = netnsUnavailable() ?? (existsSync("/usr/bin/tmux") ? undefined : "tmux missing (make test installs it)");
if (why) announceSkip("test/netns/install.test.ts", why);

/** An LSB init script that only remembers whether it runs. */
const INIT = `#!/bin/sh
f=/run/$(basename "$0").up
case "$1" in start) touch "$f" ;; stop) rm -f "$f" ;; status) [ -e "$f" ] || exit 3 ;; esac
exit 0
`;

describe.skipIf(Boolean(why))("the README's install steps, in a terminal", () => {
  let lab: Lab;
  let top: string;
  let node: Subprocess;
  let term: Terminal;
  beforeAll(async () => {
    lab = await Lab.create({ nodes: 2, lans: 2 });
    top = mkdtempSync(join(tmpdir(), "hb-install-"));
    // node1: its network namespace, and its own host name and writable system directories
    const setup = [
      "set -e",
      "hostname node1",
      `for d in /etc /var /usr/local/sbin; do mkdir -p ${top}$d/up ${top}$d/work; mount -t overlay overlay -o lowerdir=$d,upperdir=${top}$d/up,workdir=${top}$d/work $d; done`,
      "mount -t tmpfs tmpfs /run",
      "echo ready",
      "exec sleep 600",
    ].join("\n");
    node = lab.spawn(lab.nodes[0]!, ["unshare", "--mount", "--uts", "--propagation", "private", "sh", "-c", setup]);
    await waitFor(
      "node1 to be set up",
      () => readFileSync(`/proc/${node.pid}/comm`, "utf8").trim() === "sleep",
      5000,
      20,
    );
    for (const s of ["named", "httpd", "mysqld"]) {
      const put = `cat > /etc/init.d/${s} && chmod 755 /etc/init.d/${s}`;
      const r = Bun.spawnSync(["nsenter", "-t", String(node.pid), "-m", "sh", "-c", put], {
        stdin: new TextEncoder().encode(INIT),
        timeout: 5000,
      });
      expect(r.exitCode).toBe(0);
    }
    term = new Terminal(
      lab,
      lab.nodes[1]!,
      { PATH: "/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin", TERM: "xterm", LANG: "C", HOME: "/root" },
      "admin",
    );
    await term.open();
    const enter = `nsenter -t ${node.pid} -m -u -n`;
    const env = "env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root";
    for (const line of [
      `cd ${ROOT}`,
      `ssh() { shift; ${enter} ${env} sh -c "$*"; }`,
      `scp() { ${enter} sh -c "cat > '\${2#*:}'" < "$1" && ${enter} chmod "$(stat -c %a "$1")" "\${2#*:}"; }`,
    ])
      await term.command(line);
  }, 60_000);
  afterAll(async () => {
    await term?.close();
    node?.kill("SIGKILL");
    await lab?.destroy();
    rmSync(top, { recursive: true, force: true });
  });

  test("every line works as written; the daemon starts the group on node1", async () => {
    const steps = installSteps(README);
    expect(steps.length).toBeGreaterThanOrEqual(6);
    const last = steps.pop()!;
    expect(last).toContain("hb --config /etc/hb/ha.toml");
    for (const s of steps) {
      const out = await term.command(`${s.replace(/\s+#.*$/, "")}; echo "rc=$?"`, 120_000);
      expect({ step: s, rc: out.at(-1) }).toEqual({ step: s, rc: "rc=0" });
      if (s.includes("uname -m")) expect(out).toContain(process.arch === "x64" ? "x86_64" : "aarch64");
    }
    // the daemon runs in the foreground; its peer never comes, so it acts alone after initdead (15 s)
    await term.send(last);
    await waitFor(
      "node1 to run the group",
      async () => (await term.screen()).some((l) => l.includes("group web: starting -> running")),
      40_000,
      200,
    );
    const screen = await term.screen();
    expect(screen.join("\n")).toContain("/etc/hb/ha.toml: OK");
    expect(screen.join("\n")).toContain("this host (node node1): every interface, device, script and command is here");
    const addr = await lab.exec(lab.nodes[0]!, ["ip", "-o", "addr", "show", "dev", "eth0"]);
    expect(addr.stdout).toContain("inet 192.0.2.20/24");
    await term.interrupt();
    await waitFor(
      "the daemon to stop",
      async () => (await term.screen()).some((l) => /stopped \(exit 0\)/.test(l)),
      20_000,
      200,
    );
    expect((await lab.exec(lab.nodes[0]!, ["ip", "-o", "addr", "show", "dev", "eth0"])).stdout).not.toContain(
      "192.0.2.20",
    );
  }, 120_000);
});
