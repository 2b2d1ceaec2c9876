/**
 * The README's operator's day, typed into a real terminal (tmux) on node1 of a live two-node cluster:
 * every command's output must be what the README shows (numbers, times and padding aside). When the
 * README and hb disagree, this fails: fix whichever is wrong.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ClusterFiles, HB, type HbProcess, startHb } from "../lib/cluster.ts";
import { failoverConfig, writeScripts } from "../lib/failover.ts";
import { announceSkip, Lab, netnsUnavailable, run, waitFor } from "../lib/netns.ts";
import { normalize, Terminal, walkthrough } from "../lib/walkthrough.ts";

const README = readFileSync(join(import.meta.dir, "../../README.md"), "utf8");
const why = netnsUnavailable() ?? (existsSync("/usr/bin/tmux") ? undefined : "tmux missing (make test installs it)");
if (why) announceSkip("test/netns/walkthrough.test.ts", why);

describe.skipIf(Boolean(why))("the README's operator's day, in a terminal", () => {
  let lab: Lab;
  let dir: string;
  let files: ClusterFiles;
  let term: Terminal;
  const procs: HbProcess[] = [];
  beforeAll(async () => {
    lab = await Lab.create({ nodes: 2, client: true });
    dir = mkdtempSync(join(tmpdir(), "hb-walk-"));
    files = new ClusterFiles(
      failoverConfig(writeScripts(dir)).replace(
        '[[link]]\nkind = "udp"\ninterface = "eth0"\n',
        '[[link]]\nkind = "udp"\ninterface = "eth0"\n\n[[link]]\nkind = "ether"\ninterface = "eth0"\n',
      ),
    );
    procs.push(startHb(lab, files, 1), startHb(lab, files, 2));
    await procs[0]!.waitLine(/group web: starting -> running/, 10_000);
    await waitFor(
      "node2 to see node1 hold web",
      async () => {
        const r = await run([HB, "status", "--json", "--socket", files.socket(2)]);
        return r.code === 0 && JSON.parse(r.stdout).groups[0].holders.join() === "node1";
      },
      5000,
      50,
    );
    // `hb` in the terminal is this build, reading this cluster's config as if it were /etc/hb/ha.toml
    const bin = join(dir, "bin");
    mkdirSync(bin);
    writeFileSync(join(bin, "hb"), `#!/bin/sh\nexec ${HB} "$@" --config ${files.config(1)}\n`);
    chmodSync(join(bin, "hb"), 0o755);
    term = new Terminal(
      lab,
      lab.nodes[0]!,
      { PATH: `${bin}:/usr/sbin:/usr/bin:/sbin:/bin`, TERM: "xterm", LANG: "C" },
      "node1",
    );
    await term.open();
  });
  afterAll(async () => {
    await term?.close();
    await Promise.all(procs.map((p) => p.stop()));
    await lab?.destroy();
    files?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  test("each command's output is the README's", async () => {
    const steps = walkthrough(README);
    expect(steps.length).toBeGreaterThanOrEqual(6);
    // the lab's own paths read as the README's
    const paths = (l: string) =>
      l
        .replaceAll(files.config(1), "/etc/hb/ha.toml")
        .replaceAll(files.state(1), "/var/lib/hb")
        .replaceAll(files.socket(1), "/run/hb/hb.sock")
        .replaceAll(join(dir, "resource.d"), "/etc/hb/resource.d");
    for (const s of steps) {
      const got = (await term.command(s.command)).map(paths);
      // WALK_PRINT=1: print what the terminal showed (to write the README block from), assert nothing
      if (process.env.WALK_PRINT) {
        console.log(`$ ${s.command}\n${got.join("\n")}`);
        continue;
      }
      expect({ command: s.command, output: normalize(got) }).toEqual({
        command: s.command,
        output: normalize(s.output),
      });
    }
  }, 120_000);
});
