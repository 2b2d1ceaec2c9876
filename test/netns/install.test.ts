/**
 * The README's "Install on a node", typed into a real terminal (tmux) line by line (issue 13). The
 * admin's shell runs in this repository; `ssh node1` and `scp ... node1:` are the only stand-ins: shell
 * functions that run the command, or copy the file, inside node1, a node made of namespaces (its own
 * network, its host name, overlays on /etc, /var and /usr/local/sbin, a tmpfs on /run), so nothing of
 * this host changes. The example's init scripts (named, httpd, mysqld) are put in node1's /etc/init.d
 * first, as a real node would have them. Every line must succeed; the last one runs hb check and the
 * daemon in the foreground, which must start the group (node2, installed alike by the harness with
 * node1's key, runs beside it, as it would: "same key on every node"); Ctrl-C stops it cleanly.
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

/** A node made of namespaces (see the header); its pid is the handle for nsenter. */
async function makeNode(lab: Lab, i: number, top: string): Promise<Subprocess> {
  const dir = join(top, `node${i}`);
  const setup = [
    "set -e",
    `hostname node${i}`,
    `for d in /etc /var /usr/local/sbin; do mkdir -p ${dir}$d/up ${dir}$d/work; mount -t overlay overlay -o lowerdir=$d,upperdir=${dir}$d/up,workdir=${dir}$d/work $d; done`,
    "mount -t tmpfs tmpfs /run",
    "exec sleep 600",
  ].join("\n");
  const node = lab.spawn(lab.nodes[i - 1]!, [
    "unshare",
    "--mount",
    "--uts",
    "--propagation",
    "private",
    "sh",
    "-c",
    setup,
  ]);
  await waitFor(
    `node${i} to be set up`,
    () => readFileSync(`/proc/${node.pid}/comm`, "utf8").trim() === "sleep",
    5000,
    20,
  );
  for (const s of ["named", "httpd", "mysqld"]) put(node, `/etc/init.d/${s}`, INIT, "755");
  return node;
}

/** Write a file inside a node (its mount namespace), with a mode. */
function put(node: Subprocess, file: string, data: string | Uint8Array, mode: string): void {
  const r = Bun.spawnSync(
    [
      "nsenter",
      "-t",
      String(node.pid),
      "-m",
      "sh",
      "-c",
      `mkdir -p $(dirname ${file}) && cat > ${file} && chmod ${mode} ${file}`,
    ],
    { stdin: typeof data === "string" ? new TextEncoder().encode(data) : data, timeout: 10_000 },
  );
  if (r.exitCode !== 0) throw new Error(`cannot write ${file} in node: ${r.stderr.toString()}`);
}

describe.skipIf(Boolean(why))("the README's install steps, in a terminal", () => {
  let lab: Lab;
  let top: string;
  let node: Subprocess;
  let peer: Subprocess;
  let peerHb: Subprocess | undefined;
  let term: Terminal;
  beforeAll(async () => {
    // node1 and node2 on both LANs; the admin's terminal runs in a third namespace, with no network of its own use
    lab = await Lab.create({ nodes: 3, lans: 2 });
    top = mkdtempSync(join(tmpdir(), "hb-install-"));
    node = await makeNode(lab, 1, top);
    peer = await makeNode(lab, 2, top);
    term = new Terminal(
      lab,
      lab.nodes[2]!,
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
    peerHb?.kill("SIGTERM");
    await Promise.race([peerHb?.exited, Bun.sleep(5000)]);
    peerHb?.kill("SIGKILL");
    node?.kill("SIGKILL");
    peer?.kill("SIGKILL");
    await lab?.destroy();
    rmSync(top, { recursive: true, force: true });
  });

  /** node2, installed the same way by the harness with node1's key, runs its daemon: node1 need not wait out initdead. */
  function startPeer(): void {
    const key = Bun.spawnSync(["nsenter", "-t", String(node.pid), "-m", "cat", "/etc/hb/authkey"]).stdout;
    put(peer, "/usr/local/sbin/hb", readFileSync(join(ROOT, "dist/hb-linux-x64")), "755");
    put(peer, "/etc/hb/ha.toml", readFileSync(join(ROOT, "examples/ha.toml")), "644");
    put(peer, "/etc/hb/authkey", key, "600");
    peerHb = Bun.spawn(
      [
        "nsenter",
        "-t",
        String(peer.pid),
        "-m",
        "-u",
        "-n",
        "env",
        "-i",
        "PATH=/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin",
      ].concat(["hb", "--config", "/etc/hb/ha.toml"]),
      { stdout: "ignore", stderr: "ignore" },
    );
  }

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
    // node2 was installed alike (the same key) and runs; node1's daemon runs in the foreground here
    startPeer();
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
