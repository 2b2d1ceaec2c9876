import { expect, test } from "bun:test";
import { History } from "../../src/control/history.ts";
import { plainLine, printable, terminalLine } from "../../src/log/log.ts";

const date = new Date("2026-01-02T03:04:05.678Z");

test("a plain record is one line: time, level, subsystem, message", () => {
  expect(plainLine({ type: "info", tag: "heartbeat", args: ["peer node2 up"], date }, true)).toBe(
    "2026-01-02T03:04:05.678Z INFO [heartbeat] peer node2 up",
  );
  expect(plainLine({ type: "warn", tag: "config", args: ["x", 3], date }, false)).toBe("WARN [config] x 3");
});

test("multi-line messages and errors stay on one line with no blank lines and no colour codes", () => {
  const line = plainLine({ type: "error", tag: "daemon", args: ["first\n\nsecond\n", new Error("boom")], date }, false);
  expect(line.includes("\n")).toBe(false);
  expect(line).toStartWith("ERROR [daemon] first | second");
  expect(line).toContain("Error: boom");
  expect(line.includes("\u001b[")).toBe(false); // no colour codes
});

test("text from outside cannot reach a terminal or a log as control characters", () => {
  expect(printable("ok \x1b[31mred\x07 and \x9b, tab\there")).toBe("ok \\x1b[31mred\\x07 and \\x9b, tab\there");
  const line = plainLine(
    { type: "info", tag: "script:web", args: ["started \x1b]0;owned\x07"], date: new Date(0) },
    false,
  );
  expect(line).toBe("INFO [script:web] started \\x1b]0;owned\\x07");
  const h = new History(undefined, 10);
  expect(h.add("fault", "node \x1bX", "cause \x00").text).toBe("node \\x1bX");
});

test("on a terminal a line starts with the time of day, the level in colour, the same words as the file", () => {
  const date = new Date(2026, 11, 1, 9, 5, 7, 42);
  const line = terminalLine({ type: "warn", tag: "heartbeat", args: ["peer node2: up -> late"], date });
  expect(line).toBe("\u001b[90m09:05:07.042\u001b[0m \u001b[33mWARN\u001b[0m [heartbeat] peer node2: up -> late");
});
