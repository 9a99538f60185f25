/**
 * A terminal console to drive a simulated lane controller's field inputs by hand: a firmware
 * engineer types `arrive`, `badge 04A21F9C3B`, `keys 1234#` (exit), `ticket` (entry), `scan …`
 * and watches the display and the state. Closing stdin (e.g. under a process manager) leaves the
 * board running.
 */
import { createInterface } from "node:readline";
import type { SimulatedEntryTerminal } from "../boards/entry-terminal-sim";
import type { SimulatedExitController } from "../boards/exit-controller-sim";
import type { SimulatedLaneController } from "../boards/lane-controller-sim";

type AnyLaneBoard = SimulatedLaneController<SimulatedExitController["board"]> | SimulatedLaneController<SimulatedEntryTerminal["board"]>;

const COMMON_HELP = [
  "arrive            vehicle drives onto the loop",
  "leave             vehicle drives off the loop",
  "badge <10 hex>    present an RFID badge (EM4100 UID)",
  "scan <text>       the QR / barcode scanner reads <text> (SPK1.<ticket>, SPV1.<code>, SPR1.<code>)",
  "help              press the help / intercom button",
  "power             power-cycle the board",
  "status            show state, display and link counters",
];
export const CONSOLE_HELP = [...COMMON_HELP.slice(0, 3), "keys <keys>       type on the keypad (0-9, * clears, # submits)", "lost              press the lost-ticket key", ...COMMON_HELP.slice(3)].join("\n");
export const ENTRY_CONSOLE_HELP = [...COMMON_HELP.slice(0, 3), "ticket            press the ticket key", "printed           the tickets the printer printed", ...COMMON_HELP.slice(3)].join("\n");

export function renderDisplay(board: AnyLaneBoard): string {
  const bar = "+" + "-".repeat(22) + "+";
  const rows = board.display.lines.map((l) => `| ${l.padEnd(20)} |`);
  const qr = board.display.qr ? `\n  QR: ${board.display.qr}` : "";
  return [bar, ...rows, bar].join("\n") + `\n  lane ${board.lane} · state ${board.state}` + qr;
}

/** Commands both roles have; `role` adds the exit's keypad and lost-ticket key, or the entry's ticket key and printer. */
export function startLaneConsole(board: AnyLaneBoard, role: { exit: SimulatedExitController } | { entry: SimulatedEntryTerminal }): void {
  const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: process.stdin.isTTY ?? false });
  const typeWait = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
  const help = "exit" in role ? CONSOLE_HELP : ENTRY_CONSOLE_HELP;
  rl.on("line", (input) => {
    const [command, ...rest] = input.trim().split(/\s+/);
    const arg = rest.join(" ");
    try {
      switch (command) {
        case "": return;
        case "arrive": board.vehicleArrives(); break;
        case "leave": board.vehicleLeaves(); break;
        case "badge": board.presentBadge(arg); break;
        case "scan": board.scan(arg); break;
        case "help": board.pressHelp(); break;
        case "power": board.powerCycle(); break;
        case "status": console.log(renderDisplay(board)); console.log(board.link.stats); return;
        case "?": console.log(help); return;
        default:
          if (!roleCommand(role, command, arg, typeWait)) console.log(`unknown command "${command}" — type ? for the list`);
          return;
      }
    } catch (err) {
      console.log(`error: ${(err as Error).message}`);
    }
  });
  rl.on("close", () => console.log("(stdin closed: the board keeps running; Ctrl-C stops it)"));
}

function roleCommand(role: { exit: SimulatedExitController } | { entry: SimulatedEntryTerminal }, command: string, arg: string, typeWait: (ms: number) => Promise<void>): boolean {
  if ("exit" in role) {
    if (command === "keys") { void role.exit.typeKeys(arg, typeWait); return true; }
    if (command === "lost") { role.exit.pressLost(); return true; }
    return false;
  }
  if (command === "ticket") { role.entry.pressTicket(); return true; }
  if (command === "printed") {
    for (const t of role.entry.printed) console.log(`ticket ${t.ticketId} code ${t.code} QR ${t.qr}`);
    if (role.entry.printed.length === 0) console.log("(nothing printed yet)");
    return true;
  }
  return false;
}
