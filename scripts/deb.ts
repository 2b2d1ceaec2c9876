/**
 * make deb: dist/hb_<version>_amd64.deb from dist/hb, with dpkg-deb (nothing downloaded). The binary at
 * /usr/sbin/hb, the systemd unit (not enabled, not started), man pages, bash and zsh completion, a
 * logrotate snippet, /etc/hb/ha.toml.example; postinst makes the system group hb (read-only access to
 * the control socket) and starts nothing. Maintainer scripts honour DPKG_ROOT, so a test can install
 * the package into a throwaway root.
 */
import { chmodSync, copyFileSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { gzipSync } from "node:zlib";
import pkg from "../package.json" with { type: "json" };
import { bashScript, zshScript } from "../src/cli/completion.ts";
import { buildCli } from "../src/cli/main.ts";
import { hbManPage } from "../src/cli/manpage.ts";
import { tomlManPage } from "../src/config/manpage.ts";

const ROOT = join(import.meta.dir, "..");
const VERSION = `${pkg.version}-1`;
const tree = join(ROOT, "build/deb");
const date = process.env.SOURCE_DATE ?? "2026-12-01";
const out = join(ROOT, `dist/hb_${VERSION}_amd64.deb`);

function put(path: string, data: string | Uint8Array, mode = 0o644): void {
  const file = join(tree, path);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, data);
  chmodSync(file, mode);
}
/** gzip -9n: no name, no time stamp, so the same input makes the same package */
const gz = (text: string) => {
  const b = gzipSync(Buffer.from(text), { level: 9 });
  b[4] = b[5] = b[6] = b[7] = 0; // MTIME
  return b;
};

const UNIT = `[Unit]
Description=hb high-availability daemon
Documentation=man:hb(8) man:ha.toml(5)
Wants=network-online.target
After=network-online.target
ConditionPathExists=/etc/hb/ha.toml

[Service]
Type=notify
NotifyAccess=main
ExecStart=/usr/sbin/hb --config /etc/hb/ha.toml
ExecReload=/usr/sbin/hb reload --config /etc/hb/ha.toml
WatchdogSec=10s
Restart=on-failure
RestartSec=2s
# hb times every stop script itself; a handover may run many of them
TimeoutStopSec=15min
KillMode=mixed
RuntimeDirectory=hb
RuntimeDirectoryMode=0700
StateDirectory=hb
StateDirectoryMode=0700
AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN

[Install]
WantedBy=multi-user.target
`;

const CONTROL = `Package: hb
Version: ${VERSION}
Architecture: amd64
Maintainer: hb developers <hb@example.org>
Depends: libc6 (>= 2.17)
Section: admin
Priority: optional
Homepage: https://example.org/hb
Description: high-availability daemon replacing Linux-HA Heartbeat v1
 Nodes exchange authenticated heartbeats; when the node that holds a group of
 resources dies, a survivor takes over its floating IP addresses, announces
 them with gratuitous ARP (IPv6: unsolicited neighbour advertisements) and
 starts its services, in order. One executable and one config file
 (/etc/hb/ha.toml); hb import converts a Heartbeat v1 configuration.
`;

// postinst: the group for read-only access; nothing is enabled or started (the config is the admin's)
const POSTINST = `#!/bin/sh
set -e
if [ "$1" = configure ]; then
  # exit 9: the group exists already (an upgrade, or the admin made it)
  groupadd --system --prefix "\${DPKG_ROOT:-/}" hb || [ $? -eq 9 ]
fi
exit 0
`;
const POSTRM = `#!/bin/sh
set -e
# purge: the state hb kept (its history, what it last heard); the group stays, as Debian keeps system groups
if [ "$1" = purge ]; then
  rm -rf "\${DPKG_ROOT:-}/var/lib/hb"
fi
exit 0
`;

const LOGROTATE = `# hb's log file, when [log] file = "/var/log/hb.log" (hb appends with O_APPEND: copytruncate is safe)
/var/log/hb.log {
    weekly
    rotate 8
    compress
    delaycompress
    missingok
    notifempty
    copytruncate
}
`;

rmSync(tree, { recursive: true, force: true });
const cli = buildCli();
mkdirSync(join(tree, "usr/sbin"), { recursive: true });
copyFileSync(join(ROOT, "dist/hb"), join(tree, "usr/sbin/hb"));
chmodSync(join(tree, "usr/sbin/hb"), 0o755);
put("lib/systemd/system/hb.service", UNIT);
put("usr/share/man/man8/hb.8.gz", gz(hbManPage(cli, pkg.version, date)));
put("usr/share/man/man5/ha.toml.5.gz", gz(tomlManPage(pkg.version, date)));
put("usr/share/bash-completion/completions/hb", bashScript(cli));
put("usr/share/zsh/vendor-completions/_hb", zshScript(cli));
put("etc/logrotate.d/hb", LOGROTATE);
put("etc/hb/ha.toml.example", await Bun.file(join(ROOT, "examples/ha.toml")).text());
put(
  "usr/share/doc/hb/copyright",
  "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: hb\n\nFiles: *\nCopyright: 2026 hb developers\nLicense: MIT\n Permission is hereby granted, free of charge, to any person obtaining a copy of this software.\n",
);
put(
  "usr/share/doc/hb/changelog.Debian.gz",
  gz(
    `hb (${VERSION}) unstable; urgency=medium\n\n  * Package built by make deb.\n\n -- hb developers <hb@example.org>  Tue, 01 Dec 2026 00:00:00 +0000\n`,
  ),
);
// the executable is Bun's runtime with hb inside: stripping it would cut hb off
put(
  "usr/share/lintian/overrides/hb",
  [
    "hb: unstripped-binary-or-object [usr/sbin/hb]",
    "hb: hardening-no-pie [usr/sbin/hb]",
    "hb: hardening-no-relro [usr/sbin/hb]",
    "# Bun's runtime carries its own image decoder; hb is that runtime with hb inside, it cannot link the system's",
    "hb: embedded-library libjpeg [usr/sbin/hb]",
    "# not an upload to Debian: no bug to close",
    "hb: initial-upload-closes-no-bugs *",
    "",
  ].join("\n"),
);
put("DEBIAN/control", CONTROL);
put("DEBIAN/conffiles", "/etc/hb/ha.toml.example\n/etc/logrotate.d/hb\n");
put("DEBIAN/postinst", POSTINST, 0o755);
put("DEBIAN/postrm", POSTRM, 0o755);
const p = Bun.spawnSync(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", tree, out], {
  stdout: "inherit",
  stderr: "inherit",
});
if (p.exitCode !== 0) process.exit(1);
console.log(`deb: ${out}`);
