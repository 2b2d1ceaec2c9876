export {};

/**
 * Print `N passed, N failed, N skipped` from bun's junit report (the line CI
 * reads). Exit 1 when the report is missing or counts no test at all.
 */
const file = process.argv[2] ?? "build/junit.xml";
const xml = await Bun.file(file)
  .text()
  .catch(() => "");
const cases = xml.match(/<testcase\b[^>]*?(\/>|>[\s\S]*?<\/testcase>)/g) ?? [];
let failed = 0;
let skipped = 0;
for (const c of cases) {
  if (/<(failure|error)\b/.test(c)) failed++;
  else if (/<skipped\b/.test(c)) skipped++;
}
const passed = cases.length - failed - skipped;
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(cases.length === 0 ? 1 : 0);
