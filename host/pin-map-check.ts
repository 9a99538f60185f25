/**
 * Pin and UART map of a board manifest, per platform block (part of `syspark check-firmware`).
 * A map that XS cannot open aborts the board at boot (`RangeError: port in use`) before a
 * byte reaches the gateway, and a floating input reads as a car; so the map is checked before a
 * build, not on the lane. Every section of the merged config (top level + platform block) that
 * looks like a device is a claim on pins and ports:
 * - a UART: `{ port, receive, transmit }` (keys ending in `Serial`);
 * - an I2C bus: `{ data, clock, address }` (devices on one bus may share its pins and port);
 * - an SPI bus: `{ clock, out, in, select }`;
 * - `pins`: single inputs/outputs and arrays (keypad rows/columns).
 * Rules: no two devices on one UART port; no pin with two functions; UART ports within the
 * platform's count; the debug UART kept free (a `-d` build's xsbug link); an active-low input
 * declares a pull-up (internal where the pin has one, or `external`).
 */

export interface PlatformProfile {
  /** Hardware UARTs, numbered 0..uarts-1. */
  uarts: number;
  /** The UART a debug (`-d`) build's xsbug connection uses, and its pins. */
  debugUart?: { port: number; pins: number[] };
  /** Pins that have no internal pull-up (an active-low input there needs `external`). */
  noInternalPull?: number[];
}

/** Hardware platforms whose pins are real. `lin` (the Linux simulator) names its ports instead:
 *  only the one-device-per-port rule applies to it. */
export const PLATFORMS: Record<string, PlatformProfile> = {
  // RP2040 datasheet §4.2: UART0 and UART1. The Pico's xsbug link is USB, not a UART.
  pico: { uarts: 2 },
  // ESP32: UART0..2; UART0 on GPIO1 (TX) / GPIO3 (RX) carries the xsbug link of a debug build.
  // GPIO34..39 are input-only and have no internal pull-up or pull-down.
  esp32: { uarts: 3, debugUart: { port: 0, pins: [1, 3] }, noInternalPull: [34, 35, 36, 37, 38, 39] },
};

type Json = Record<string, unknown>;

interface Claim { owner: string; pin: number | string; shareKey?: string }

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** `manifest` is the parsed JSON, `where` the name used in messages (the manifest's path). */
export function checkPinMap(manifest: Json, where: string): string[] {
  const problems: string[] = [];
  const platforms = isObject(manifest.platforms) ? manifest.platforms : {};
  const base = isObject(manifest.config) ? manifest.config : {};
  for (const [platform, block] of Object.entries(platforms)) {
    if (platform === "..." || !isObject(block)) continue;
    const config: Json = { ...base, ...(isObject(block.config) ? block.config : {}) };
    problems.push(...checkPlatform(config, PLATFORMS[platform], `${where} [${platform}]`));
  }
  return problems;
}

function checkPlatform(config: Json, profile: PlatformProfile | undefined, at: string): string[] {
  const problems: string[] = [];
  const claims: Claim[] = [];
  const uartOwners = new Map<string, string>();
  for (const [name, section] of Object.entries(config)) {
    if (!isObject(section)) continue;
    if (name.endsWith("Serial") && "port" in section) {
      const port = String(section.port);
      const pins = [section.receive, section.transmit];
      const other = uartOwners.get(port);
      if (other) problems.push(`${at}: ${other} and ${name} both on UART ${port} (pins ${pinsOf(config[other])} and ${pins.join("/")}); one UART port takes one device`);
      else uartOwners.set(port, name);
      if (!profile) continue;
      const n = Number(section.port);
      if (!Number.isInteger(n) || n < 0 || n >= profile.uarts) problems.push(`${at}: ${name} on UART ${port} (pins ${pins.join("/")}), but the platform has UART 0..${profile.uarts - 1}`);
      const debug = profile.debugUart;
      if (debug && n === debug.port) {
        problems.push(`${at}: ${name} on UART ${port} (pins ${pins.join("/")}) takes the debug UART ${debug.port} (pins ${debug.pins.join("/")}) of a -d build`);
      }
      for (const [role, p] of [["receive", section.receive], ["transmit", section.transmit]] as const) claims.push({ owner: `${name}.${role}`, pin: p as number });
    } else if ("data" in section && "clock" in section && "address" in section) {
      const bus = `i2c:${String(section.port ?? "")}:${String(section.data)}:${String(section.clock)}`;
      claims.push({ owner: `${name}.data`, pin: section.data as number, shareKey: bus + ":data" });
      claims.push({ owner: `${name}.clock`, pin: section.clock as number, shareKey: bus + ":clock" });
    } else if ("clock" in section && "select" in section) {
      for (const role of ["clock", "out", "in", "select"]) if (role in section) claims.push({ owner: `${name}.${role}`, pin: section[role] as number });
    } else if (name === "pins") {
      for (const [role, value] of Object.entries(section)) {
        if (Array.isArray(value)) value.forEach((p, i) => claims.push({ owner: `pins.${role}[${i}]`, pin: p as number }));
        else if (typeof value === "number" || (typeof value === "string" && !role.endsWith("Pull"))) claims.push({ owner: `pins.${role}`, pin: value });
      }
      problems.push(...checkPulls(section, profile, at));
    }
  }
  // Pin numbers mean nothing on the simulator (its serials are named paths, all "pin 0").
  if (!profile) return problems;
  // The debug UART's pins are taken first, so anything else there is reported against them.
  const debugClaims = (profile.debugUart?.pins ?? []).map((pin): Claim => ({ owner: `the debug UART ${profile.debugUart!.port} of a -d build`, pin }));
  problems.push(...pinConflicts([...debugClaims, ...claims], at));
  return problems;
}

function pinsOf(section: unknown): string {
  return isObject(section) ? `${String(section.receive)}/${String(section.transmit)}` : "?";
}

function pinConflicts(claims: Claim[], at: string): string[] {
  const problems: string[] = [];
  const byPin = new Map<string, Claim>();
  for (const claim of claims) {
    const key = String(claim.pin);
    const first = byPin.get(key);
    if (!first) byPin.set(key, claim);
    else if (!(first.shareKey && first.shareKey === claim.shareKey)) problems.push(`${at}: pin ${key} is both ${first.owner} and ${claim.owner}`);
  }
  return problems;
}

/** Every `<input>ActiveLow: true` needs `<input>Pull: "up"` (internal) or `"external"`. */
function checkPulls(pins: Json, profile: PlatformProfile | undefined, at: string): string[] {
  const problems: string[] = [];
  for (const [key, value] of Object.entries(pins)) {
    if (!key.endsWith("ActiveLow") || value !== true) continue;
    const input = key.slice(0, -"ActiveLow".length);
    const pin = pins[input];
    const pull = pins[`${input}Pull`];
    if (pull !== "up" && pull !== "external") {
      problems.push(`${at}: pins.${input} (pin ${String(pin)}) is active-low but declares no pull-up (${input}Pull: "up" or "external"); unconnected, it reads active`);
    } else if (pull === "up" && profile?.noInternalPull?.includes(pin as number)) {
      problems.push(`${at}: pins.${input} (pin ${String(pin)}) has no internal pull-up on this platform; wire one and declare ${input}Pull: "external", or move the input`);
    }
  }
  return problems;
}
