// Rewrite the config reference block of README.md from the schema.
import { BEGIN, END, renderReference } from "../src/config/reference.ts";

const path = `${import.meta.dir}/../README.md`;
const text = await Bun.file(path).text();
const a = text.indexOf(BEGIN);
const b = text.indexOf(END);
if (a < 0 || b < 0) throw new Error("README.md has no config reference markers");
await Bun.write(path, text.slice(0, a) + renderReference() + text.slice(b + END.length));
console.log("README.md: config reference updated");
