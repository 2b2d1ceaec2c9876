/**
 * A small etcd v3 client over etcd's own JSON gateway (`POST /v3/...`, since etcd 3.3; 3.4's is stable)
 * through Bun's fetch: TLS with a CA and a client certificate, user/password auth, endpoints tried in
 * turn. It does only what the arbiter needs (leases, one transaction shape, range, delete) and runs on
 * the JS thread, never on the heartbeat's. Keys and values travel base64-encoded; 64-bit numbers as
 * decimal strings (lease ids are kept as strings, never as JS numbers).
 */
import type { EtcdConfig } from "../config/schema.ts";
import type { KeyValue, LeaseStore } from "./types.ts";

const b64 = (s: string) => Buffer.from(s).toString("base64");
const unb64 = (s: string | undefined) => (s ? Buffer.from(s, "base64").toString() : "");

interface RawKv {
  key?: string;
  value?: string;
  lease?: string;
  mod_revision?: string;
}
const kv = (k: RawKv): KeyValue => ({
  key: unb64(k.key),
  value: unb64(k.value),
  lease: k.lease ?? "0",
  modRevision: k.mod_revision ?? "0",
});

export class EtcdError extends Error {}

export class EtcdClient implements LeaseStore {
  private ep = 0;
  private token?: string;
  /** the last revision etcd reported, and the endpoint that answered */
  revision = "0";
  endpoint = "";

  constructor(
    private readonly cfg: EtcdConfig,
    /** per request and endpoint, ms */
    private readonly timeoutMs: number,
  ) {}

  /** One gateway call, tried on each endpoint in turn (starting with the last that answered). */
  async call(path: string, body: unknown, auth = true): Promise<Record<string, unknown>> {
    let last = "no endpoint";
    for (let i = 0; i < this.cfg.endpoints.length; i++) {
      const url = this.cfg.endpoints[this.ep]!;
      try {
        const r = await this.post(url, path, body, auth);
        this.endpoint = url;
        return r;
      } catch (e) {
        if (e instanceof EtcdError && !/unavailable|leader|timeout|stopped/i.test(e.message)) throw e;
        last = `${url}: ${(e as Error).message}`;
        this.ep = (this.ep + 1) % this.cfg.endpoints.length;
      }
    }
    throw new Error(last);
  }

  private async post(url: string, path: string, body: unknown, auth: boolean): Promise<Record<string, unknown>> {
    if (auth && this.cfg.user && !this.token) await this.authenticate(url);
    const send = () =>
      fetch(url + path, {
        method: "POST",
        body: JSON.stringify(body),
        headers: { "content-type": "application/json", ...(auth && this.token ? { authorization: this.token } : {}) },
        tls: this.cfg.tls,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    let res = await send();
    let text = await res.text();
    if (auth && this.cfg.user && /invalid auth token|token/i.test(text) && res.status !== 200) {
      this.token = undefined; // simple tokens expire: authenticate again, once
      await this.authenticate(url);
      res = await send();
      text = await res.text();
    }
    // a streamed answer (lease keepalive) comes as {"result": ...} lines; the first is ours
    const json = JSON.parse(text.split("\n")[0] || "{}") as Record<string, unknown>;
    const body1 = (json.result ?? json) as Record<string, unknown>;
    const err = (json.error ?? body1.error) as { message?: string } | string | undefined;
    if (res.status !== 200 || err)
      throw new EtcdError(
        `etcd ${path}: ${typeof err === "string" ? err : (err?.message ?? json.message ?? res.status)}`,
      );
    const rev = (body1.header as { revision?: string } | undefined)?.revision;
    if (rev) this.revision = rev;
    return body1;
  }

  private async authenticate(url: string): Promise<void> {
    const r = await this.post(
      url,
      "/v3/auth/authenticate",
      { name: this.cfg.user, password: this.cfg.password },
      false,
    );
    this.token = r.token as string;
  }

  async grant(ttlS: number): Promise<{ id: string; ttlS: number }> {
    const r = await this.call("/v3/lease/grant", { TTL: String(ttlS) });
    return { id: String(r.ID), ttlS: Number(r.TTL ?? 0) };
  }

  /** The lease's TTL once renewed; 0 when etcd no longer has it (expired or revoked). */
  async keepalive(id: string): Promise<number> {
    const r = await this.call("/v3/lease/keepalive", { ID: id });
    return Number(r.TTL ?? 0);
  }

  async revoke(id: string): Promise<void> {
    await this.call("/v3/lease/revoke", { ID: id }).catch((e: Error) => {
      if (!/not found/i.test(e.message)) throw e;
    });
  }

  /**
   * Make key name `value` under `lease` if nobody holds it, or if `value` holds it already (under an
   * older lease of ours, say); otherwise say who does. Two transactions at most, each atomic.
   */
  async claim(key: string, value: string, lease: string): Promise<{ held: boolean; owner?: string }> {
    const put = { request_put: { key: b64(key), value: b64(value), lease } };
    const r = await this.call("/v3/kv/txn", {
      compare: [{ key: b64(key), target: "CREATE", result: "EQUAL", create_revision: "0" }],
      success: [put],
      failure: [{ request_range: { key: b64(key) } }],
    });
    if (r.succeeded) return { held: true };
    const cur = this.firstKv(r);
    if (!cur) return this.claim(key, value, lease); // deleted in between: try again
    if (cur.value !== value) return { held: false, owner: cur.value };
    if (cur.lease === lease) return { held: true };
    const again = await this.call("/v3/kv/txn", {
      compare: [{ key: b64(key), target: "MOD", result: "EQUAL", mod_revision: cur.modRevision }],
      success: [put],
    });
    return again.succeeded ? { held: true } : this.claim(key, value, lease);
  }

  /** Delete key if it still names value (a planned release; a key someone else holds is left alone). */
  async release(key: string, value: string): Promise<void> {
    await this.call("/v3/kv/txn", {
      compare: [{ key: b64(key), target: "VALUE", result: "EQUAL", value: b64(value) }],
      success: [{ request_delete_range: { key: b64(key) } }],
    });
  }

  /** Delete key if it was not changed since modRevision. */
  async deleteIf(key: string, modRevision: string): Promise<void> {
    await this.call("/v3/kv/txn", {
      compare: [{ key: b64(key), target: "MOD", result: "EQUAL", mod_revision: modRevision }],
      success: [{ request_delete_range: { key: b64(key) } }],
    });
  }

  /** Every key under prefix. */
  async list(prefix: string): Promise<KeyValue[]> {
    const end = prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
    const r = await this.call("/v3/kv/range", { key: b64(prefix), range_end: b64(end) });
    return ((r.kvs as RawKv[] | undefined) ?? []).map(kv);
  }

  private firstKv(r: Record<string, unknown>): KeyValue | undefined {
    const rs = (r.responses as { response_range?: { kvs?: RawKv[] } }[] | undefined) ?? [];
    const k = rs[0]?.response_range?.kvs?.[0];
    return k ? kv(k) : undefined;
  }
}
