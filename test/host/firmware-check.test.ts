import { expect } from "chai";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkManifest } from "../../host/firmware-check";
import { checkPinMap } from "../../host/pin-map-check";

type Json = Record<string, unknown>;

/** A manifest with one platform block whose config is `config` (the exit controller's shape). */
function manifestWith(platform: string, config: Json): Json {
  return { platforms: { [platform]: { config } } };
}

const picoGood: Json = {
  pins: { presence: 14, presenceActiveLow: true, presencePull: "up", help: 15, keypadRows: [2, 3, 6, 7], keypadCols: [10, 11, 22] },
  gatewaySerial: { port: 0, receive: 1, transmit: 0, baud: 115200 },
  rfidSerial: { port: 1, receive: 5, transmit: 4, baud: 9600 },
  displayI2c: { port: 0, data: 8, clock: 9, hz: 100000, address: 114 },
};

describe("check-firmware: pin and UART maps per platform", () => {
  it("passes the real manifests", () => {
    for (const name of ["exit-controller", "barrier-executor"]) {
      expect(checkManifest(join("manifests", `${name}.json`)), name).to.deep.equal([]);
    }
  });

  it("fails the pico block the exit controller shipped with (RFID and display both on UART1, no pull-up)", () => {
    // The block as it was before issue 14: XS threw "port in use" at boot.
    const old = manifestWith("pico", {
      pins: { presence: 14, presenceActiveLow: true, help: 15, keypadRows: [2, 3, 6, 7], keypadCols: [10, 11, 22] },
      gatewaySerial: { port: 0, receive: 1, transmit: 0, baud: 115200 },
      rfidSerial: { port: 1, receive: 5, transmit: 4, baud: 9600 },
      displaySerial: { port: 1, receive: 9, transmit: 8, baud: 9600 },
    });
    const problems = checkPinMap(old, "manifests/exit-controller.json");
    expect(problems).to.include("manifests/exit-controller.json [pico]: rfidSerial and displaySerial both on UART 1 (pins 5/4 and 9/8); one UART port takes one device");
    expect(problems.join("\n")).to.match(/manifests\/exit-controller\.json \[pico\]: pins\.presence \(pin 14\) is active-low but declares no pull-up/);
    expect(problems).to.have.length(2);
  });

  it("reports the manifest's findings through checkManifest with the manifest's path", () => {
    const dir = mkdtempSync(join(tmpdir(), "pinmap-"));
    const path = join(dir, "board.json");
    const real = JSON.parse(readFileSync("manifests/exit-controller.json", "utf8")) as { platforms: Record<string, { config: Json }> };
    real.platforms.pico.config.displayI2c = undefined;
    real.platforms.pico.config.displaySerial = { port: 1, receive: 9, transmit: 8, baud: 9600 };
    writeFileSync(path, JSON.stringify(real).replace(/"\.\.\/firmware/g, `"${process.cwd()}/firmware`));
    const messages = checkManifest(path).map((f) => f.message);
    expect(messages.join("\n")).to.match(/board\.json \[pico\]: rfidSerial and displaySerial both on UART 1 \(pins 5\/4 and 9\/8\)/);
  });

  it("fails two functions on one pin, naming both", () => {
    const bad = manifestWith("pico", { ...picoGood, pins: { ...(picoGood.pins as Json), help: 8 } });
    expect(checkPinMap(bad, "m.json")).to.deep.equal(["m.json [pico]: pin 8 is both pins.help and displayI2c.data"]);
  });

  it("lets devices share an I2C bus but not its pins with anything else", () => {
    const shared = manifestWith("pico", { ...picoGood, sensorI2c: { port: 0, data: 8, clock: 9, hz: 100000, address: 0x40 } });
    expect(checkPinMap(shared, "m.json")).to.deep.equal([]);
  });

  it("fails a UART port the platform does not have", () => {
    const bad = manifestWith("pico", { ...picoGood, rfidSerial: { port: 2, receive: 5, transmit: 4, baud: 9600 } });
    expect(checkPinMap(bad, "m.json")).to.deep.equal(["m.json [pico]: rfidSerial on UART 2 (pins 5/4), but the platform has UART 0..1"]);
    const esp = manifestWith("esp32", { gatewaySerial: { port: 3, receive: 16, transmit: 17, baud: 115200 } });
    expect(checkPinMap(esp, "m.json")).to.deep.equal(["m.json [esp32]: gatewaySerial on UART 3 (pins 16/17), but the platform has UART 0..2"]);
  });

  it("keeps the ESP32 debug UART (UART0, pins 1/3) free", () => {
    const onPort = manifestWith("esp32", { displaySerial: { port: 0, receive: 3, transmit: 1, baud: 9600 } });
    expect(checkPinMap(onPort, "m.json")).to.deep.equal([
      "m.json [esp32]: displaySerial on UART 0 (pins 3/1) takes the debug UART 0 (pins 1/3) of a -d build",
      "m.json [esp32]: pin 3 is both the debug UART 0 of a -d build and displaySerial.receive",
      "m.json [esp32]: pin 1 is both the debug UART 0 of a -d build and displaySerial.transmit",
    ]);
    const onPins = manifestWith("esp32", { pins: { presence: 32, presenceActiveLow: false, help: 1, keypadRows: [], keypadCols: [] } });
    expect(checkPinMap(onPins, "m.json")).to.deep.equal(["m.json [esp32]: pin 1 is both the debug UART 0 of a -d build and pins.help"]);
  });

  it("fails an active-low input without a pull-up, and an internal pull-up where the pin has none", () => {
    const none = manifestWith("pico", { ...picoGood, pins: { ...(picoGood.pins as Json), presencePull: undefined } });
    expect(checkPinMap(none, "m.json")).to.deep.equal(['m.json [pico]: pins.presence (pin 14) is active-low but declares no pull-up (presencePull: "up" or "external"); unconnected, it reads active']);
    const inputOnly = manifestWith("esp32", { pins: { presence: 34, presenceActiveLow: true, presencePull: "up", help: 23, keypadRows: [], keypadCols: [] } });
    expect(checkPinMap(inputOnly, "m.json")).to.deep.equal(['m.json [esp32]: pins.presence (pin 34) has no internal pull-up on this platform; wire one and declare presencePull: "external", or move the input']);
    const external = manifestWith("esp32", { pins: { presence: 34, presenceActiveLow: true, presencePull: "external", help: 23, keypadRows: [], keypadCols: [] } });
    expect(checkPinMap(external, "m.json")).to.deep.equal([]);
  });

  it("checks the simulator's named ports for two devices on one port, not its pin numbers", () => {
    const lin = manifestWith("lin", {
      gatewaySerial: { port: "/tmp/x", receive: 0, transmit: 0, baud: 115200 },
      rfidSerial: { port: "rfid", receive: 0, transmit: 0, baud: 9600 },
      displaySerial: { port: "rfid", receive: 0, transmit: 0, baud: 9600 },
    });
    expect(checkPinMap(lin, "m.json")).to.deep.equal(["m.json [lin]: rfidSerial and displaySerial both on UART rfid (pins 0/0 and 0/0); one UART port takes one device"]);
  });
});
