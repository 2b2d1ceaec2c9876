/**
 * Where is each key of a TOML document? smol-toml gives line and column for
 * syntax errors only, so this scanner walks the (already valid) text once and
 * records, for every key path, the position of the key and of its value.
 * Paths look like `group[0].resources[1].ip`, the same form the validator uses.
 *
 * It relies on smol-toml having accepted the text: it does not re-validate.
 */
export interface Pos {
  line: number; // 1-based
  col: number; // 1-based
}
export interface Located {
  key: Pos;
  value: Pos;
}

export function pathString(segments: readonly (string | number)[]): string {
  let out = "";
  for (const s of segments) {
    if (typeof s === "number") out += `[${s}]`;
    else out += (out === "" ? "" : ".") + (/^[A-Za-z0-9_-]+$/.test(s) ? s : JSON.stringify(s));
  }
  return out;
}

type Path = (string | number)[];

/** One pass over the text; each method reads one TOML construct and records where its keys are. */
class Scanner {
  readonly found = new Map<string, Located>();
  private readonly arrayCounts = new Map<string, number>(); // resolved path of [[x]] -> last index
  private i = 0;
  private line = 1;
  private lineStart = 0;
  constructor(private readonly text: string) {}

  private pos(at: number): Pos {
    return { line: this.line, col: at - this.lineStart + 1 };
  }
  private advance(to: number): void {
    for (; this.i < to; this.i++)
      if (this.text[this.i] === "\n") {
        this.line++;
        this.lineStart = this.i + 1;
      }
  }
  private skipSpace(newlines: boolean): void {
    const t = this.text;
    for (;;) {
      const c = t[this.i];
      if (c === " " || c === "\t" || c === "\r" || (c === "\n" && newlines)) this.advance(this.i + 1);
      else if (c === "#") while (this.i < t.length && t[this.i] !== "\n") this.i++;
      else return;
    }
  }
  private readString(): string {
    const t = this.text;
    const q = t[this.i]!;
    const triple = t.startsWith(q.repeat(3), this.i);
    const close = triple ? q.repeat(3) : q;
    let j = this.i + close.length;
    let raw = "";
    while (j < t.length && !t.startsWith(close, j)) {
      const n = q === '"' && t[j] === "\\" ? 2 : 1;
      raw += t.slice(j, j + n);
      j += n;
    }
    // A closing triple quote may be followed by up to two more quotes that belong to the content.
    let end = j + close.length;
    if (triple) while (t[end] === q) end++;
    this.advance(end);
    if (q !== '"' || triple) return raw;
    try {
      return JSON.parse(`"${raw}"`);
    } catch {
      return raw;
    }
  }
  private readKey(): { segs: string[]; at: number } {
    const segs: string[] = [];
    const at = this.i;
    for (;;) {
      this.skipSpace(false);
      const c = this.text[this.i];
      if (c === '"' || c === "'") segs.push(this.readString());
      else {
        const m = /[A-Za-z0-9_-]+/y;
        m.lastIndex = this.i;
        const r = m.exec(this.text);
        if (!r) break;
        segs.push(r[0]);
        this.advance(m.lastIndex);
      }
      this.skipSpace(false);
      if (this.text[this.i] !== ".") break;
      this.advance(this.i + 1);
    }
    return { segs, at };
  }
  /** Resolve a header path: a segment naming an array of tables means its last element. */
  private resolve(segs: string[]): Path {
    const out: Path = [];
    for (const s of segs) {
      out.push(s);
      const n = this.arrayCounts.get(pathString(out));
      if (n !== undefined) out.push(n);
    }
    return out;
  }
  private record(path: Path, key: Pos, value: Pos): void {
    this.found.set(pathString(path), { key, value });
  }
  /** Items of an inline table or an array, up to `close`; `item` reads one. */
  private items(close: string, item: () => void): void {
    this.advance(this.i + 1);
    for (;;) {
      this.skipSpace(true);
      if (this.text[this.i] === close) {
        this.advance(this.i + 1);
        return;
      }
      if (this.text[this.i] === ",") this.advance(this.i + 1);
      else if (this.i >= this.text.length) return;
      else item();
    }
  }
  private readValue(path: Path): void {
    const c = this.text[this.i];
    if (c === '"' || c === "'") this.readString();
    else if (c === "{") this.items("}", () => this.keyValue(path));
    else if (c === "[") {
      let n = 0;
      this.items("]", () => {
        const here = this.pos(this.i);
        const elem = [...path, n++];
        this.record(elem, here, here);
        this.readValue(elem);
      });
    } else while (this.i < this.text.length && !/[,\]}\n#]/.test(this.text[this.i]!)) this.i++; // number, bool, date
  }
  private keyValue(base: Path): void {
    const k = this.readKey();
    // the key's position from k.at (readKey may have skipped spaces first)
    let at = k.at;
    while (this.text[at] === " " || this.text[at] === "\t") at++;
    const keyPos = { line: this.line, col: at - this.lineStart + 1 };
    this.skipSpace(false);
    if (this.text[this.i] === "=") this.advance(this.i + 1);
    this.skipSpace(false);
    const path = [...base, ...k.segs];
    this.record(path, keyPos, this.pos(this.i));
    this.readValue(path);
  }
  /** [[x.y]]: the next element of an array of tables. */
  private arrayHeader(): Path {
    const at = this.pos(this.i);
    this.advance(this.i + 2);
    const { segs } = this.readKey();
    this.advance(this.text.indexOf("]]", this.i) + 2);
    const arr = [...this.resolve(segs.slice(0, -1)), segs[segs.length - 1]!];
    const name = pathString(arr);
    const n = (this.arrayCounts.get(name) ?? -1) + 1;
    this.arrayCounts.set(name, n);
    for (const key of [...this.arrayCounts.keys()]) if (key.startsWith(`${name}[`)) this.arrayCounts.delete(key);
    this.record([...arr, n], at, at);
    if (n === 0) this.record(arr, at, at);
    return [...arr, n];
  }
  private tableHeader(): Path {
    const at = this.pos(this.i);
    this.advance(this.i + 1);
    const { segs } = this.readKey();
    this.advance(this.text.indexOf("]", this.i) + 1);
    const current = this.resolve(segs);
    this.record(current, at, at);
    return current;
  }
  scan(): void {
    let current: Path = [];
    while (this.i < this.text.length) {
      this.skipSpace(true);
      if (this.i >= this.text.length) break;
      if (this.text.startsWith("[[", this.i)) current = this.arrayHeader();
      else if (this.text[this.i] === "[") current = this.tableHeader();
      else this.keyValue(current);
    }
  }
}

export function locate(text: string): Map<string, Located> {
  const s = new Scanner(text);
  s.scan();
  return s.found;
}
