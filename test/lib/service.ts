/** A real service for monitoring tests and the bench: an LSB script resource that runs a small TCP/HTTP server. */
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const PORT = 7000;

/**
 * tcpd: an HTTP service on PORT answering with the name of its namespace; its pid in DIR/tcpd-NS.pid.
 * status: running while that pid lives and is not a zombie (LSB: 0, else 3). hangcheck: sleeps on node1 (its pid kept, to prove it
 * was killed). flapcheck: fails every other call.
 */
export function writeServiceScripts(dir: string): string {
  const d = join(dir, "resource.d");
  mkdirSync(d, { recursive: true });
  const ns = `ns=$(ip netns identify $$); pidf="${dir}/tcpd-$ns.pid"`;
  const scripts: Record<string, string> = {
    tcpd: `#!/bin/sh
${ns}
case "$1" in
  start) NS="$ns" setsid socat TCP-LISTEN:${PORT},fork,reuseaddr SYSTEM:${d}/answer </dev/null >/dev/null 2>&1 &
         echo $! > "$pidf"; sleep 0.1; exit 0 ;;
  stop) [ -f "$pidf" ] && kill "$(cat "$pidf")" 2>/dev/null; rm -f "$pidf"; exit 0 ;;
  # a killed server may stay a zombie until init reaps it: that is not running
  status) st=$(sed -n 's/^State:[[:space:]]*\\(.\\).*/\\1/p' "/proc/$(cat "$pidf" 2>/dev/null)/status" 2>/dev/null)
          [ -n "$st" ] && [ "$st" != Z ] && exit 0
          echo "tcpd is not running"; exit 3 ;;
esac
`,
    answer: `#!/bin/sh\nprintf 'HTTP/1.0 200 OK\\r\\n\\r\\n%s\\n' "$NS"\n`,
    healthcheck: `#!/bin/sh\n[ -e "${dir}/sick-$(ip netns identify $$)" ] && { echo "disk on fire"; exit 1; }\nexit 0\n`,
    // hangs on node1 only, so that the group has somewhere to go
    hangcheck: `#!/bin/sh\ncase "$(ip netns identify $$)" in *-n1) ;; *) exit 0 ;; esac\necho $$ >> "${dir}/hang.pids"\nexec sleep 60\n`,
    flapcheck: `#!/bin/sh\nf="${dir}/flap.count"; n=$(cat "$f" 2>/dev/null || echo 0); echo $((n+1)) > "$f"\n[ $((n % 2)) -eq 0 ] && exit 0\necho "flap: failing this time"; exit 1\n`,
  };
  for (const [name, text] of Object.entries(scripts)) {
    writeFileSync(join(d, name), text);
    chmodSync(join(d, name), 0o755);
  }
  return d;
}
