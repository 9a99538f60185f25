/**
 * The boards' boot counter, kept in Moddable preferences. Each board kind has its own domain
 * and each lane its own key: two builds on one host (the lin builds of a bench share one
 * preferences store) or two lanes must never count each other's boots. Names stay within the
 * ESP32 NVS limit of 15 characters for a namespace and for a key.
 */

export interface PreferenceStore {
  get(domain: string, key: string): unknown;
  set(domain: string, key: string, value: number): void;
}

export type BoardKind = "exit-controller" | "barrier-executor";

const DOMAIN: Record<BoardKind, string> = { "exit-controller": "syspark-exit", "barrier-executor": "syspark-barrier" };

/** FNV-1a, 32 bit, as 8 hex digits: a long lane id still gets a short, stable key. */
function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return ("0000000" + h.toString(16)).slice(-8);
}

export function bootPreference(kind: BoardKind, lane: string): { domain: string; key: string } {
  const key = "boot-" + lane;
  return { domain: DOMAIN[kind], key: key.length <= 15 ? key : "boot-" + fnv1a(lane) };
}

/** Read, increment and store the counter; the first boot is 1. */
export function nextBootCount(store: PreferenceStore, kind: BoardKind, lane: string): number {
  const { domain, key } = bootPreference(kind, lane);
  const previous = store.get(domain, key);
  const boot = (typeof previous === "number" && previous >= 0 ? Math.floor(previous) : 0) + 1;
  store.set(domain, key, boot);
  return boot;
}
