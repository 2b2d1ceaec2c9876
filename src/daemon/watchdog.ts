/**
 * Watchdogs that must hear from the event loop: a hardware (or softdog) device
 * and systemd's WatchdogSec. Each ping goes out only while the driver keeps up
 * with its events: a blocked event loop or a state machine stuck in a step
 * sends nothing, and the node is rebooted (device) or hb restarted (systemd).
 */
import { closeSync, openSync, writeSync } from "node:fs";
import { logger } from "../log/log.ts";
import { StartupError } from "./errors.ts";

/** A watchdog device: opening arms it; every write is a keep-alive; "V" then close disarms it. */
function openDevice(device: string): { kick(): void; disarm(): void } {
  let fd: number;
  try {
    fd = openSync(device, "w");
  } catch (e) {
    throw new StartupError(
      `cannot open the watchdog ${device}: ${(e as Error).message} (load softdog, or remove watchdog.device)`,
      { cause: e },
    );
  }
  const log = logger("watchdog");
  let told = false;
  return {
    kick() {
      try {
        writeSync(fd, "\0");
        told = false;
      } catch (e) {
        if (!told) log.error(`cannot write to ${device}: ${(e as Error).message}`);
        told = true;
      }
    },
    disarm() {
      try {
        writeSync(fd, "V");
        closeSync(fd);
      } catch (e) {
        log.error(`cannot disarm ${device}: ${(e as Error).message}`);
      }
    },
  };
}

export interface WatchdogOptions {
  device?: string;
  interval: number;
  /** systemd's interval (half of WATCHDOG_USEC), if any */
  systemdMs?: number;
  systemdPing: () => void;
  /** true while the driver has events waiting: no ping then */
  stuck: () => boolean;
}

/** Arm both; the result stops them (a clean stop disarms the device, so the node is not rebooted). */
export function startWatchdogs(o: WatchdogOptions): { stop(): void } {
  const hw = o.device ? openDevice(o.device) : undefined;
  const timers: Timer[] = [];
  if (hw) {
    timers.push(setInterval(() => o.stuck() || hw.kick(), o.interval));
    logger("daemon").info(`watchdog ${o.device}: kept alive every ${o.interval} ms from the event loop`);
  }
  if (o.systemdMs) timers.push(setInterval(() => o.stuck() || o.systemdPing(), o.systemdMs));
  return {
    stop() {
      for (const t of timers) clearInterval(t);
      hw?.disarm();
    },
  };
}
