/**
 * The field-I/O channel of boards on the Moddable Linux simulator (issue 14 item 5): the lin
 * providers' device (firmware/common/io/lin-field.ts) on real ptys, driven by the harness's field
 * hosts (hil/xs/field-host.ts), with the firmware's own board layers on top. On XS the same code
 * runs on the simulator's serial; here a test double of that serial (node-lin-serial.ts) stands in,
 * so CI proves the channel without the Moddable SDK.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { expect } from "chai";
import type { BoardDevice } from "../../../firmware/common/io/board-host";
import { formatFieldLine, parseFieldLine, FIELD_MAX_LINE } from "../../../firmware/common/io/field-protocol";
import { createLinDevice, LinField, type LinSerialClass } from "../../../firmware/common/io/lin-field";
import { startExitController, type ExitBoard } from "../../../firmware/exit-controller/board";
import { openPtyPair, type PtyPair } from "../../../host/link/pty";
import { requireToolOrSkip } from "../../../host/tools";
import { StreamLink } from "../../../host/link/stream-link";
import { loadManifestConfig } from "../../../sim/boards/manifest-config";
import type { ByteStream } from "../../../host/link/byte-stream";
import { openSerialStream } from "../../../host/link/streams";
import { RealClock } from "../../../sim/boards/virtual-clock";
import { BarrierFieldHost, ExitFieldHost, type ExitFieldPins } from "../../../hil/xs/field-host";
import { nodeLinSerialClass } from "./node-lin-serial";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
async function until(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

describe("field-I/O protocol (boards on the Linux simulator ↔ HIL harness)", () => {
  it("round-trips every message kind and refuses malformed lines", () => {
    const messages = [
      { kind: "IN", pin: "1", level: 1 },
      { kind: "KEY", row: "10", col: "14", closed: true },
      { kind: "RX", port: "rfid", bytes: new Uint8Array([2, 0x41, 3]) },
      { kind: "TX", port: "display", bytes: new Uint8Array([0x7c, 0x2d]) },
      { kind: "REG", addr: 3, value: 0x53414645 },
      { kind: "W", addr: 0, value: 0xffffffff },
      { kind: "BOOT", board: "exit-controller", lane: "L1" },
    ] as const;
    for (const m of messages) expect(parseFieldLine(formatFieldLine(m)), formatFieldLine(m)).to.deep.equal(m);
    for (const bad of ["", "IN 1", "IN 1 2", "IN 1 1 1", "KEY a b c", "RX rfid 0", "RX rfid zz", "REG 16 1", "REG 1 4294967296", "W -1 0", "BOOT x", "NOPE 1 2", `IN ${"x".repeat(40)} 1`, "x".repeat(FIELD_MAX_LINE + 1)]) {
      expect(parseFieldLine(bad), JSON.stringify(bad)).to.equal(undefined);
    }
  });

  it("the board's end never throws: malformed lines and a throwing listener are counted, a full queue drops and counts", () => {
    const written: string[] = [];
    let refuse = false;
    let onReadable: (() => void) | undefined;
    let inbound: ArrayBuffer | undefined;
    const Serial = class {
      constructor(o: { onReadable?: () => void }) { onReadable = o.onReadable?.bind(this); }
      read() { const d = inbound; inbound = undefined; return d; }
      write(d: ArrayBuffer) { if (refuse) throw new Error("would overflow"); written.push(Buffer.from(d).toString()); }
      close() {}
    } as unknown as LinSerialClass;
    const traces: string[] = [];
    const field = new LinField(Serial, "/dev/null-field", { board: "exit-controller", lane: "L1" }, (t) => traces.push(t));
    expect(written).to.deep.equal(["BOOT exit-controller L1\n"]);
    field.onPin("1", () => { throw new Error("firmware bug"); });
    field.declareInput("1", false);
    const feed = (text: string) => { inbound = new Uint8Array(Buffer.from(text)).buffer as ArrayBuffer; onReadable?.(); };
    expect(() => feed(`garbage\nIN 1 1\nW 0 1\n${"y".repeat(FIELD_MAX_LINE + 10)}\nIN 2 1\n`)).not.to.throw();
    expect(field.badLines, "garbage, a board-to-harness W, one over-long line").to.equal(3);
    expect(field.inputLevel("1")).to.equal(1);
    expect(field.inputLevel("2")).to.equal(1);
    expect(traces.join("")).to.match(/IN handler threw/);
    refuse = true;
    for (let i = 0; i < 100; i++) field.writeRegister(0, i);
    expect(field.dropped, "the bounded queue (64 lines) keeps the first, drops the rest").to.equal(100 - 64);
    refuse = false;
    field.writeRegister(0, 999); // still full: the queue drains only when the serial says it is writable
    expect(field.dropped).to.equal(37);
  });
});

describe("lin provider without its devices", () => {
  it("a board whose link or field device does not exist still boots: nothing thrown into the VM, the trace says why", () => {
    const Missing = class { constructor(o: { device: string }) { throw new Error(`open ${o.device}: No such file or directory`); } } as unknown as LinSerialClass;
    const traces: string[] = [];
    const device = createLinDevice({ Serial: Missing, board: "exit-controller", config: { lane: "L1", linDevices: "/nonexistent" }, trace: (t) => traces.push(t) });
    const link = new device.io.Serial({ port: "link", baud: 115200 });
    expect(() => link.write(new Uint8Array([65, 10]))).not.to.throw();
    expect(link.read()).to.equal(undefined);
    expect(traces.join("")).to.match(/field: cannot open \/nonexistent\/field/).and.match(/serial: cannot open \/nonexistent\/link/);
    expect(device.field.connected).to.equal(false);
  });
});

describe("boards on their lin providers, driven over the field-I/O channel (real ptys)", function () {
  this.timeout(20_000);
  let dir: string;
  const pairs: PtyPair[] = [];
  const transports: ByteStream[] = [];
  const opened = new Set<{ close(): void }>();
  let closeBoard: (() => void) | undefined;
  let barrierHost: BarrierFieldHost | undefined;
  let closeGateway: (() => Promise<void>) | undefined;

  beforeEach(function () {
    if (!requireToolOrSkip(this, "socat")) return;
    dir = mkdtempSync(join(tmpdir(), "syspark-lin-field-"));
  });
  afterEach(async () => {
    closeBoard?.();
    closeBoard = undefined;
    await closeGateway?.();
    closeGateway = undefined;
    barrierHost?.close();
    barrierHost = undefined;
    for (const s of [...opened]) s.close();
    await Promise.all(transports.splice(0).map((t) => t.close()));
    await Promise.all(pairs.splice(0).map((p) => p.close()));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** `<dir>/link` and `<dir>/field` for the board, `-host` ends for the test. */
  async function wire(): Promise<{ link: ByteStream; field: ByteStream }> {
    const ends: ByteStream[] = [];
    for (const name of ["link", "field"]) {
      const pair = await openPtyPair(name, undefined, { a: join(dir, name), b: join(dir, `${name}-host`) });
      pairs.push(pair);
      const t = await openSerialStream(pair.b);
      transports.push(t);
      ends.push(t);
    }
    return { link: ends[0], field: ends[1] };
  }

  /** The gateway's end of a board link: what the board reports arrives decoded in `heard`. */
  async function gatewayOn(link: ByteStream): Promise<{ gateway: StreamLink; heard: string[] }> {
    const heard: string[] = [];
    const gateway = new StreamLink(link, {
      self: { kind: "gateway", fw: "test", boot: 1 }, receives: "up",
      onMessage: (type, fields) => { heard.push(`${type} ${JSON.stringify(fields)}`); },
    });
    await gateway.openEventually();
    closeGateway = () => gateway.close();
    return { gateway, heard };
  }

  it("exit controller: presence, help, keypad, badge and display all cross the channel; a BOOT gets the field state again", async () => {
    const { link, field } = await wire();
    const config = loadManifestConfig("exit-controller", "lin", { linDevices: dir, lane: "L1" }) as Record<string, unknown>;
    const host = new ExitFieldHost(field, config.pins as ExitFieldPins, Number(config.keypadScanMs));
    const { heard } = await gatewayOn(link);
    const said = (text: string) => heard.some((h) => h.includes(text));
    const clock = new RealClock();
    const start = (): ExitBoard => {
      const device = createLinDevice({ Serial: nodeLinSerialClass(opened), board: "exit-controller", config, trace: () => undefined });
      return startExitController({ device: device as unknown as BoardDevice, config, clock, bootCount: 1 });
    };
    let board = start();
    closeBoard = () => board.close();
    await until("the board's BOOT line", () => host.boots === 1);
    await until("a screen on the display", () => host.screens.length > 0);
    await until("the board's state report on its link", () => said("STATE"));

    host.setPresence(true);
    await until("the controller to see the vehicle", () => board.controller.vehiclePresent);
    host.pressHelp();
    await until("the help button report", () => said("BUTTON"));
    await host.typeKeys("12", sleep);
    await until("the keypad to start a PIN entry", () => board.controller.state === "identifying");
    const screens = host.screens.length;
    host.presentBadge("0A1B2C3D4E");
    await until("the badge report", () => said("0A1B2C3D4E"));
    await until("the display to change", () => host.screens.length > screens);

    // A board reset: the new firmware hears the vehicle still on the loop.
    board.close();
    for (const s of [...opened]) s.close();
    board = start();
    await until("the second BOOT line", () => host.boots === 2);
    await until("the rebooted controller to see the vehicle still there", () => board.controller.vehiclePresent);
    expect(host.badLines).to.equal(0);
  });

  it("barrier executor: reads the harness's safety core at boot, takes OPEN (its read after the write waits for the SYNC), the boom opens, its heartbeats keep the core alive", async () => {
    const { link, field } = await wire();
    barrierHost = new BarrierFieldHost(field);
    const host = barrierHost;
    const { gateway, heard } = await gatewayOn(link);
    const config = loadManifestConfig("barrier-executor", "lin", { linDevices: dir, lane: "L1" }) as Record<string, unknown>;
    // On XS the board is another process: here, another thread (its SPI reads busy-wait for the harness).
    const worker = new Worker(new URL("./lin-board-worker-boot.js", import.meta.url), { workerData: { config } });
    const identified = new Promise<boolean>((resolve, reject) => {
      worker.on("message", (m: { identified?: boolean }) => { if (m.identified !== undefined) resolve(m.identified); });
      worker.once("error", reject);
    });
    closeBoard = () => { worker.postMessage("close"); void worker.terminate(); };
    expect(await identified, "the core identified at boot (the image arrived before the first read)").to.equal(true);
    await until("the core out of SAFE (heartbeats reach it)", () => host.settle().stateName === "CLOSED");
    await until("the executor's closed report", () => heard.some((h) => h.startsWith("BARRIER") && h.includes('"closed"')));
    gateway.send("OPEN", { cmd: "c1" });
    await until("the command's completion", () => heard.some((h) => h.startsWith("CMD_DONE")), 10_000);
    expect(heard.find((h) => h.startsWith("CMD_DONE")), "the core took the command: no core_refused").to.match(/"result":"ok"/);
    expect(host.settle().plant.positionPct).to.be.at.least(99);
    expect(host.core.stateName).to.equal("OPEN");
    await sleep(1500);
    expect(host.settle().stateName, "still OPEN 1.5 s later: the watchdog is fed over the channel").to.equal("OPEN");
    expect(host.badLines).to.equal(0);
  });
});
