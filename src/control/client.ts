/** The control socket client used by hb status / standby / takeover / clear / reload / report. */
import { createConnection } from "node:net";
import { PROTOCOL_VERSION, type Request, type Response } from "./protocol.ts";

/** The daemon could not be reached (not running, wrong path, no permission), with the errno code. */
export class UnreachableError extends Error {
  override readonly name = "UnreachableError";
  constructor(
    readonly path: string,
    readonly code: string,
    detail: string,
  ) {
    super(`hb daemon not reachable at ${path}: ${detail}`);
  }
}

const HINT: Record<string, string> = {
  ENOENT: "no socket (is hb running on this node? is control.socket the same?)",
  ECONNREFUSED: "connection refused (hb is not running; the socket is stale)",
  EACCES: "permission denied (the control socket is root's, and its control group's when one is set)",
  EPERM: "permission denied (the control socket is root's, and its control group's when one is set)",
  TIMEOUT: "no answer in time (is the daemon hung?)",
};

type Body<R> = R extends unknown ? Omit<R, "v"> : never;

export function request(path: string, req: Body<Request>, timeoutMs = 10_000): Promise<Response> {
  return new Promise((resolve, reject) => {
    const sock = createConnection(path);
    let buf = "";
    let settled = false;
    const finish = (f: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      f();
    };
    const timer = setTimeout(
      () => finish(() => reject(new UnreachableError(path, "TIMEOUT", HINT.TIMEOUT!))),
      timeoutMs,
    );
    sock.setEncoding("utf8");
    sock.on("connect", () => sock.write(`${JSON.stringify({ v: PROTOCOL_VERSION, ...req })}\n`));
    sock.on("data", (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf("\n");
      if (nl < 0) return;
      const line = buf.slice(0, nl);
      finish(() => {
        try {
          resolve(JSON.parse(line) as Response);
        } catch {
          reject(new Error(`the daemon answered something that is not JSON: ${line.slice(0, 200)}`));
        }
      });
    });
    sock.on("error", (e: NodeJS.ErrnoException) =>
      finish(() => reject(new UnreachableError(path, e.code ?? "ERROR", HINT[e.code ?? ""] ?? e.message))),
    );
    sock.on("close", () =>
      finish(() => reject(new UnreachableError(path, "EOF", "the daemon closed the connection without an answer"))),
    );
  });
}
