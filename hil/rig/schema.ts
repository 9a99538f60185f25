/**
 * The rig file (twister's hardware map, labgrid's resources): each board under test — its kind,
 * lane, serial port and baud, how to reset it — and the rig's I/O emulator that drives the
 * boards' field inputs (presence loop, vehicle under the boom, badge reader, keypad, jam,
 * emergency). Validated with zod; errors name the field path.
 */
import { readFileSync } from "node:fs";
import { z } from "zod";
import { InfrastructureError } from "../harness/errors";

const laneId = z.string().regex(/^[A-Za-z0-9_-]{1,16}$/, "a lane id is 1-16 letters, digits, _ or -");
const devicePath = z.string().min(1, "a serial port path is required").refine((p) => p.startsWith("/dev/") || p.startsWith("/") || /^COM\d+$/.test(p), "a serial port is an absolute device path (/dev/ttyUSB0) or COMn");
const baud = z.number().int().refine((b) => [9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600].includes(b), "baud must be a standard rate (9600 … 921600)");

export const resetSchema = z.discriminatedUnion("method", [
  z.strictObject({
    method: z.literal("dtr"),
    /** Pulse length, ms. */
    pulse_ms: z.number().int().min(1).max(5000).default(100),
    /** The level that holds the board in reset (most USB-UART auto-reset circuits: true). */
    active: z.boolean().default(true),
  }),
  z.strictObject({ method: z.literal("rts"), pulse_ms: z.number().int().min(1).max(5000).default(100), active: z.boolean().default(true) }),
  z.strictObject({
    method: z.literal("power"),
    /** Shell commands of the power switch (e.g. `uhubctl -a off -p 2`, a PDU's CLI). */
    off: z.string().min(1),
    on: z.string().min(1),
    off_ms: z.number().int().min(0).max(60_000).default(1000),
  }),
  z.strictObject({ method: z.literal("none") }),
]);

export const ioEmulatorSchema = z.discriminatedUnion("type", [
  /** A line-protocol I/O emulator on its own serial port (see docs/hil.md: `SET <lane> <input> <value>`). */
  z.strictObject({ type: z.literal("serial"), port: devicePath, baud: baud.default(115200) }),
  /** No emulator: scenarios that need field inputs are skipped. */
  z.strictObject({ type: z.literal("none") }),
]);

export const boardSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_.-]{1,32}$/, "a board name is 1-32 letters, digits, _ . or -").optional(),
  kind: z.enum(["exit-controller", "barrier-executor"]),
  lane: laneId,
  port: devicePath,
  baud: baud.default(115200),
  reset: resetSchema.default({ method: "none" }),
});

export const rigSchema = z.strictObject({
  name: z.string().min(1).max(64),
  boards: z.array(boardSchema).min(1, "a rig has at least one board"),
  io_emulator: ioEmulatorSchema.default({ type: "none" }),
}).superRefine((rig, ctx) => {
  const seen = new Map<string, number>();
  rig.boards.forEach((b, i) => {
    const key = `${b.lane}/${b.kind}`;
    if (seen.has(key)) ctx.addIssue({ code: "custom", path: ["boards", i, "kind"], message: `lane ${b.lane} already has a ${b.kind} (boards[${seen.get(key)}])` });
    seen.set(key, i);
  });
  const ports = new Map<string, number>();
  rig.boards.forEach((b, i) => {
    if (ports.has(b.port)) ctx.addIssue({ code: "custom", path: ["boards", i, "port"], message: `port ${b.port} is already used by boards[${ports.get(b.port)}]` });
    ports.set(b.port, i);
  });
  for (const lane of new Set(rig.boards.map((b) => b.lane))) {
    const kinds = rig.boards.filter((b) => b.lane === lane).map((b) => b.kind);
    if (!kinds.includes("exit-controller") || !kinds.includes("barrier-executor")) ctx.addIssue({ code: "custom", path: ["boards"], message: `lane ${lane} needs an exit-controller and a barrier-executor (has ${kinds.join(", ")})` });
  }
});

export type Rig = z.infer<typeof rigSchema>;
export type RigBoard = z.infer<typeof boardSchema>;
export type ResetMethod = z.infer<typeof resetSchema>;

/** Precise, one line per problem: `boards[1].baud: baud must be a standard rate (9600 … 921600)`. */
export function formatRigIssues(error: z.ZodError): string {
  return error.issues.map((i) => {
    const path = i.path.map((p, k) => (typeof p === "number" ? `[${p}]` : `${k ? "." : ""}${String(p)}`)).join("") || "(rig)";
    return `${path}: ${i.message}`;
  }).join("\n");
}

export function parseRig(input: unknown, source = "rig"): Rig {
  const r = rigSchema.safeParse(input);
  if (!r.success) throw new Error(`${source} is not a valid rig file:\n${formatRigIssues(r.error)}`);
  return r.data;
}

export function loadRig(path: string): Rig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new InfrastructureError(`cannot read rig file ${path}: ${(err as Error).message}`, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`${path} is not JSON: ${(err as Error).message}`, { cause: err });
  }
  return parseRig(json, path);
}
