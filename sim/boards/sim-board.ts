/**
 * What the simulated boards (exit controller, barrier executor) share: the lin manifest config
 * with the harness's overrides, the boot count, a power cycle of the MCU (the firmware starts
 * again from scratch with the next boot count; the field and the gateway wire stay as they are)
 * and the close.
 */
import { loadManifestConfig } from "./manifest-config";

export interface SimBoardOptions {
  lane?: string;
  bootCount?: number;
  /** Overrides of the manifest config (lin platform). */
  config?: Record<string, unknown>;
}

export abstract class SimulatedBoard<B extends { close(): void }, O extends SimBoardOptions, T extends { close(): Promise<void> }> {
  board!: B;
  protected config!: Record<string, unknown>;
  protected bootCount: number;

  protected constructor(protected readonly options: O, protected readonly transport: T) {
    this.bootCount = options.bootCount ?? 1;
  }

  get lane(): string { return String(this.config.lane); }

  /** Starts the firmware on a fresh board (sets `board`). */
  protected abstract boot(): void;

  /** The board's lin manifest config with the options' overrides (lane, config), as `config`. */
  protected loadConfig(firmware: "exit-controller" | "entry-terminal" | "barrier-executor"): Record<string, unknown> {
    const overrides: Record<string, unknown> = { ...(this.options.config ?? {}) };
    if (this.options.lane) overrides.lane = this.options.lane;
    this.config = loadManifestConfig(firmware, "lin", overrides);
    return this.config;
  }

  /** A power cycle of the MCU: the firmware starts again from scratch with the next boot count. */
  powerCycle(): void {
    this.board.close();
    this.bootCount++;
    this.boot();
  }

  async close(): Promise<void> {
    this.board.close();
    await this.transport.close();
  }
}
