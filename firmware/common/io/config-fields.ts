/**
 * Reading a board's manifest `config` block at start-up (both boards): whole numbers in a
 * range, pins and ports, sections, the lane id, a serial port, the link timings. A bad value
 * refuses to start the board with an error naming the board and the exact key, e.g.
 * `barrier-executor config link.retransmitMs: expected a whole number in 10..10000, got 5`.
 * No Node built-ins: this runs on XS.
 */

export interface SerialPortConfig {
  port: number | string;
  receive: number | string;
  transmit: number | string;
  baud: number;
}

export interface LinkTimingConfig {
  heartbeatMs: number;
  linkTimeoutMs: number;
  retransmitMs: number;
  maxBackoffMs: number;
  maxRetries: number;
}

export interface ConfigFields {
  /** Throws `<board> config <where>: <message>`. */
  fail(where: string, message: string): never;
  /** raw[key], a whole number in min..max; `where` is the section prefix ("" or "link."). */
  num(raw: Record<string, unknown>, key: string, min: number, max: number, where: string): number;
  /** A pin or port: a whole number ≥ 0 or a non-empty name. */
  pin(v: unknown, where: string): number | string;
  /** A section (a plain object). */
  obj(raw: unknown, where: string): Record<string, unknown>;
  /** raw.lane: 1-16 of A-Z a-z 0-9 . _ : - */
  lane(raw: Record<string, unknown>): string;
  serial(raw: unknown, where: string): SerialPortConfig;
  /** The link section's timings (heartbeat, timeout, retransmit, backoff, retries). */
  linkTiming(link: Record<string, unknown>): LinkTimingConfig;
}

/** Frozen, and its functions capture only consts: the boards call it at module level, in modules
 *  mcconfig preloads into flash (it warns about any mutable object or binding left there). */
export function configFields(board: string): ConfigFields {
  const boardName = board;
  function fail(where: string, message: string): never {
    throw new Error(`${boardName} config ${where}: ${message}`);
  }
  function num(raw: Record<string, unknown>, key: string, min: number, max: number, where: string): number {
    const v = raw[key];
    if (typeof v !== "number" || !(v >= min && v <= max) || Math.floor(v) !== v) {
      fail(where + key, `expected a whole number in ${min}..${max}, got ${JSON.stringify(v)}`);
    }
    return v;
  }
  function pin(v: unknown, where: string): number | string {
    if (typeof v === "number" && v >= 0 && Math.floor(v) === v) return v;
    if (typeof v === "string" && v.length > 0) return v;
    return fail(where, `expected a pin or port number or name, got ${JSON.stringify(v)}`);
  }
  function obj(raw: unknown, where: string): Record<string, unknown> {
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return fail(where, "missing section");
    return raw as Record<string, unknown>;
  }
  const fields: ConfigFields = {
    fail,
    num,
    pin,
    obj,
    lane(raw) {
      const lane = raw.lane;
      if (typeof lane !== "string" || !/^[A-Za-z0-9._:-]{1,16}$/.test(lane)) fail("lane", `expected 1-16 of A-Z a-z 0-9 . _ : -, got ${JSON.stringify(lane)}`);
      return lane;
    },
    serial(raw, where) {
      const o = obj(raw, where);
      return {
        port: pin(o.port, where + ".port"),
        receive: pin(o.receive, where + ".receive"),
        transmit: pin(o.transmit, where + ".transmit"),
        baud: num(o, "baud", 1200, 1000000, where + "."),
      };
    },
    linkTiming(link) {
      return {
        heartbeatMs: num(link, "heartbeatMs", 100, 60000, "link."),
        linkTimeoutMs: num(link, "linkTimeoutMs", 300, 600000, "link."),
        retransmitMs: num(link, "retransmitMs", 10, 10000, "link."),
        maxBackoffMs: num(link, "maxBackoffMs", 10, 60000, "link."),
        maxRetries: num(link, "maxRetries", 1, 100, "link."),
      };
    },
  };
  return Object.freeze(fields);
}
