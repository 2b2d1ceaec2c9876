/** Monitor settings for tests that build configs by hand: the schema's defaults, or none at all. */
import type { GroupConfig, MonitorConfig, ResourceConfig } from "../../src/config/schema.ts";

export const MONITOR_DEFAULTS: MonitorConfig = {
  enabled: true,
  style: "lsb",
  interval: 10_000,
  timeout: 20_000,
  fall: 2,
  rise: 2,
  command: [],
  http_status: 200,
};
export const MONITOR_OFF: MonitorConfig = { ...MONITOR_DEFAULTS, enabled: false };

type Bare = ResourceConfig extends infer R ? (R extends ResourceConfig ? Omit<R, "monitor"> : never) : never;

/** A resource as a test writes it, with monitor settings (off unless given). */
export const res = (r: Bare, monitor: MonitorConfig = MONITOR_OFF): ResourceConfig =>
  ({ ...r, monitor }) as ResourceConfig;

/** A group as a test writes it, with the schema's failure handling defaults. */
export const group = (name: string, preferred: string, resources: ResourceConfig[]): GroupConfig => ({
  name,
  preferred,
  resources,
  on_fail: "restart",
  max_restarts: 3,
  restart_window: 900_000,
});
