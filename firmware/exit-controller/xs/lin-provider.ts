/**
 * Host provider for the Moddable Linux simulator (`mcconfig -p lin`), mapped to
 * `embedded:provider/builtin` by the manifest's `platforms.lin` block, exactly as a real board gets
 * its own provider. The simulator has serial ports but no digital I/O: the gateway link is a real
 * serial device and the field (presence loop, buttons, keypad, RFID reader, display) goes over
 * the field-I/O channel the HIL harness drives (firmware/common/io/lin-field.ts).
 */
import Serial from "embedded:io/serial";
import config from "mc/config";
// Imported by module name: this module is itself named "embedded:provider/builtin", so a relative
// specifier would resolve against that name on XS, not against this folder.
import { createLinDevice, type LinSerialClass } from "firmware/common/io/lin-field";

// The field channel's BOOT line names the role the manifest gave this lane controller.
const board = (config as Record<string, unknown>).role === "entry" ? "entry-terminal" : "exit-controller";
const device = createLinDevice({ Serial: Serial as unknown as LinSerialClass, board, config: config as Record<string, unknown>, trace: (text) => trace(text) });

export default device;
