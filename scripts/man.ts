/** make man: build/man/hb.8 and build/man/ha.toml.5, from the CLI and the config schema. */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pkg from "../package.json" with { type: "json" };
import { buildCli } from "../src/cli/main.ts";
import { hbManPage } from "../src/cli/manpage.ts";
import { tomlManPage } from "../src/config/manpage.ts";

const dir = join(import.meta.dir, "../build/man");
mkdirSync(dir, { recursive: true });
// the date of the source, not of the build: the same source makes the same pages
const date = process.env.SOURCE_DATE ?? new Date().toISOString().slice(0, 10);
writeFileSync(join(dir, "hb.8"), hbManPage(buildCli(), pkg.version, date));
writeFileSync(join(dir, "ha.toml.5"), tomlManPage(pkg.version, date));
console.log(`man: ${dir}/hb.8, ${dir}/ha.toml.5`);
