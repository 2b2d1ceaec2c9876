/** Just enough roff for man pages: text escaped so troff reads it as text, and the few macros they use. */

/** Escape text: backslashes, leading dots and quotes (requests), and hyphens in option names. */
export function roff(text: string): string {
  return text
    .replace(/\\/g, "\\e")
    .replace(/`([^`]+)`/g, "\\fB$1\\fR") // code spans in the docs: bold
    .replace(/\*\*([^*]+)\*\*/g, "\\fB$1\\fR")
    .replace(/(^|\s)-/g, "$1\\-")
    .replace(/^([.'])/gm, "\\&$1");
}

/** A page's header: name, section, date, source, manual. */
export const th = (name: string, section: number, date: string, version: string, manual: string) =>
  `.TH ${name.toUpperCase()} ${section} "${date}" "hb ${version}" "${manual}"`;
