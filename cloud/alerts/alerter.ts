/**
 * The alerter (issue 17): every `periodMs`, on its own timer, it evaluates what is wrong
 * (./conditions.ts), records raised / resolved occurrences in `alert_conditions` (./store.ts) and
 * sends what is owed to Telegram: one message when a condition is raised, one when it clears
 * ("✅ … resolved after 3 min"), never two for the same occurrence even with several cloud
 * instances running it.
 *
 * It never holds anything else up: it shares no code path with site events; no transaction is
 * open while Telegram answers; a slow or unreachable Telegram only delays the alerts themselves
 * (each call times out, failures back off exponentially, a 429's `retry_after` is honoured).
 * At most `perMinute` messages go out per minute (Telegram's per-chat limit is about 20), counted
 * in the database so that it holds for all instances together; a burst beyond it waits for the
 * next rounds. A permanent refusal (chat not found, bad token) is logged once and the message
 * given up after a few attempts. Errors never escape the timer (host/wakeable-loop.ts logs them).
 */
import type { Logger } from "../../host/log";
import { WakeableLoop } from "../../host/wakeable-loop";
import type { Database } from "../db/index";
import type { AlertThresholds } from "./config";
import { evaluateConditions } from "./conditions";
import { raisedText, resolvedText } from "./messages";
import { claimOwed, lockAlerts, markFailed, markSent, release, sendBudget, syncConditions, type AlertRow } from "./store";
import { TelegramError, type MessageSender } from "./telegram";

export interface AlerterOptions {
  db: Database;
  logger: Logger;
  telegram: MessageSender;
  chatId: string;
  thresholds: AlertThresholds;
  /** Evaluation period (ms, default 5000: ALERT_PERIOD_MS). */
  periodMs?: number;
  /** Messages per minute, all instances together (default 20). */
  perMinute?: number;
  /**
   * How long a claimed batch is this instance's (ms, default 300 000): longer than sending a
   * batch can take (each call times out after 10 s). A crashed instance's claims wait this long.
   */
  leaseMs?: number;
}

/** Rows claimed per transaction: small, so that a burst is shared between instances. */
const BATCH = 10;
const BACKOFF_BASE_MS = 5_000;
const BACKOFF_MAX_MS = 10 * 60_000;
/** A permanent refusal is tried this many times (the operator may fix the chat meanwhile), then given up. */
export const PERMANENT_ATTEMPTS = 3;

export function backoffMs(attempts: number): number {
  return Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, Math.min(attempts - 1, 20)));
}

type Outcome = { stop: false } | { stop: true; resumeAt: Date };

export class Alerter {
  private readonly loop: WakeableLoop;
  private readonly perMinute: number;
  private readonly leaseMs: number;
  /** Permanent errors already logged at error level (logged once each, then at debug). */
  private readonly reported = new Set<string>();
  private sent = 0;
  private failed = 0;
  private lastError: string | null = null;

  constructor(private readonly o: AlerterOptions) {
    this.perMinute = o.perMinute ?? 20;
    this.leaseMs = o.leaseMs ?? 300_000;
    this.loop = new WakeableLoop({ name: "alerter", logger: o.logger, periodMs: o.periodMs ?? 5000, wakeDelayMs: 0, pass: (more) => this.round(() => new Date(), more) });
  }

  get status(): { running: boolean; sent: number; failed: number; lastError: string | null } {
    return { running: this.loop.isRunning, sent: this.sent, failed: this.failed, lastError: this.lastError };
  }

  start(): void {
    this.loop.start();
  }

  /** Waits for the round under way (its unsent claims are released for the next start or instance). */
  async stop(): Promise<void> {
    await this.loop.stop();
  }

  /**
   * One round: evaluate, record, send what is owed. A test passes `now` and the whole round runs
   * at that instant; otherwise each step reads the clock (a round with slow answers may last).
   */
  async runOnce(now?: Date): Promise<void> {
    await this.round(now ? () => now : () => new Date(), () => true);
  }

  private async round(clock: () => Date, more: () => boolean): Promise<void> {
    const now = clock();
    const changed = await this.o.db.tx(async (tx) => {
      await lockAlerts(tx);
      return syncConditions(tx, await evaluateConditions(tx, this.o.thresholds, now), now);
    });
    if (changed.raised.length > 0 || changed.resolved.length > 0) this.o.logger.info(changed, "alerts: conditions changed");
    await this.deliver(clock, more);
  }

  /** Claims and sends owed messages until none is due, the minute's budget is spent, or Telegram asks to wait. */
  private async deliver(clock: () => Date, more: () => boolean): Promise<void> {
    while (more()) {
      const now = clock();
      const batch = await this.o.db.tx(async (tx) => {
        await lockAlerts(tx);
        return claimOwed(tx, Math.min(BATCH, await sendBudget(tx, this.perMinute, now)), now, new Date(now.getTime() + this.leaseMs));
      });
      if (batch.length === 0) return;
      for (let i = 0; i < batch.length; i++) {
        if (!more()) return this.releaseAll(batch.slice(i), clock());
        const outcome = await this.sendOne(batch[i], clock);
        if (outcome.stop) return this.releaseAll(batch.slice(i + 1), outcome.resumeAt);
      }
    }
  }

  private async releaseAll(rows: readonly AlertRow[], at: Date): Promise<void> {
    for (const row of rows) await release(this.o.db.sql, row, at);
  }

  private async sendOne(row: AlertRow, clock: () => Date): Promise<Outcome> {
    const which = row.raisedSentAt === null ? "raised" : "resolved";
    try {
      await this.o.telegram.sendMessage(this.o.chatId, which === "raised" ? raisedText(row) : resolvedText(row));
    } catch (err) {
      return this.failure(row, which, err, clock());
    }
    this.sent += 1;
    await markSent(this.o.db.sql, row, which, clock());
    return { stop: false };
  }

  private async failure(row: AlertRow, which: "raised" | "resolved", err: unknown, now: Date): Promise<Outcome> {
    // Anything but a TelegramError (a bug in a stand-in sender) is treated as retryable.
    const e = err instanceof TelegramError ? err : new TelegramError((err as Error)?.message ?? String(err), undefined, true);
    const attempts = row.attempts + 1;
    this.failed += 1;
    this.lastError = e.message;
    const ctx = { key: row.conditionKey, which, attempts, status: e.status, err: e.message };
    if (!e.retryable) {
      this.reportPermanent(e.message, ctx);
      if (attempts >= PERMANENT_ATTEMPTS) {
        this.o.logger.warn(ctx, "alerts: message given up");
        await markSent(this.o.db.sql, row, which, now, `given up after ${attempts} attempts: ${e.message}`);
      } else {
        await markFailed(this.o.db.sql, row, e.message, new Date(now.getTime() + backoffMs(attempts)));
      }
      return { stop: false };
    }
    this.o.logger.info(ctx, "alerts: Telegram failed, will retry");
    if (e.retryAfterS !== undefined) {
      // Telegram said how long to wait: nothing more goes out before then.
      const at = new Date(now.getTime() + e.retryAfterS * 1000);
      await markFailed(this.o.db.sql, row, e.message, at);
      return { stop: true, resumeAt: at };
    }
    await markFailed(this.o.db.sql, row, e.message, new Date(now.getTime() + backoffMs(attempts)));
    return { stop: true, resumeAt: now };
  }

  private reportPermanent(message: string, ctx: object): void {
    if (this.reported.has(message)) {
      this.o.logger.debug(ctx, "alerts: Telegram refused the message");
      return;
    }
    this.reported.add(message);
    this.o.logger.error(ctx, "alerts: Telegram refused the message (check TELEGRAM_BOT_TOKEN / TELEGRAM_CHAT_ID; logged once)");
  }
}
