/**
 * The live metrics endpoint (issue 13, part 4) scraped by a real Prometheus (Debian's, started by the
 * test inside node1's namespace with its own scrape config and storage; its service is never started):
 * its HTTP API then answers hb_up and hb_peer_up as hb serves them. Also /healthz, 404, 405, and a port
 * that cannot be bound (hb runs on, says so).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ClusterFiles, configText, type HbProcess, startHb } from "../lib/cluster.ts";
import { announceSkip, Lab, netnsUnavailable, waitFor } from "../lib/netns.ts";

const PROMETHEUS = "/usr/bin/prometheus";
const why =
  netnsUnavailable() ?? (existsSync(PROMETHEUS) ? undefined : `${PROMETHEUS} missing (make test installs it)`);
if (why) announceSkip("test/netns/metrics.test.ts", why);

describe.skipIf(Boolean(why))("the metrics endpoint", () => {
  let lab: Lab;
  let dir: string;
  let files: ClusterFiles;
  const procs: HbProcess[] = [];
  const node1 = Lab.nodeAddr(1);
  beforeAll(async () => {
    lab = await Lab.create({ nodes: 2 });
    dir = mkdtempSync(join(tmpdir(), "hb-metrics-"));
    // the same file on both nodes: node2 cannot bind node1's address
    files = new ClusterFiles(
      `${configText({ nodes: 2, links: ['kind = "udp"\ninterface = "eth0"'] })}\n[metrics]\nlisten = "${node1}:9694"\n`,
    );
  });
  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await lab?.destroy();
    files?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });
  const curl = (ns: string, args: string[]) => lab.exec(ns, ["curl", "-s", "-m", "3", ...args]);

  test("Prometheus scrapes hb_up and hb_peer_up; /healthz, 404 and 405; an unbindable address is said and survived", async () => {
    const a = startHb(lab, files, 1);
    const b = startHb(lab, files, 2); // its listen address is node1's: it cannot bind it and runs on
    procs.push(a, b);
    await a.waitLine(/metrics: serving \/metrics and \/healthz on http:\/\/198\.51\.100\.11:9694/, 10_000);
    await b.waitLine(/metrics: cannot listen on 198\.51\.100\.11:9694: .*hb runs on without the endpoint/, 10_000);
    await a.waitLine(/peer node2: \w+ -> up/, 10_000);
    const m = await curl(lab.nodes[1]!, [`http://${node1}:9694/metrics`]);
    expect(m.stdout).toContain("# TYPE hb_up gauge\nhb_up 1\n");
    expect(m.stdout).toContain('hb_peer_up{peer="node2"} 1');
    expect((await curl(lab.nodes[1]!, [`http://${node1}:9694/healthz`])).stdout).toBe("ok\n");
    expect(
      (await curl(lab.nodes[1]!, ["-o", "/dev/null", "-w", "%{http_code}", `http://${node1}:9694/x`])).stdout,
    ).toBe("404");
    expect(
      (
        await curl(lab.nodes[1]!, [
          "-o",
          "/dev/null",
          "-w",
          "%{http_code}",
          "-X",
          "POST",
          "-d",
          "x",
          `http://${node1}:9694/metrics`,
        ])
      ).stdout,
    ).toBe("405");
    // a real Prometheus, in node2's namespace, scraping node1 every 200 ms
    writeFileSync(
      join(dir, "prometheus.yml"),
      `global:\n  scrape_interval: 200ms\n  scrape_timeout: 200ms\nscrape_configs:\n  - job_name: hb\n    static_configs:\n      - targets: ["${node1}:9694"]\n`,
    );
    const web = `${Lab.nodeAddr(2)}:9090`;
    const prom = lab.spawn(
      lab.nodes[1]!,
      [
        PROMETHEUS,
        `--config.file=${join(dir, "prometheus.yml")}`,
        `--storage.tsdb.path=${join(dir, "tsdb")}`,
        `--web.listen-address=${web}`,
      ],
      { stdout: "ignore", stderr: "ignore" },
    );
    try {
      const query = async (q: string) => {
        const r = await curl(lab.nodes[1]!, ["--get", "--data-urlencode", `query=${q}`, `http://${web}/api/v1/query`]);
        try {
          return JSON.parse(r.stdout).data.result as { metric: Record<string, string>; value: [number, string] }[];
        } catch {
          return [];
        }
      };
      await waitFor("Prometheus to have scraped hb_up", async () => (await query("hb_up")).length > 0, 30_000, 250);
      const up = await query("hb_up");
      expect(up.map((x) => [x.metric.job, x.metric.instance, x.value[1]])).toEqual([["hb", `${node1}:9694`, "1"]]);
      const peer = await query("hb_peer_up");
      expect(peer.map((x) => [x.metric.peer, x.value[1]])).toEqual([["node2", "1"]]);
      // Prometheus's own view of the target: up, no scrape errors
      expect((await query("up")).map((x) => x.value[1])).toEqual(["1"]);
    } finally {
      prom.kill();
      await prom.exited;
    }
  }, 60_000);
});
