/** hb completion: the bash script, run by bash, completes commands, options, values and group names. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { HB } from "../lib/cluster.ts";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "hb-comp-"));
  writeFileSync(
    join(dir, "ha.toml"),
    '[[group]]\nname = "web"\n[[group]]\nname = "db"\n', // only names are read: no keys, no checks
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What bash offers for these words (the last one being completed). */
function complete(...words: string[]): string[] {
  const script = `source <(hb completion bash)
COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=$((\${#COMP_WORDS[@]} - 1)); _hb; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const p = Bun.spawnSync(["bash", "-c", script], {
    env: { PATH: `${dirname(HB)}:/usr/bin:/bin`, HOME: dir },
    timeout: 20_000,
  });
  expect(p.stderr.toString()).toBe("");
  return p.stdout.toString().split("\n").filter(Boolean).sort();
}

test("commands, each command's options, option values, and group names from the config", () => {
  expect(complete("hb", "sta")).toEqual(["standby", "status"]);
  expect(complete("hb", "--log")).toEqual(["--log-level"]);
  expect(complete("hb", "status", "--w")).toEqual(["--watch"]);
  expect(complete("hb", "report", "--")).toContain("--prometheus");
  expect(complete("hb", "--log-level", "d")).toEqual(["debug"]);
  expect(complete("hb", "-c", join(dir, "ha.toml"), "standby", "")).toEqual(["all", "db", "web"]);
  expect(complete("hb", "clear", "--config", join(dir, "ha.toml"), "w")).toEqual(["web"]);
  // no readable config: only "all"
  expect(complete("hb", "takeover", "")).toEqual(["all"]);
});

test("zsh gets the same function through bashcompinit; an unknown shell is a usage error", () => {
  const z = Bun.spawnSync([HB, "completion", "zsh"]);
  expect(z.stdout.toString()).toStartWith("# zsh completion for hb");
  expect(z.stdout.toString()).toContain("autoload -U +X bashcompinit && bashcompinit\n");
  const bad = Bun.spawnSync([HB, "completion", "fish"]);
  expect(bad.exitCode).toBe(2);
  expect(bad.stderr.toString()).toContain("completion: bash or zsh, not fish");
});

/** zsh, interactively: a real zsh in tmux, "hb sta" and Tab typed; what it lists on the screen. */
test.skipIf(!existsSync("/usr/bin/zsh") || !existsSync("/usr/bin/tmux"))(
  "zsh completes through its own completion system (typed into a real zsh)",
  async () => {
    writeFileSync(join(dir, ".zshrc"), "PS1='%% '\nsource <(hb completion zsh)\n");
    const sock = `hbzsh${process.pid}`;
    const tmux = (...args: string[]) =>
      Bun.spawnSync(["tmux", "-L", sock, "-f", "/dev/null", ...args], { timeout: 10_000 });
    const shell = `env -i HOME=${dir} ZDOTDIR=${dir} PATH=${dirname(HB)}:/usr/bin:/bin TERM=xterm zsh -i`;
    tmux("new-session", "-d", "-x", "150", "-y", "40", "-s", "z", shell);
    try {
      const screen = async (typed: string, want: RegExp) => {
        tmux("send-keys", "-t", "z", "C-u");
        tmux("send-keys", "-t", "z", "-l", typed);
        tmux("send-keys", "-t", "z", "Tab");
        let text = "";
        for (let i = 0; i < 60 && !want.test(text); i++) {
          await Bun.sleep(100);
          text = tmux("capture-pane", "-p", "-t", "z").stdout.toString();
        }
        return text;
      };
      expect(await screen("hb sta", /standby\s+status/)).toMatch(/standby\s+status/);
      expect(await screen(`hb -c ${join(dir, "ha.toml")} standby `, /all\s+db\s+web/)).toMatch(/all\s+db\s+web/);
    } finally {
      tmux("kill-server");
    }
  },
  20_000,
);
