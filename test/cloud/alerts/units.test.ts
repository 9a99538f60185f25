/**
 * The alerts' configuration and the Telegram client, against the fake Telegram Bot API server
 * (test/doubles/fake-telegram.ts, a labelled test double: Telegram cannot be reached here).
 */
import { expect } from "chai";
import { createServer } from "node:net";
import pino from "pino";
import { AlertConfigError, alertConfigFromEnv } from "../../../cloud/alerts/config";
import { formatDuration, resolvedText } from "../../../cloud/alerts/messages";
import { TELEGRAM_MAX_TEXT, TelegramClient, TelegramError } from "../../../cloud/alerts/telegram";
import { startFakeTelegram, type FakeTelegram } from "../../doubles/fake-telegram";

const TOKEN = "123456789:AAtest-secret_token_0123456789abcdefXYZ";
const CHAT = "-1001234567890";

/** A pino logger at debug level writing into an array (to prove what is, and is not, logged). */
function capture(): { logger: pino.Logger; lines: string[] } {
  const lines: string[] = [];
  return { logger: pino({ level: "debug" }, { write: (s: string) => void lines.push(s) }), lines };
}

function configError(env: Record<string, string>): string {
  try {
    alertConfigFromEnv(env);
  } catch (err) {
    expect(err).to.be.instanceOf(AlertConfigError);
    return (err as Error).message;
  }
  throw new Error("no error");
}

describe("alerts: configuration from the environment", () => {
  it("is off (undefined) without a bot token and chat id, with the defaults otherwise", () => {
    expect(alertConfigFromEnv({})).to.equal(undefined);
    expect(alertConfigFromEnv({ TELEGRAM_BOT_TOKEN: "", TELEGRAM_CHAT_ID: "" })).to.equal(undefined);
    expect(alertConfigFromEnv({ TELEGRAM_BOT_TOKEN: TOKEN, TELEGRAM_CHAT_ID: CHAT })).to.deep.equal({
      token: TOKEN,
      chatId: CHAT,
      apiBase: "https://api.telegram.org",
      thresholds: { gatewayOfflineMin: 5, outboxBacklog: 100, declinesPerLane: 3, webhookFailures: 1 },
      periodMs: 5000,
    });
  });

  it("reads every variable", () => {
    const c = alertConfigFromEnv({
      TELEGRAM_BOT_TOKEN: TOKEN,
      TELEGRAM_CHAT_ID: "@syspark_ops",
      TELEGRAM_API_BASE: "http://127.0.0.1:9999/",
      ALERT_GATEWAY_OFFLINE_MIN: "10",
      ALERT_OUTBOX_BACKLOG: "50",
      ALERT_DECLINES_PER_LANE: "4",
      ALERT_WEBHOOK_FAILURES: "2",
      ALERT_PERIOD_MS: "1000",
    });
    expect(c).to.deep.include({ chatId: "@syspark_ops", apiBase: "http://127.0.0.1:9999", periodMs: 1000 });
    expect(c?.thresholds).to.deep.equal({ gatewayOfflineMin: 10, outboxBacklog: 50, declinesPerLane: 4, webhookFailures: 2 });
  });

  it("refuses one of the pair without the other, naming the missing variable", () => {
    expect(configError({ TELEGRAM_BOT_TOKEN: TOKEN })).to.match(/TELEGRAM_CHAT_ID is missing/);
    expect(configError({ TELEGRAM_CHAT_ID: CHAT })).to.match(/TELEGRAM_BOT_TOKEN is missing/);
  });

  it("refuses bad values naming the variable, and never repeats the token", () => {
    const bad = "not-a-token-but-a-secret";
    const m = configError({ TELEGRAM_BOT_TOKEN: bad, TELEGRAM_CHAT_ID: CHAT });
    expect(m).to.match(/^TELEGRAM_BOT_TOKEN/).and.not.include(bad);
    expect(configError({ TELEGRAM_BOT_TOKEN: TOKEN, TELEGRAM_CHAT_ID: "chat 1" })).to.match(/^TELEGRAM_CHAT_ID/);
    expect(configError({ TELEGRAM_API_BASE: "ftp://x" })).to.match(/^TELEGRAM_API_BASE/);
    expect(configError({ ALERT_GATEWAY_OFFLINE_MIN: "five" })).to.match(/^ALERT_GATEWAY_OFFLINE_MIN must be a whole number/);
    expect(configError({ ALERT_OUTBOX_BACKLOG: "0" })).to.match(/^ALERT_OUTBOX_BACKLOG must be between 1 and/);
    expect(configError({ ALERT_DECLINES_PER_LANE: "-1" })).to.match(/^ALERT_DECLINES_PER_LANE/);
    expect(configError({ ALERT_WEBHOOK_FAILURES: "1.5" })).to.match(/^ALERT_WEBHOOK_FAILURES/);
    expect(configError({ ALERT_PERIOD_MS: "10" })).to.match(/^ALERT_PERIOD_MS must be between 500 and/);
  });
});

describe("alerts: message texts", () => {
  it("says how long the condition lasted", () => {
    expect(formatDuration(20_000)).to.equal("<1 min");
    expect(formatDuration(3 * 60_000 + 59_000)).to.equal("3 min");
    expect(formatDuration(125 * 60_000)).to.equal("2 h 05");
    expect(formatDuration(75 * 3600_000)).to.equal("75 h");
    const raisedAt = new Date("2026-01-01T10:00:00Z");
    expect(resolvedText({ summary: "paris-centre / L1: executor fault X", raisedAt, resolvedAt: new Date(raisedAt.getTime() + 180_000) })).to.equal(
      "✅ paris-centre / L1: executor fault X — resolved after 3 min / résolu après 3 min",
    );
  });
});

describe("alerts: Telegram client against the fake Bot API", () => {
  let fake: FakeTelegram;
  before(async () => {
    fake = await startFakeTelegram({ token: TOKEN, chatId: CHAT });
  });
  after(() => fake.close());
  beforeEach(() => {
    fake.messages.length = 0;
    fake.requests.length = 0;
  });

  const failure = async (p: Promise<unknown>): Promise<TelegramError> => {
    try {
      await p;
    } catch (err) {
      expect(err).to.be.instanceOf(TelegramError);
      return err as TelegramError;
    }
    throw new Error("the call succeeded");
  };

  it("sends a message: POST /bot<token>/sendMessage with chat_id, text and no link preview", async () => {
    const client = new TelegramClient({ token: TOKEN, apiBase: fake.url });
    const r = await client.sendMessage(CHAT, "⚠️ paris-centre / L1: executor fault");
    expect(r.messageId).to.equal(fake.messages[0].messageId);
    expect(fake.messages).to.have.length(1);
    expect(fake.messages[0]).to.deep.include({ chatId: CHAT, text: "⚠️ paris-centre / L1: executor fault", disableWebPagePreview: true });
    expect(fake.requests).to.deep.equal([{ path: `/bot${TOKEN}/sendMessage`, status: 200 }]);
  });

  it("cuts a text over Telegram's 4096 characters rather than losing the alert", async () => {
    await new TelegramClient({ token: TOKEN, apiBase: fake.url }).sendMessage(CHAT, "x".repeat(5000));
    expect(fake.messages[0].text).to.have.length(TELEGRAM_MAX_TEXT);
  });

  it("classifies refusals: wrong token and unknown chat are permanent, 429 and 5xx retryable", async () => {
    const wrong = "987654321:ZZwrong-secret_token_0123456789abcdef";
    const e401 = await failure(new TelegramClient({ token: wrong, apiBase: fake.url }).sendMessage(CHAT, "hi"));
    expect(e401).to.deep.include({ status: 401, retryable: false });
    expect(e401.message).to.equal("Telegram 401: Unauthorized");
    const client = new TelegramClient({ token: TOKEN, apiBase: fake.url });
    const e400 = await failure(client.sendMessage("-100999", "hi"));
    expect(e400).to.deep.include({ status: 400, retryable: false });
    expect(e400.message).to.equal("Telegram 400: Bad Request: chat not found");
    fake.failNext(1, 429, 7);
    const e429 = await failure(client.sendMessage(CHAT, "hi"));
    expect(e429).to.deep.include({ status: 429, retryable: true, retryAfterS: 7 });
    fake.failNext(1, 500);
    expect(await failure(client.sendMessage(CHAT, "hi"))).to.deep.include({ status: 500, retryable: true });
    expect(fake.messages).to.have.length(0);
  });

  it("a network failure is retryable, and no error or log line ever carries the token", async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, "127.0.0.1", () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const { logger, lines } = capture();
    const down = new TelegramClient({ token: TOKEN, apiBase: `http://127.0.0.1:${port}`, logger });
    const e = await failure(down.sendMessage(CHAT, "hi"));
    expect(e).to.deep.include({ status: undefined, retryable: true });
    expect(e.message).to.match(/^Telegram unreachable/);
    const up = new TelegramClient({ token: TOKEN, apiBase: fake.url, logger });
    const refused = await failure(up.sendMessage("-100999", "hi"));
    expect(lines.length).to.be.greaterThan(1);
    const secret = TOKEN.split(":")[1];
    for (const text of [e.message, e.stack ?? "", refused.message, ...lines]) expect(text).to.not.include(secret);
    expect(up.redact(`POST ${fake.url}/bot${TOKEN}/sendMessage`)).to.equal(`POST ${fake.url}/bot<token>/sendMessage`);
  });
});

describe("test double: fake Telegram Bot API", () => {
  let fake: FakeTelegram;
  before(async () => {
    fake = await startFakeTelegram({ token: TOKEN, chatId: CHAT });
  });
  after(() => fake.close());

  it("answers like Telegram: 404 for an unknown path or method, 400 for a missing chat or text, and records nothing then", async () => {
    const post = async (path: string, body: object) => {
      const r = await fetch(`${fake.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      return { status: r.status, body: (await r.json()) as object };
    };
    expect(await post("/nothing", {})).to.deep.equal({ status: 404, body: { ok: false, error_code: 404, description: "Not Found" } });
    expect(await post(`/bot${TOKEN}/getNothing`, {})).to.deep.equal({ status: 404, body: { ok: false, error_code: 404, description: "Not Found" } });
    expect((await post(`/bot${TOKEN}/sendMessage`, { text: "x" })).body).to.deep.include({ error_code: 400, description: "Bad Request: chat_id is empty" });
    expect((await post(`/bot${TOKEN}/sendMessage`, { chat_id: CHAT })).body).to.deep.include({ error_code: 400, description: "Bad Request: message text is empty" });
    expect((await post(`/bot${TOKEN}/sendMessage`, { chat_id: CHAT, text: "y".repeat(4097) })).body).to.deep.include({ description: "Bad Request: message is too long" });
    fake.failNext(1, 429, 3);
    const limited = await post(`/bot${TOKEN}/sendMessage`, { chat_id: CHAT, text: "x" });
    expect(limited).to.deep.equal({ status: 429, body: { ok: false, error_code: 429, description: "Too Many Requests: retry after 3", parameters: { retry_after: 3 } } });
    expect(fake.messages).to.have.length(0);
    const ok = await post(`/bot${TOKEN}/sendMessage`, { chat_id: Number(CHAT), text: "x" });
    expect(ok.body).to.deep.include({ ok: true });
    expect(fake.messages).to.have.length(1);
  });
});
