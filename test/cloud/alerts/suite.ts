/**
 * The alerter on a real database (run on PGlite and on the PostgreSQL server), sending to the
 * fake Telegram Bot API server (test/doubles/fake-telegram.ts, a labelled test double). Rounds are
 * run with `runOnce(now)` at chosen instants, so nothing here waits on a clock.
 */
import { expect } from "chai";
import pino from "pino";
import { Alerter, PERMANENT_ATTEMPTS } from "../../../cloud/alerts/alerter";
import { DEFAULT_THRESHOLDS, type AlertThresholds } from "../../../cloud/alerts/config";
import { TelegramClient, type MessageSender } from "../../../cloud/alerts/telegram";
import type { Database } from "../../../cloud/db/index";
import { silentLogger } from "../../../host/log";
import { startFakeTelegram, type FakeTelegram } from "../../doubles/fake-telegram";
import { clearAlarms, declinedPayments, failedWebhook, gatewayStatus, minutes, newSite, outboxRows, quiet, raiseAlarm, seconds } from "./fixtures";

const TOKEN = "555000111:AAalerts-suite_secret_token_abcdefghij";
const CHAT = "-1009876543210";

export function alertsSuite(title: string, opts: { open(ctx: Mocha.Context): Promise<Database>; close(db: Database): Promise<void>; concurrent: boolean }): void {
  describe(title, function () {
    this.timeout(60_000);
    let db: Database;
    let fake: FakeTelegram;
    before(async function () {
      this.timeout(120_000);
      db = await opts.open(this);
      fake = await startFakeTelegram({ token: TOKEN, chatId: CHAT });
    });
    after(async () => {
      await fake?.close();
      if (db) await opts.close(db);
    });
    beforeEach(async () => {
      await quiet(db);
      fake.messages.length = 0;
      fake.requests.length = 0;
    });

    const texts = () => fake.messages.map((m) => m.text);
    const alerter = (o: { thresholds?: Partial<AlertThresholds>; chatId?: string; logger?: pino.Logger; telegram?: MessageSender } = {}) =>
      new Alerter({
        db,
        logger: o.logger ?? silentLogger,
        telegram: o.telegram ?? new TelegramClient({ token: TOKEN, apiBase: fake.url }),
        chatId: o.chatId ?? CHAT,
        thresholds: { ...DEFAULT_THRESHOLDS, ...o.thresholds },
      });

    it("each condition raises exactly one message, then one 'resolved' message when it clears; repeated rounds send nothing new", async () => {
      const now = new Date();
      const site = await newSite(db);
      await raiseAlarm(db, { siteId: site, code: "EXECUTOR_LINK", severity: "fault", detail: "barrier executor link down", at: minutes(now, -1) });
      await raiseAlarm(db, { siteId: site, laneId: "l2", code: "OBSTRUCTION", severity: "alarm", at: minutes(now, -1) });
      await gatewayStatus(db, site, "offline", minutes(now, -7));
      await outboxRows(db, site, 3, minutes(now, -2));
      await failedWebhook(db, minutes(now, -3));
      await declinedPayments(db, site, "l1", 3, minutes(now, -4));
      const a = alerter({ thresholds: { outboxBacklog: 3 } });

      await a.runOnce(now);
      expect(texts()).to.have.length(6);
      expect(texts()).to.include.members([
        `🚨 ${site} / L1: executor fault / défaut exécuteur EXECUTOR_LINK (barrier executor link down)`,
        `🚨 ${site} / l2: safety alarm / alarme sécurité OBSTRUCTION`,
        `⚠️ ${site} / L1: 3 payments declined in 15 min / paiements refusés`,
      ]);
      expect(texts().find((t) => t.includes("gateway offline"))).to.match(new RegExp(`^⚠️ ${site}: gateway offline / passerelle hors ligne since \\d\\d:\\d\\d \\(Europe/Paris\\), 7 min$`));
      expect(texts().find((t) => t.includes("outbox") || t.includes("unpublished"))).to.match(/^⚠️ cloud: 3 messages to sites unpublished for over 60 s/);
      expect(texts().find((t) => t.includes("webhooks"))).to.match(/^⚠️ stripe webhooks: 1 failed in 15 min .*payment_intent\.succeeded: session not found/);

      await a.runOnce(seconds(now, 5));
      await a.runOnce(seconds(now, 10));
      expect(texts()).to.have.length(6);

      const later = minutes(now, 3);
      await clearAlarms(db, site, later);
      await gatewayStatus(db, site, "online", later);
      await db.sql`UPDATE outbox SET published_at = ${later} WHERE published_at IS NULL`;
      await db.sql`UPDATE webhook_events SET status = 'processed' WHERE status = 'failed'`;
      await db.sql`UPDATE payments SET updated_at = ${minutes(later, -20)} WHERE state = 'failed'`;
      await a.runOnce(later);
      const resolved = texts().slice(6);
      expect(resolved).to.have.length(6);
      for (const t of resolved) expect(t).to.match(/^✅ .* — resolved after 3 min \/ résolu après 3 min$/);
      expect(resolved).to.include(`✅ ${site} / L1: executor fault / défaut exécuteur EXECUTOR_LINK (barrier executor link down) — resolved after 3 min / résolu après 3 min`);

      await a.runOnce(seconds(later, 5));
      expect(texts()).to.have.length(12);
      const rows = await db.sql<{ n: number }[]>`SELECT count(*)::int4 AS n FROM alert_conditions WHERE resolved_sent_at IS NOT NULL AND raised_sent_at IS NOT NULL AND last_error IS NULL`;
      expect(rows[0].n).to.equal(6);
    });

    it("nothing below the thresholds: a warning, a cleared alarm, a short outage, young outbox rows, two declines", async () => {
      const now = new Date();
      const site = await newSite(db);
      await raiseAlarm(db, { siteId: site, code: "LOW_PAPER", severity: "warning", at: now });
      const cleared = await raiseAlarm(db, { siteId: site, code: "EXECUTOR_LINK", severity: "fault", at: minutes(now, -5) });
      await db.sql`UPDATE site_alarms SET cleared_at = ${now} WHERE alarm_id = ${cleared}`;
      await gatewayStatus(db, site, "offline", minutes(now, -4));
      await outboxRows(db, site, 5, seconds(now, -30));
      await declinedPayments(db, site, "l1", 2, minutes(now, -1));
      await declinedPayments(db, site, "l2", 3, minutes(now, -16));
      await alerter({ thresholds: { outboxBacklog: 5 } }).runOnce(now);
      expect(texts()).to.deep.equal([]);
    });

    it("a condition that clears and comes back raises again, even while its 'resolved' message is still owed", async () => {
      const now = new Date();
      const site = await newSite(db);
      const a = alerter();
      await raiseAlarm(db, { siteId: site, code: "OVERCURRENT", severity: "fault", at: now });
      await a.runOnce(now);
      await clearAlarms(db, site, minutes(now, 1));
      await a.runOnce(minutes(now, 1));
      await raiseAlarm(db, { siteId: site, code: "OVERCURRENT", severity: "fault", at: minutes(now, 2) });
      await a.runOnce(minutes(now, 2));
      expect(texts()).to.deep.equal([
        `🚨 ${site} / L1: executor fault / défaut exécuteur OVERCURRENT`,
        `✅ ${site} / L1: executor fault / défaut exécuteur OVERCURRENT — resolved after 1 min / résolu après 1 min`,
        `🚨 ${site} / L1: executor fault / défaut exécuteur OVERCURRENT`,
      ]);

      // Clears again, but Telegram is down when the 'resolved' message should go; it comes back meanwhile.
      await clearAlarms(db, site, minutes(now, 3));
      fake.failNext(1, 500);
      await a.runOnce(minutes(now, 3));
      expect(texts()).to.have.length(3);
      await raiseAlarm(db, { siteId: site, code: "OVERCURRENT", severity: "fault", at: minutes(now, 4) });
      await a.runOnce(minutes(now, 4));
      expect(texts().slice(3)).to.deep.equal([
        `✅ ${site} / L1: executor fault / défaut exécuteur OVERCURRENT — resolved after 1 min / résolu après 1 min`,
        `🚨 ${site} / L1: executor fault / défaut exécuteur OVERCURRENT`,
      ]);
      const rows = await db.sql<{ conditionKey: string; resolvedAt: Date | null }[]>`SELECT condition_key, resolved_at FROM alert_conditions ORDER BY raised_at`;
      expect(rows).to.have.length(3);
      expect(rows.filter((r) => r.resolvedAt === null).map((r) => r.conditionKey)).to.deep.equal([`alarm:${site}:l1:OVERCURRENT`]);
    });

    it("a 429 is honoured: nothing before its retry_after, then the message delivered once", async () => {
      const now = new Date();
      const site = await newSite(db);
      await gatewayStatus(db, site, "offline", minutes(now, -10));
      fake.failNext(1, 429, 3);
      const a = alerter();
      await a.runOnce(now);
      expect(fake.requests.map((r) => r.status)).to.deep.equal([429]);
      const [row] = await db.sql<{ attempts: number; lastError: string; nextAttemptAt: Date }[]>`SELECT attempts, last_error, next_attempt_at FROM alert_conditions`;
      expect(row).to.deep.include({ attempts: 1, lastError: "Telegram 429: Too Many Requests: retry after 3" });
      expect(row.nextAttemptAt.getTime()).to.equal(seconds(now, 3).getTime());
      await a.runOnce(seconds(now, 2));
      expect(fake.requests).to.have.length(1);
      await a.runOnce(seconds(now, 3));
      await a.runOnce(seconds(now, 8));
      expect(fake.requests.map((r) => r.status)).to.deep.equal([429, 200]);
      expect(texts()).to.have.length(1);
    });

    it("a server error backs off exponentially and the message still goes once", async () => {
      const now = new Date();
      const site = await newSite(db);
      await gatewayStatus(db, site, "offline", minutes(now, -10));
      fake.failNext(2, 500);
      const a = alerter();
      await a.runOnce(now); // 500, next try after 5 s
      await a.runOnce(seconds(now, 4));
      await a.runOnce(seconds(now, 5)); // 500, next try after 10 s more
      await a.runOnce(seconds(now, 14));
      expect(fake.requests.map((r) => r.status)).to.deep.equal([500, 500]);
      await a.runOnce(seconds(now, 15));
      await a.runOnce(seconds(now, 60));
      expect(fake.requests.map((r) => r.status)).to.deep.equal([500, 500, 200]);
      expect(texts()).to.have.length(1);
    });

    it("a permanent refusal (chat not found) is logged once, given up after a few attempts, and the token never logged", async () => {
      const now = new Date();
      const site = await newSite(db);
      await raiseAlarm(db, { siteId: site, code: "A", severity: "fault", at: now });
      await raiseAlarm(db, { siteId: site, code: "B", severity: "fault", at: now });
      const lines: string[] = [];
      const logger = pino({ level: "debug" }, { write: (s: string) => void lines.push(s) });
      const a = alerter({ chatId: "-100111", logger, telegram: new TelegramClient({ token: TOKEN, apiBase: fake.url, logger }) });
      for (let i = 0; i < 10; i++) await a.runOnce(minutes(now, i));
      expect(fake.requests.map((r) => r.status)).to.deep.equal(Array(2 * PERMANENT_ATTEMPTS).fill(400));
      const errors = lines.map((l) => JSON.parse(l) as { level: number; msg: string }).filter((l) => l.level >= 50);
      expect(errors).to.have.length(1);
      expect(errors[0].msg).to.match(/Telegram refused the message/);
      const rows = await db.sql<{ lastError: string; raisedSentAt: Date | null }[]>`SELECT last_error, raised_sent_at FROM alert_conditions`;
      for (const r of rows) expect(r.lastError).to.equal(`given up after ${PERMANENT_ATTEMPTS} attempts: Telegram 400: Bad Request: chat not found`);
      for (const l of lines) expect(l).to.not.include(TOKEN.split(":")[1]);
    });

    it("at most 20 messages a minute: a burst beyond waits for the next minute", async () => {
      const now = new Date();
      const site = await newSite(db);
      for (let i = 0; i < 25; i++) await raiseAlarm(db, { siteId: site, code: `C${String(i).padStart(2, "0")}`, severity: "alarm", at: now });
      const a = alerter();
      await a.runOnce(now);
      expect(texts()).to.have.length(20);
      await a.runOnce(seconds(now, 30));
      expect(texts()).to.have.length(20);
      await a.runOnce(seconds(now, 61));
      expect(texts()).to.have.length(25);
      expect(new Set(texts()).size).to.equal(25);
    });

    it("two alerters on the same database send one message per condition", async () => {
      const now = new Date();
      const site = await newSite(db);
      for (let i = 0; i < 8; i++) await raiseAlarm(db, { siteId: site, code: `F${i}`, severity: "fault", at: now });
      await gatewayStatus(db, site, "offline", minutes(now, -30));
      const [a, b] = [alerter(), alerter()];
      // Rounds of both at once, their clocks a second apart (a claim is leased for minutes).
      await Promise.all([a.runOnce(now), b.runOnce(now), a.runOnce(seconds(now, 1)), b.runOnce(seconds(now, 1))]);
      expect(texts()).to.have.length(9);
      expect(new Set(texts()).size).to.equal(9);
      await clearAlarms(db, site, minutes(now, 1));
      await gatewayStatus(db, site, "online", minutes(now, 1));
      const later = minutes(now, 1);
      await Promise.all([a.runOnce(later), b.runOnce(later), a.runOnce(seconds(later, 1)), b.runOnce(seconds(later, 1))]);
      expect(texts()).to.have.length(18);
      expect(texts().slice(9).every((t) => t.startsWith("✅"))).to.equal(true);
    });

    it("no transaction is open while Telegram answers: the database serves others meanwhile", async () => {
      const now = new Date();
      const site = await newSite(db);
      await raiseAlarm(db, { siteId: site, code: "SLOW", severity: "fault", at: now });
      let called!: () => void;
      let answer!: () => void;
      const sending = new Promise<void>((r) => (called = r));
      const slow: MessageSender = {
        sendMessage: () => {
          called();
          return new Promise((r) => (answer = () => r({ messageId: 1 })));
        },
      };
      const round = alerter({ telegram: slow }).runOnce(now);
      await sending;
      // On PGlite (one connection) this would wait forever behind an open transaction.
      const [row] = await db.sql<{ n: number }[]>`SELECT count(*)::int4 AS n FROM alert_conditions WHERE raised_sent_at IS NULL`;
      expect(row.n).to.equal(1);
      answer();
      await round;
      const [after] = await db.sql<{ n: number }[]>`SELECT count(*)::int4 AS n FROM alert_conditions WHERE raised_sent_at IS NULL`;
      expect(after.n).to.equal(0);
    });

    it("runs on its own timer: start() sends, stop() ends it", async () => {
      const site = await newSite(db);
      await raiseAlarm(db, { siteId: site, code: "TIMER", severity: "fault", at: new Date() });
      const a = new Alerter({ db, logger: silentLogger, telegram: new TelegramClient({ token: TOKEN, apiBase: fake.url }), chatId: CHAT, thresholds: DEFAULT_THRESHOLDS, periodMs: 50 });
      a.start();
      const deadline = Date.now() + 20_000;
      while (fake.messages.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      await a.stop();
      expect(a.status.running).to.equal(false);
      expect(texts()).to.deep.equal([`🚨 ${site} / L1: executor fault / défaut exécuteur TIMER`]);
    });
  });
}
