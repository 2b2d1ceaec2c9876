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

export function locate(text: string): Map<string, Located> {
  const found = new Map<string, Located>();
  const arrayCounts = new Map<string, number>(); // resolved path of [[x]] -> last index
  let i = 0;
  let line = 1;
  let lineStart = 0;
  const pos = (at: number): Pos => ({ line, col: at - lineStart + 1 });

  const advance = (to: number) => {
    for (; i < to; i++) if (text[i] === "\n") { line++; lineStart = i + 1; }
  };
  const skipSpace = (newlines: boolean) => {
    for (;;) {
      const c = text[i];
      if (c === " " || c === "\t" || c === "\r") advance(i + 1);
      else if (c === "\n" && newlines) advance(i + 1);
      else if (c === "#") { while (i < text.length && text[i] !== "\n") i++; }
      else return;
    }
  };
  const readString = (): string => {
    const q = text[i]!;
    const triple = text.startsWith(q.repeat(3), i);
    const close = triple ? q.repeat(3) : q;
    const start = i + close.length;
    let j = start;
    let raw = "";
    while (j < text.length && !text.startsWith(close, j)) {
      if (q === '"' && text[j] === "\\") { raw += text.slice(j, j + 2); j += 2; continue; }
      raw += text[j];
      j++;
    }
    // A closing triple quote may be followed by up to two more quotes that belong to the content.
    let end = j + close.length;
    if (triple) while (text[end] === q) end++;
    advance(end);
    if (q === '"' && !triple) { try { return JSON.parse(`"${raw}"`); } catch { return raw; } }
    return raw;
  };
  const readKey = (): { segs: string[]; at: number } => {
    const segs: string[] = [];
    const at = i;
    for (;;) {
      skipSpace(false);
      const c = text[i];
      if (c === '"' || c === "'") segs.push(readString());
      else {
        const m = /[A-Za-z0-9_-]+/y;
        m.lastIndex = i;
        const r = m.exec(text);
        if (!r) break;
        segs.push(r[0]);
        advance(m.lastIndex);
      }
      skipSpace(false);
      if (text[i] === ".") { advance(i + 1); continue; }
      break;
    }
    return { segs, at };
  };
  // Resolve a header path: a segment naming an array of tables means its last element.
  const resolve = (segs: string[]): (string | number)[] => {
    const out: (string | number)[] = [];
    for (const s of segs) {
      out.push(s);
      const n = arrayCounts.get(pathString(out));
      if (n !== undefined) out.push(n);
    }
    return out;
  };
  const record = (path: (string | number)[], key: Pos, value: Pos) => {
    found.set(pathString(path), { key, value });
  };
  const readValue = (path: (string | number)[]) => {
    const c = text[i];
    if (c === '"' || c === "'") { readString(); return; }
    if (c === "{") {
      advance(i + 1);
      for (;;) {
        skipSpace(true);
        if (text[i] === "}") { advance(i + 1); return; }
        if (text[i] === ",") { advance(i + 1); continue; }
        if (i >= text.length) return;
        keyValue(path);
      }
    }
    if (c === "[") {
      advance(i + 1);
      let n = 0;
      for (;;) {
        skipSpace(true);
        if (text[i] === "]") { advance(i + 1); return; }
        if (text[i] === ",") { advance(i + 1); continue; }
        if (i >= text.length) return;
        const here = pos(i);
        const elem = [...path, n++];
        record(elem, here, here);
        readValue(elem);
      }
    }
    // number, bool, date: up to a delimiter
    while (i < text.length && !/[,\]}\n#]/.test(text[i]!)) i++;
  };
  const keyValue = (base: (string | number)[]) => {
    const k = readKey();
    const keyPos = { line, col: 0 };
    // recompute key position from k.at (readKey may have skipped spaces first)
    let at = k.at;
    while (text[at] === " " || text[at] === "\t") at++;
    keyPos.col = at - lineStart + 1;
    skipSpace(false);
    if (text[i] === "=") advance(i + 1);
    skipSpace(false);
    const path = [...base, ...k.segs];
    record(path, keyPos, pos(i));
    readValue(path);
  };

  let current: (string | number)[] = [];
  while (i < text.length) {
    skipSpace(true);
    if (i >= text.length) break;
    if (text.startsWith("[[", i)) {
      const at = pos(i);
      advance(i + 2);
      const { segs } = readKey();
      advance(text.indexOf("]]", i) + 2);
      const parent = resolve(segs.slice(0, -1));
      const arr = [...parent, segs[segs.length - 1]!];
      const name = pathString(arr);
      const n = (arrayCounts.get(name) ?? -1) + 1;
      arrayCounts.set(name, n);
      for (const key of [...arrayCounts.keys()]) if (key.startsWith(`${name}[`)) arrayCounts.delete(key);
      current = [...arr, n];
      record(current, at, at);
      if (n === 0) record(arr, at, at);
    } else if (text[i] === "[") {
      const at = pos(i);
      advance(i + 1);
      const { segs } = readKey();
      advance(text.indexOf("]", i) + 1);
      current = resolve(segs);
      record(current, at, at);
    } else {
      keyValue(current);
    }
  }
  return found;
}
