/**
 * The control socket server: a Unix stream socket, mode 0600 in a 0700
 * directory (root only), or 0660 in a 0750 directory of the control group,
 * whose members may read (status, history) and nothing else: each client's uid
 * comes from the kernel (SO_PEERCRED), never from what it sends. One JSON request line in, one JSON response line
 * out, then the connection closes. Abuse never blocks or crashes the daemon:
 * a silent client is cut after REQUEST_TIMEOUT_MS, a request over MAX_REQUEST
 * bytes is refused without being buffered, garbage gets an error reply, and
 * clients beyond MAX_CLIENTS are turned away at once. Requests never touch
 * state: the handler turns them into events for the state machine.
 */
import { chmodSync, chownSync, lstatSync, unlinkSync } from "node:fs";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { dirname } from "node:path";
import { privateDir } from "../config/files.ts";
import { peerUid } from "../native/shim.ts";
import {
  fail,
  isResponse,
  MAX_CLIENTS,
  MAX_REQUEST,
  parseRequest,
  READ_ONLY_COMMANDS,
  REQUEST_TIMEOUT_MS,
  type Request,
  type Response,
} from "./protocol.ts";

export type Handler = (req: Request) => Promise<Response>;

export class ControlSocketError extends Error {
  override readonly name = "ControlSocketError";
}

/** Root (or the daemon's own user), by the kernel's word; anyone else, or a peer that cannot be told, is not. */
function privileged(sock: Socket): boolean {
  // Bun keeps the accepted socket's descriptor on its handle (no public API gives it)
  const uid = peerUid((sock as unknown as { _handle?: { fd?: number } })._handle?.fd);
  return uid !== undefined && (uid === 0 || uid === process.getuid?.());
}

/** The control group may reach the socket (0660 in a 0750 directory), or nobody but root may (0600 in 0700). */
function share(path: string, gid: number | undefined): void {
  const dir = dirname(path);
  if (gid === undefined) {
    chmodSync(dir, 0o700); // a group this node no longer has loses its access
    return;
  }
  chownSync(dir, 0, gid);
  chmodSync(dir, 0o750);
  chownSync(path, 0, gid);
  chmodSync(path, 0o660);
}

/** Is something answering on this socket path? */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = createConnection(path);
    const done = (v: boolean) => {
      c.destroy();
      resolve(v);
    };
    c.once("connect", () => done(true));
    c.once("error", () => done(false));
    setTimeout(() => done(false), 1000).unref();
  });
}

export class ControlServer {
  private readonly clients = new Set<Socket>();

  private constructor(
    readonly path: string,
    private readonly server: Server,
    /** a control group can reach the socket: each client's uid decides what it may do */
    private readonly shared: boolean,
  ) {}

  static async listen(
    path: string,
    handler: Handler,
    onError: (msg: string) => void,
    /** the control group's id: its members may read; undefined: root only */
    gid?: number,
  ): Promise<ControlServer> {
    const dir = dirname(path);
    try {
      privateDir(dir); // a directory of root's that nobody else can write: the socket cannot be swapped there
    } catch (e) {
      throw new ControlSocketError(`the control socket's directory: ${(e as Error).message}`, { cause: e });
    }
    let st: ReturnType<typeof lstatSync> | undefined;
    try {
      st = lstatSync(path);
    } catch {
      /* absent: fine */
    }
    if (st) {
      if (!st.isSocket())
        throw new ControlSocketError(`${path} exists and is not a socket: remove it or set control.socket`);
      if (await answers(path))
        throw new ControlSocketError(`another hb is already running: ${path} answers (one daemon per node)`);
      unlinkSync(path); // stale, from a daemon that died
    }
    const server = createServer({ allowHalfOpen: false });
    const cs = new ControlServer(path, server, gid !== undefined);
    server.on("connection", (sock) => cs.serve(sock, handler, onError));
    server.on("error", (e) => onError(`control socket: ${e.message}`));
    const old = process.umask(0o177); // the socket is born 0600: no window where others may connect
    try {
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(path, () => {
          server.off("error", reject);
          resolve();
        });
      });
    } catch (e) {
      throw new ControlSocketError(`cannot listen on ${path}: ${(e as Error).message}`, { cause: e });
    } finally {
      process.umask(old);
    }
    share(path, gid);
    return cs;
  }

  private serve(sock: Socket, handler: Handler, onError: (msg: string) => void): void {
    if (this.clients.size >= MAX_CLIENTS) {
      sock.on("error", () => {});
      sock.end(`${JSON.stringify(fail("busy", `too many clients (${MAX_CLIENTS}); try again`))}\n`);
      return;
    }
    this.clients.add(sock);
    let buf = "";
    let answered = false;
    const answer = (r: Response) => {
      if (answered) return;
      answered = true;
      clearTimeout(timer);
      if (!sock.destroyed) sock.end(`${JSON.stringify(r)}\n`);
    };
    const timer = setTimeout(() => {
      answer(fail("timeout", `no complete request within ${REQUEST_TIMEOUT_MS} ms`));
      setTimeout(() => sock.destroy(), 500).unref();
    }, REQUEST_TIMEOUT_MS);
    sock.setEncoding("utf8");
    sock.on("data", (chunk: string) => {
      if (answered) return;
      buf += chunk;
      const nl = buf.indexOf("\n");
      if (nl < 0) {
        if (buf.length > MAX_REQUEST) {
          buf = "";
          answer(fail("too_large", `a request may be at most ${MAX_REQUEST} bytes`));
          // read no more of it; closed once the answer is out (destroying now could drop the answer
          // when the machine is busy), or after half a second whatever the client does
          sock.pause();
          sock.once("finish", () => sock.destroy());
          setTimeout(() => sock.destroy(), 500).unref();
        }
        return;
      }
      const line = buf.slice(0, nl);
      buf = "";
      if (line.length > MAX_REQUEST) return answer(fail("too_large", `a request may be at most ${MAX_REQUEST} bytes`));
      const req = parseRequest(line);
      if (isResponse(req)) return answer(req);
      // without a control group only root can reach the socket (0600 in 0700): the file system decided
      if (this.shared && !READ_ONLY_COMMANDS.includes(req.cmd) && !privileged(sock))
        return answer(
          fail(
            "forbidden",
            `${req.cmd} needs root: the control group may only read (hb status, hb history, hb report)`,
          ),
        );
      handler(req).then(answer, (e: unknown) => {
        onError(`control: ${req.cmd} failed: ${e instanceof Error ? e.message : String(e)}`);
        answer(fail("internal", `internal error: ${e instanceof Error ? e.message : String(e)}`));
      });
    });
    sock.on("error", () => {
      /* a client that went away: nothing to do */
    });
    sock.on("close", () => {
      clearTimeout(timer);
      this.clients.delete(sock);
    });
  }

  close(): void {
    for (const c of this.clients) c.destroy();
    this.server.close();
    try {
      unlinkSync(this.path);
    } catch {
      /* gone already */
    }
  }
}
