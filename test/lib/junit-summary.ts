export {};

/**
 * Print `N passed, N failed, N skipped` from bun's junit reports, all of them
 * together (the line CI reads). Exit 1 when a report is missing or counts no
 * test at all: a run that never started must not pass for one that did.
 */
const files = process.argv.length > 2 ? process.argv.slice(2) : ["build/junit.xml"];
const cases: string[] = [];
let missing = 0;
for (const file of files) {
  const xml = await Bun.file(file)
    .text()
    .catch(() => "");
  const found = xml.match(/<testcase\b[^>]*?(\/>|>[\s\S]*?<\/testcase>)/g) ?? [];
  if (found.length === 0) {
    console.error(`junit-summary: ${file}: no report, or no test in it`);
    missing++;
  }
  cases.push(...found);
}
let failed = 0;
let skipped = 0;
for (const c of cases) {
  if (/<(failure|error)\b/.test(c)) failed++;
  else if (/<skipped\b/.test(c)) skipped++;
}
const passed = cases.length - failed - skipped;
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(missing > 0 ? 1 : 0);
