import { expect, test } from "bun:test";
import { formatDuration, parseDuration } from "../../src/config/duration.ts";
import { locate } from "../../src/config/locate.ts";

test("locate finds keys in tables, arrays of tables, inline tables, arrays and dotted keys", () => {
  const text = [
    `top = 1 # comment with "quote`, // 1
    `[a]`, // 2
    `  "quoted key" = 'x'`, // 3
    `b.c = """multi`, // 4
    `line"""`, // 5
    `[[g]]`, // 6
    `name = "one"`, // 7
    `[[g]]`, // 8
    `res = [ { ip = "1" },`, // 9
    `        { script = "s", args = ["p", "q"] } ]`, // 10
    `[g.sub]`, // 11
    `k = true`, // 12
  ].join("\n");
  const at = locate(text);
  const where = (p: string) => {
    const l = at.get(p);
    return l && `${l.key.line}:${l.key.col}/${l.value.line}:${l.value.col}`;
  };
  expect(where("top")).toBe("1:1/1:7");
  expect(where("a")).toBe("2:1/2:1");
  expect(where(`a."quoted key"`)).toBe("3:3/3:18");
  expect(where("a.b.c")).toBe("4:1/4:7");
  expect(where("g[0].name")).toBe("7:1/7:8");
  expect(where("g[1]")).toBe("8:1/8:1");
  expect(where("g[1].res[0].ip")).toBe("9:11/9:16");
  expect(where("g[1].res[1]")).toBe("10:9/10:9");
  expect(where("g[1].res[1].args[1]")).toBe("10:38/10:38");
  expect(where("g[1].sub.k")).toBe("12:1/12:5");
});

test("durations", () => {
  expect(parseDuration("150ms")).toBe(150);
  expect(parseDuration("2s")).toBe(2000);
  expect(parseDuration("1.5s")).toBe(1500);
  expect(parseDuration("1m30s")).toBe(90_000);
  expect(parseDuration("1h")).toBe(3_600_000);
  for (const bad of ["", "5", "s", "1.5", "2 s", "-1s", "1d", "0.5ms", "1s2"])
    expect(typeof parseDuration(bad)).toBe("object");
  expect(formatDuration(150)).toBe("150ms");
  expect(formatDuration(1500)).toBe("1.5s");
  expect(formatDuration(120_000)).toBe("2m");
});
