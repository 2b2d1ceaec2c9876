/**
 * The live metrics endpoint ([metrics] listen): /metrics in Prometheus text format (the same text
 * `hb report --prometheus` writes) and /healthz. It runs on the daemon's event loop like the control
 * socket; the heartbeat thread never waits for it. Anything else gets 404; a request is answered from
 * one status snapshot and nothing a client sends is read.
 */

import { evaluate, prometheus } from "../control/report.ts";
import type { Status } from "../control/status.ts";
import type { logger } from "../log/log.ts";

export interface MetricsSource {
  /** the status now; throws while the daemon is starting */
  status(): Status;
  /** true while events wait unprocessed (the loop is stuck) */
  stuck(): boolean;
}

const TEXT = { "content-type": "text/plain; version=0.0.4; charset=utf-8" };

/** host:port or [v6]:port, as the schema checked it */
function split(listen: string): { hostname: string; port: number } {
  const i = listen.lastIndexOf(":");
  return { hostname: listen.slice(0, i).replace(/^\[|\]$/g, ""), port: Number(listen.slice(i + 1)) };
}

function answer(src: MetricsSource, path: string): Response {
  if (path === "/healthz")
    return src.stuck()
      ? new Response("stuck: events wait unprocessed\n", { status: 503, headers: TEXT })
      : new Response("ok\n", { headers: TEXT });
  if (path !== "/metrics") return new Response("not found: try /metrics or /healthz\n", { status: 404, headers: TEXT });
  try {
    const s = src.status();
    return new Response(prometheus(s, evaluate(s)), { headers: TEXT });
  } catch {
    return new Response("hb is starting\n", { status: 503, headers: TEXT });
  }
}

/** Start serving; undefined (and a clear log line) when the address cannot be bound: hb runs on without it. */
export function startMetrics(
  listen: string | undefined,
  src: MetricsSource,
  log: ReturnType<typeof logger>,
): { stop(): void } | undefined {
  if (!listen) return undefined;
  try {
    const server = Bun.serve({
      ...split(listen),
      // one small text answer per request: no request body is ever read
      fetch: (req) =>
        req.method === "GET" || req.method === "HEAD"
          ? answer(src, new URL(req.url).pathname)
          : new Response("only GET\n", { status: 405, headers: TEXT }),
      error: () => new Response("error\n", { status: 500, headers: TEXT }),
    });
    log.info(`metrics: serving /metrics and /healthz on http://${listen}`);
    return { stop: () => void server.stop(true) };
  } catch (e) {
    log.error(`metrics: cannot listen on ${listen}: ${(e as Error).message}; hb runs on without the endpoint`);
    return undefined;
  }
}
