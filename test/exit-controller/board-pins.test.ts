import { expect } from "chai";
import type { DigitalClass, DigitalIO, DigitalOptions, I2COptions, SerialOptions } from "../../firmware/common/io/board-host";
import { encodeScreen } from "../../firmware/common/io/serlcd";
import { SERLCD_I2C_CHUNK, serlcdOverI2c } from "../../firmware/common/io/serlcd-i2c";
import { parseExitConfig } from "../../firmware/exit-controller/core/config";
import { startExitController } from "../../firmware/exit-controller/board";
import { loadManifestConfig } from "../../sim/boards/manifest-config";

const INPUT = "input", INPUT_PULLUP = "input-pullup", OUTPUT = "output";

/** A board whose pins model pull-ups: an unconnected input reads 1 with its pull-up and 0
 *  without (the level a floating active-low input may settle at: "vehicle present"). */
function fakeBoard() {
  const modes = new Map<string, unknown>();
  const serialPorts: string[] = [];
  const i2c: { options: I2COptions; writes: Uint8Array[] }[] = [];
  const Digital = class implements DigitalIO {
    static readonly Input = INPUT;
    static readonly InputPullUp = INPUT_PULLUP;
    static readonly Output = OUTPUT;
    static readonly Rising = 1;
    static readonly Falling = 2;
    constructor(private readonly options: DigitalOptions) { modes.set(String(options.pin), options.mode); }
    read(): 0 | 1 { return this.options.mode === INPUT_PULLUP ? 1 : 0; }
    write(): void {}
    close(): void {}
  } satisfies DigitalClass;
  const Serial = class {
    constructor(options: SerialOptions) {
      const port = String(options.port);
      // What XS does when a second instance opens a UART: RangeError: port in use.
      if (serialPorts.includes(port)) throw new RangeError("port in use");
      serialPorts.push(port);
    }
    read(): undefined { return undefined; }
    write(): void {}
    close(): void {}
  };
  const I2C = class {
    readonly writes: Uint8Array[] = [];
    constructor(options: I2COptions) { i2c.push({ options, writes: this.writes }); }
    write(data: ArrayBuffer | ArrayBufferView): void { this.writes.push(new Uint8Array(ArrayBuffer.isView(data) ? data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) : data)); }
    close(): void {}
  };
  const timers = new Set<unknown>();
  const clock = {
    now: () => 0,
    schedule: (_cb: () => void, _ms: number) => { const t = {}; timers.add(t); return t; },
    cancel: (t: unknown) => { timers.delete(t); },
  };
  return { device: { io: { Digital, Serial, I2C } }, modes, serialPorts, i2c, clock };
}

describe("exit controller pin map on the boards", () => {
  for (const platform of ["pico", "esp32"]) {
    it(`${platform}: opens every device (no UART twice), the display on I2C, and an unconnected loop reads "no vehicle"`, () => {
      const board = fakeBoard();
      const exit = startExitController({ device: board.device, config: loadManifestConfig("exit-controller", platform), clock: board.clock, bootCount: 1 });
      const config = parseExitConfig(loadManifestConfig("exit-controller", platform));
      expect(board.serialPorts).to.have.members([String(config.gatewaySerial.port), String(config.rfidSerial.port)]);
      expect(board.modes.get(String(config.pins.presence))).to.equal(INPUT_PULLUP);
      expect(exit.controller.vehiclePresent).to.equal(false);
      expect(board.i2c).to.have.length(1);
      expect(board.i2c[0].options).to.include({ address: 0x72 });
      expect(board.i2c[0].writes.length, "the first screen went to the I2C display").to.be.greaterThan(0);
      exit.close();
    });
  }

  it("the SerLCD over I2C gets the UART byte stream in chunks of at most 32 bytes", () => {
    const writes: Uint8Array[] = [];
    const port = serlcdOverI2c({ write: (d) => { writes.push(new Uint8Array((d as Uint8Array).slice())); }, close: () => {} });
    const screen = encodeScreen(["PAY 3,50 EUR", "", "", ""], "https://pay.example/x");
    port.write(screen);
    expect(writes.every((w) => w.length <= SERLCD_I2C_CHUNK)).to.equal(true);
    expect(Buffer.concat(writes)).to.deep.equal(Buffer.from(screen));
  });

  it("config: exactly one of displaySerial / displayI2c, and a known presencePull", () => {
    const pico = loadManifestConfig("exit-controller", "pico");
    const lin = loadManifestConfig("exit-controller", "lin");
    expect(() => parseExitConfig({ ...pico, displaySerial: lin.displaySerial })).to.throw(/exactly one of displaySerial, displayI2c/);
    expect(() => parseExitConfig({ ...pico, displayI2c: undefined })).to.throw(/exactly one of displaySerial, displayI2c/);
    expect(() => parseExitConfig({ ...pico, pins: { ...(pico.pins as object), presencePull: "down" } })).to.throw(/pins\.presencePull/);
    expect(parseExitConfig(lin).pins.presencePull).to.equal("none");
  });
});
