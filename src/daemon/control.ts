/** The control socket's requests, answered from the running daemon: queries read, commands become events. */
import type { Config } from "../config/schema.ts";
import type { History } from "../control/history.ts";
import { fail, type Request, type Response, success } from "../control/protocol.ts";
import type { Status } from "../control/status.ts";
import type { logger } from "../log/log.ts";
import { monotonicMs } from "../native/shim.ts";
import type { Driver } from "./driver.ts";

export interface ControlContext {
  readonly config: Config;
  readonly driver?: Driver;
  readonly history: History;
  readonly testHooks: boolean;
  readonly log: ReturnType<typeof logger>;
  status(): Status;
  reload(why: string): Response;
  record(kind: "command", text: string, cause: string): void;
  /** operator commands taken, for status */
  commands: number;
}

/** test only (HB_TEST_HOOKS=1): block the JS thread, to prove the heartbeat does not depend on it */
function block(d: ControlContext, ms: number): Response {
  if (!d.testHooks) return fail("unknown_command", `unknown command "test-block"`);
  d.log.warn(`test hook: blocking the JS thread for ${ms} ms`);
  const until = monotonicMs() + ms;
  while (monotonicMs() < until) {
    /* busy */
  }
  d.log.warn("test hook: JS thread free again");
  return success({});
}

type GroupCommand = Extract<Request, { cmd: "standby" | "takeover" | "clear" }>;

async function command(d: ControlContext, driver: Driver, req: GroupCommand): Promise<Response> {
  const gi = d.config.groups.findIndex((g) => g.name === req.group);
  if (req.group !== "all" && gi < 0)
    return fail(
      "refused",
      `no group "${req.group}" (groups: ${d.config.groups.map((g) => g.name).join(", ") || "none"})`,
    );
  d.commands++;
  const force = "force" in req ? req.force : undefined;
  const r = await driver.command({ cmd: req.cmd, group: req.group === "all" ? "all" : gi, force });
  const message = r.message.replace(/^refused: /, "");
  const line = `hb ${req.cmd} ${req.group}${force ? " --force" : ""}: ${r.ok ? "" : "refused: "}${message}`;
  (r.ok ? d.log.info : d.log.warn)(line);
  d.record("command", line, "control socket");
  return r.ok ? success({ message: r.message }) : fail("refused", message);
}

export function controlHandler(d: ControlContext): (req: Request) => Promise<Response> {
  return async (req) => {
    const driver = d.driver;
    if (!driver) return fail("refused", "the daemon is still starting");
    switch (req.cmd) {
      case "status":
        return success(d.status());
      case "history":
        return success(d.history.recent(req.limit ?? d.config.control.history));
      case "reload":
        return d.reload("hb reload");
      case "test-block":
        return block(d, req.ms);
      case "standby":
      case "takeover":
      case "clear":
        return command(d, driver, req);
    }
  };
}
