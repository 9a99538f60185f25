/**
 * The SerLCD's I2C (Qwiic) interface takes the same byte stream as its UART, so the screen
 * encoder stays one; this adapts an ECMA-419 I2C instance to the write-only SerialIO the display
 * code uses. Writes go in chunks of at most 32 bytes, the transfer size SparkFun's own SerLCD
 * library keeps to (the Arduino Wire buffer): a screen is ~85 bytes plus the QR URL, and a
 * transfer longer than the display is known to take could lose its tail.
 */
import type { I2CIO, SerialIO } from "./board-host";

export const SERLCD_I2C_CHUNK = 32;

export function serlcdOverI2c(i2c: I2CIO): SerialIO {
  return {
    read: () => undefined,
    write(data) {
      const bytes = typeof data === "number" ? new Uint8Array([data])
        : data instanceof ArrayBuffer ? new Uint8Array(data)
        : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      for (let at = 0; at < bytes.length; at += SERLCD_I2C_CHUNK) {
        i2c.write(bytes.slice(at, at + SERLCD_I2C_CHUNK));
      }
    },
    close: () => i2c.close(),
  };
}
