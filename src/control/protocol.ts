/**
 * The control protocol, version 1: one JSON object per line, one request and
 * one response per connection, over the Unix socket (control.socket).
 *
 *   request:  {"v":1,"cmd":"status"}
 *             {"v":1,"cmd":"standby"|"takeover","group":"web"|"all","force":false}
 *             {"v":1,"cmd":"clear","group":"web"}
 *             {"v":1,"cmd":"reload"}
 *             {"v":1,"cmd":"history","limit":100}
 *   response: {"v":1,"ok":true,"result":...}
 *             {"v":1,"ok":false,"error":{"code":"refused","message":"..."}}
 *
 * Error codes: bad_request (not JSON, wrong fields), version (v is not 1),
 * unknown_command, too_large (a request over MAX_REQUEST bytes), timeout (no
 * complete request within REQUEST_TIMEOUT_MS), busy (MAX_CLIENTS already
 * connected), refused (the command is impossible now: the message says why),
 * forbidden (a command that changes something, from a client that is not root: the
 * control group may only read), internal.
 */
import { NAME_PATTERN } from "../config/names.ts";
export const PROTOCOL_VERSION = 1;
export const MAX_REQUEST = 64 * 1024;
export const REQUEST_TIMEOUT_MS = 5000;
export const MAX_CLIENTS = 32;

export const COMMANDS = ["status", "standby", "takeover", "clear", "reload", "history"] as const;
export type CommandName = (typeof COMMANDS)[number];

export type Request =
  | { v: 1; cmd: "status" }
  | { v: 1; cmd: "standby" | "takeover"; group: string; force?: boolean }
  | { v: 1; cmd: "clear"; group: string }
  | { v: 1; cmd: "reload" }
  | { v: 1; cmd: "history"; limit?: number }
  /** test only: refused unless the daemon runs with HB_TEST_HOOKS=1 */
  | { v: 1; cmd: "test-block"; ms: number };

export type ErrorCode =
  | "bad_request"
  | "version"
  | "unknown_command"
  | "too_large"
  | "timeout"
  | "busy"
  | "refused"
  | "forbidden"
  | "internal";

/** What members of the control group (not root) may ask: reading only. */
export const READ_ONLY_COMMANDS: readonly string[] = ["status", "history"];

export type Response =
  | { v: 1; ok: true; result: unknown }
  | { v: 1; ok: false; error: { code: ErrorCode; message: string } };

export const fail = (code: ErrorCode, message: string): Response => ({ v: 1, ok: false, error: { code, message } });
export const success = (result: unknown): Response => ({ v: 1, ok: true, result });

/** Parse one request line; a Response is an error to send back. */
export function parseRequest(line: string): Request | Response {
  let o: unknown;
  try {
    o = JSON.parse(line);
  } catch {
    return fail("bad_request", "the request is not JSON (one JSON object per line)");
  }
  if (typeof o !== "object" || o === null || Array.isArray(o))
    return fail("bad_request", "the request must be a JSON object");
  const r = o as Record<string, unknown>;
  if (r.v !== PROTOCOL_VERSION)
    return fail(
      "version",
      `protocol version ${JSON.stringify(r.v)} is not supported; this daemon speaks v ${PROTOCOL_VERSION}`,
    );
  if (r.cmd === "test-block") {
    if (typeof r.ms !== "number" || !Number.isInteger(r.ms) || r.ms < 1 || r.ms > 10_000)
      return fail("bad_request", `"ms" must be 1..10000`);
    return { v: 1, cmd: "test-block", ms: r.ms };
  }
  if (typeof r.cmd !== "string" || !(COMMANDS as readonly string[]).includes(r.cmd))
    return fail("unknown_command", `unknown command ${JSON.stringify(r.cmd)}; known: ${COMMANDS.join(", ")}`);
  const cmd = r.cmd as CommandName;
  if (cmd === "standby" || cmd === "takeover" || cmd === "clear") {
    if (typeof r.group !== "string" || !NAME_PATTERN.test(r.group))
      return fail("bad_request", `${cmd} needs "group": a group name or "all"`);
    if (r.force !== undefined && typeof r.force !== "boolean")
      return fail("bad_request", `"force" must be true or false`);
    if (cmd === "clear") return { v: 1, cmd, group: r.group };
    return { v: 1, cmd, group: r.group, ...(r.force ? { force: true } : {}) };
  }
  if (cmd === "history") {
    if (r.limit !== undefined && (typeof r.limit !== "number" || !Number.isInteger(r.limit) || r.limit < 1))
      return fail("bad_request", `"limit" must be a positive integer`);
    return { v: 1, cmd, ...(r.limit !== undefined ? { limit: r.limit as number } : {}) };
  }
  return { v: 1, cmd } as Request;
}

export const isResponse = (x: Request | Response): x is Response => "ok" in x;
