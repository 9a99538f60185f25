/**
 * Host provider for the Moddable Linux simulator (`mcconfig -p lin`), mapped to
 * `embedded:provider/builtin` by the manifest's `platforms.lin` block, exactly as a real board gets
 * its own provider. The simulator has serial ports but no SPI and no FPGA: the gateway link is a
 * real serial device, and SPI reaches the safety core — the cycle-accurate model with the barrier
 * plant, on the HIL harness's side — over the field-I/O channel (firmware/common/io/lin-field.ts):
 * register writes go out as they happen, reads come from the register image the harness keeps up
 * to date. Fault injection (jams, emergencies, broken switches) is the harness's job.
 */
import Serial from "embedded:io/serial";
import config from "mc/config";
// Imported by module name: this module is itself named "embedded:provider/builtin", so a relative
// specifier would resolve against that name on XS, not against this folder.
import { createLinDevice, type LinSerialClass } from "firmware/common/io/lin-field";

const device = createLinDevice({ Serial: Serial as unknown as LinSerialClass, board: "barrier-executor", config: config as Record<string, unknown>, trace: (text) => trace(text) });

export default device;
