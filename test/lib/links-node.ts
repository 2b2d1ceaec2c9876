/**
 * One node's real Links (the C engine through src/heartbeat/native.ts), for the Links contract suite:
 * run inside a node's namespace as `bun links-node.ts CONFIG NODE`; prints every event as one JSON
 * line on stdout; SIGTERM stops the engine and exits. With LINKS_NODE_VIP=ADDR/PREFIX@IFACE the engine
 * keeps that (already added) IPv4 address, and LINKS_NODE_GUARD='{"votes":{...},"self":N,"need":N}' sets its
 * peer-dead guard (an AddressGuard).
 */
import { encodeRecord, HEARD_OFFSET } from "../../src/cluster/record.ts";
import { loadConfig, systemEnv } from "../../src/config/load.ts";
import { NativeLinks } from "../../src/heartbeat/native.ts";
import { heartbeatSetup } from "../../src/heartbeat/setup.ts";

const [file, node] = process.argv.slice(2);
const config = loadConfig(file!, systemEnv(node));
const links = new NativeLinks(heartbeatSetup(config, BigInt(Date.now()), HEARD_OFFSET));
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
// as the driver does: the very first beat carries a record (the engine sends none without one)
links.setRecord(encodeRecord({ state: "starting", score: 100, groups: [] }));
links.start((e) => {
  const out = "record" in e ? { ...e, record: hex(e.record) } : "data" in e ? { ...e, data: hex(e.data) } : e;
  process.stdout.write(`${JSON.stringify(out)}\n`);
});
const vip = process.env.LINKS_NODE_VIP?.match(/^([\d.]+)\/(\d+)@(\S+)$/);
if (vip) {
  const lease = { lifetimeS: 0, pairs: 0, secondMs: 0, refreshMs: 0 };
  links.vip(true, { family: 4, address: vip[1]!, prefix: Number(vip[2]), ifname: vip[3]! }, lease);
}
if (process.env.LINKS_NODE_GUARD) links.vipGuard(JSON.parse(process.env.LINKS_NODE_GUARD));
process.stdout.write(`${JSON.stringify({ type: "started" })}\n`);
setInterval(() => {}, 1 << 30); // the engine's callbacks do not keep Bun's event loop alive; this does
process.on("SIGTERM", () => {
  links.stop();
  process.exit(0);
});
