/**
 * A real etcd cluster for tests (issue 12): Debian's etcd-server 3.4, one member per lab namespace, with
 * TLS everywhere (a CA, a server certificate per member, a client certificate for hb, all made here with
 * openssl). Members run with short raft timers so that etcd grants 1 s leases (its minimum lease TTL is
 * 1.5 election timeouts), and are ended by PID.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { type Lab, run, waitFor } from "./netns.ts";

export interface EtcdTls {
  ca: string;
  cert: string;
  key: string;
}

async function openssl(args: string[]): Promise<void> {
  const r = await run(["openssl", ...args], 30_000);
  if (r.code !== 0) throw new Error(`openssl ${args[0]}: ${r.stderr}`);
}

/** A CA, a server certificate valid for the given IPs, and a client certificate, in a fresh directory. */
export async function makeCerts(dir: string, ips: string[]): Promise<{ server: EtcdTls; client: EtcdTls }> {
  const f = (n: string) => join(dir, n);
  await openssl(
    ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"].concat([
      "-subj",
      "/CN=hb-test-ca",
      "-keyout",
      f("ca.key"),
      "-out",
      f("ca.pem"),
    ]),
  );
  const issue = async (name: string, cn: string, ext: string) => {
    writeFileSync(f(`${name}.ext`), ext);
    await openssl(
      ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", `/CN=${cn}`].concat([
        "-keyout",
        f(`${name}.key`),
        "-out",
        f(`${name}.csr`),
      ]),
    );
    await openssl(
      ["x509", "-req", "-in", f(`${name}.csr`), "-CA", f("ca.pem"), "-CAkey", f("ca.key")].concat([
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        f(`${name}.ext`),
        "-out",
        f(`${name}.pem`),
      ]),
    );
  };
  const san = ips.map((ip) => `IP:${ip}`).join(",");
  await issue("server", "etcd", `subjectAltName=${san}\nextendedKeyUsage=serverAuth,clientAuth\n`);
  await issue("client", "hb", "extendedKeyUsage=clientAuth\n");
  return {
    server: { ca: f("ca.pem"), cert: f("server.pem"), key: f("server.key") },
    client: { ca: f("ca.pem"), cert: f("client.pem"), key: f("client.key") },
  };
}

export class EtcdCluster {
  readonly dir = mkdtempSync(join(tmpdir(), "hb-etcd-"));
  private readonly procs = new Map<number, Subprocess>();
  client!: EtcdTls;
  private server!: EtcdTls;

  /** members[i] runs in lab namespace nsList[i] at ips[i]; tls false: plain http (for the password test). */
  constructor(
    private readonly lab: Lab,
    readonly nsList: string[],
    readonly ips: string[],
    readonly opts: { tls: boolean; port: number } = { tls: true, port: 2379 },
  ) {}

  private get scheme(): string {
    return this.opts.tls ? "https" : "http";
  }

  get endpoints(): string[] {
    return this.ips.map((ip) => `${this.scheme}://${ip}:${this.opts.port}`);
  }

  async start(): Promise<void> {
    const certs = await makeCerts(this.dir, this.ips);
    this.server = certs.server;
    this.client = certs.client;
    for (let i = 0; i < this.ips.length; i++) this.startMember(i, "new");
    await waitFor("etcd to have a leader", () => this.healthy(), 20_000, 200);
  }

  /** Start member i again (after stop), with its data. */
  startMember(i: number, state: "new" | "existing" = "existing"): void {
    const ip = this.ips[i]!;
    const s = this.server;
    const { port } = this.opts;
    const url = (x: string, p: number) => `${this.scheme}://${x}:${p}`;
    const cluster = this.ips.map((x, j) => `e${j + 1}=${url(x, port + 1)}`).join(",");
    const tls = this.opts.tls
      ? ["--cert-file", s.cert, "--key-file", s.key, "--trusted-ca-file", s.ca, "--client-cert-auth"]
          .concat(["--peer-cert-file", s.cert, "--peer-key-file", s.key, "--peer-trusted-ca-file", s.ca])
          .concat(["--peer-client-cert-auth"])
      : [];
    const proc = this.lab.spawn(
      this.nsList[i]!,
      ["etcd", "--name", `e${i + 1}`, "--data-dir", join(this.dir, `data${i + 1}`)]
        .concat(["--listen-client-urls", url(ip, port), "--advertise-client-urls", url(ip, port)])
        .concat(["--listen-peer-urls", url(ip, port + 1), "--initial-advertise-peer-urls", url(ip, port + 1)])
        .concat(["--initial-cluster", cluster, "--initial-cluster-state", state, "--initial-cluster-token", "hbt"])
        .concat(tls, ["--heartbeat-interval", "20", "--election-timeout", "200"])
        .concat(["--log-level", "error", "--logger", "zap"]),
      { stdout: "ignore", stderr: "ignore" },
    );
    this.procs.set(i, proc);
  }

  /** Kill member i (SIGKILL, by PID) and wait for it to be gone. */
  async stopMember(i: number): Promise<void> {
    const p = this.procs.get(i);
    if (!p) return;
    p.kill("SIGKILL");
    await Promise.race([p.exited, Bun.sleep(3000)]);
    this.procs.delete(i);
  }

  /** etcdctl against the cluster, from member 0's namespace. */
  ctl(args: string[], ns = this.nsList[0]!): ReturnType<Lab["exec"]> {
    const c = this.client;
    const tls = this.opts.tls ? [`--cacert=${c.ca}`, `--cert=${c.cert}`, `--key=${c.key}`] : [];
    return this.lab.exec(
      ns,
      ["etcdctl", `--endpoints=${this.endpoints.join(",")}`, ...tls, "--command-timeout=2s", ...args],
      10_000,
      { ETCDCTL_API: "3", PATH: process.env.PATH ?? "/usr/bin:/bin" },
    );
  }

  async healthy(): Promise<boolean> {
    const r = await this.ctl(["endpoint", "status", "-w", "json"]);
    if (r.code !== 0) return false;
    try {
      return (JSON.parse(r.stdout) as { Status: { leader: string } }[]).some((m) => m.Status.leader !== "0");
    } catch {
      return false;
    }
  }

  async stop(): Promise<void> {
    for (const i of [...this.procs.keys()]) await this.stopMember(i);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
