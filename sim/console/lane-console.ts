/**
 * A terminal console to drive a simulated board's field inputs by hand: a firmware engineer
 * types `arrive`, `badge 04A21F9C3B`, `keys 1234#` and watches the display and the state.
 * Closing stdin (e.g. under a process manager) leaves the board running.
 */
import { createInterface } from "node:readline";
import type { SimulatedExitController } from "../boards/exit-controller-sim";

export const CONSOLE_HELP = [
  "arrive            vehicle drives onto the exit loop",
  "leave             vehicle drives off the loop",
  "badge <10 hex>    present an RFID badge (EM4100 UID)",
  "keys <keys>       type on the keypad (0-9, * clears, # submits)",
  "help              press the help / intercom button",
  "power             power-cycle the board",
  "status            show state, display and link counters",
].join("\n");

export function renderDisplay(board: SimulatedExitController): string {
  const bar = "+" + "-".repeat(22) + "+";
  const rows = board.display.lines.map((l) => `| ${l.padEnd(20)} |`);
  const qr = board.display.qr ? `\n  QR: ${board.display.qr}` : "";
  return [bar, ...rows, bar].join("\n") + `\n  lane ${board.lane} · state ${board.state}` + qr;
}

export function startLaneConsole(board: SimulatedExitController, extra: Record<string, (arg: string) => void> = {}): void {
  const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: process.stdin.isTTY ?? false });
  const typeWait = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
  rl.on("line", (input) => {
    const [command, ...rest] = input.trim().split(/\s+/);
    const arg = rest.join(" ");
    try {
      switch (command) {
        case "": return;
        case "arrive": board.vehicleArrives(); break;
        case "leave": board.vehicleLeaves(); break;
        case "badge": board.presentBadge(arg); break;
        case "keys": void board.typeKeys(arg, typeWait); break;
        case "help": board.pressHelp(); break;
        case "power": board.powerCycle(); break;
        case "status": console.log(renderDisplay(board)); console.log(board.link.stats); return;
        case "?": console.log(CONSOLE_HELP + Object.keys(extra).map((k) => `\n${k}`).join("")); return;
        default:
          if (extra[command]) { extra[command](arg); break; }
          console.log(`unknown command "${command}" — type ? for the list`);
          return;
      }
    } catch (err) {
      console.log(`error: ${(err as Error).message}`);
    }
  });
  rl.on("close", () => console.log("(stdin closed: the board keeps running; Ctrl-C stops it)"));
}
