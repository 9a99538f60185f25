/**
 * The fault injectors a scenario breaks a lane with: noise on a board link, a jammed or obstructed
 * boom, the emergency input, a frozen heartbeat, a board reset, the cloud broker out of reach, and
 * the gateway process dying. Each is marked on the timeline as a fault.
 */
import type { ScenarioGateway } from "./lane-gateway";
import { EntryVerbs } from "./entry-verbs";

export class LaneFaults extends EntryVerbs {
  /** The scenario's gateway (set at boot). */
  protected site!: ScenarioGateway;

  /** Noise on the gateway → board wire (garbage, a frame with a bad CRC, an over-long line). */
  serialNoise(laneId: string, board: "exit" | "barrier"): void {
    const link = board === "exit" ? this.lane(laneId).exitLink : this.lane(laneId).barrierLink;
    this.fault(`serial noise on the ${board} link`, laneId);
    const enc = (s: string) => new Uint8Array([...s].map((c) => c.charCodeAt(0) & 0xff));
    link.injectToBoard(enc("\x00\xff~~garbage~~\n"));
    link.injectToBoard(enc("1 OPEN cmd=9*0000\n"));
    link.injectToBoard(enc(`${"X".repeat(400)}\n`));
    link.injectFromBoard(enc("7 BARRIER state=open pos=100*FFFF\n"));
  }

  jam(laneId: string, on = true): void { this.fault(on ? "boom jammed" : "jam cleared", laneId); this.lane(laneId).field.jam(on); }
  obstruct(laneId: string, on = true): void { this.fault(on ? "obstruction under the boom" : "obstruction cleared", laneId); this.lane(laneId).field.vehicleUnder(on); }
  emergency(laneId: string, on = true): void { this.fault(on ? "emergency input active" : "emergency input released", laneId); this.lane(laneId).field.emergency(on); }
  freezeHeartbeat(laneId: string, on = true): void { this.fault(on ? "barrier MCU heartbeat frozen" : "heartbeat resumes", laneId); this.lane(laneId).field.freezeHeartbeat(on); }
  async resetBoard(laneId: string, board: "exit" | "barrier"): Promise<void> { this.fault(`${board} board reset`, laneId); await this.lane(laneId).field.reset(board); }
  async cloudBrokerDown(): Promise<void> { this.fault("cloud broker unreachable"); await this.proxy.stop(); }
  async cloudBrokerUp(): Promise<void> { this.fault("cloud broker back"); await this.proxy.start(); }

  /** The gateway process dies (no graceful offline) and starts again on the same data directory and cables. */
  async restartGateway(): Promise<void> {
    this.fault("gateway restart");
    await this.site.stopRecorder();
    await this.site.close(false);
    this.gateway = await this.site.start();
    await this.waitUntil(() => this.gateway.services.bridge.connected, 10_000, "the restarted gateway's bridge to connect");
  }
}
