/**
 * The alerts' configuration, from the environment only (the bot token is a secret: never a
 * command-line option, never logged). Alerts are off unless both TELEGRAM_BOT_TOKEN and
 * TELEGRAM_CHAT_ID are set; one without the other is a mistake and refused, naming the missing
 * variable. Error messages name the variable and never repeat a secret's value.
 *
 * | env                      | meaning                                                         | default                  |
 * |--------------------------|-----------------------------------------------------------------|--------------------------|
 * | TELEGRAM_BOT_TOKEN       | the bot's token (from @BotFather), `<digits>:<secret>`          | — (alerts off)           |
 * | TELEGRAM_CHAT_ID         | where to send: a chat id (`-100…` for a group) or `@channel`    | — (alerts off)           |
 * | TELEGRAM_API_BASE        | Bot API base URL                                                | https://api.telegram.org |
 * | ALERT_GATEWAY_OFFLINE_MIN| a gateway offline this many minutes raises an alert (decimals   | 5                        |
 * |                          | allowed, e.g. 0.05 = 3 s: a test site that cannot wait minutes) |                          |
 * | ALERT_OUTBOX_BACKLOG     | this many outbox rows unpublished for over 60 s raise an alert  | 100                      |
 * | ALERT_DECLINES_PER_LANE  | this many failed payments at one lane within 15 min             | 3                        |
 * | ALERT_WEBHOOK_FAILURES   | this many failed webhook events (per provider) within 15 min    | 1                        |
 * | ALERT_PERIOD_MS          | how often the conditions are evaluated                          | 5000                     |
 */
import { z } from "zod";

export interface AlertThresholds {
  gatewayOfflineMin: number;
  outboxBacklog: number;
  declinesPerLane: number;
  webhookFailures: number;
}

export interface AlertConfig {
  token: string;
  chatId: string;
  apiBase: string;
  thresholds: AlertThresholds;
  periodMs: number;
}

export const DEFAULT_THRESHOLDS: AlertThresholds = { gatewayOfflineMin: 5, outboxBacklog: 100, declinesPerLane: 3, webhookFailures: 1 };

export class AlertConfigError extends Error {
  override readonly name = "AlertConfigError";
}

/** "" counts as unset (an empty `KEY=` line in an env file). */
const optional = <T extends z.ZodType>(schema: T) => z.preprocess((v) => (v === "" ? undefined : v), schema.optional());

const int = (name: string, min: number, max: number, dflt: number) =>
  optional(
    z
      .string()
      .regex(/^\d+$/, `${name} must be a whole number`)
      .transform(Number)
      .refine((n) => n >= min && n <= max, `${name} must be between ${min} and ${max}`),
  ).transform((n) => n ?? dflt);

/** Minutes with up to 3 decimals (a whole number still reads as before). */
const minutes = (name: string, min: number, max: number, dflt: number) =>
  optional(
    z
      .string()
      .regex(/^\d+(\.\d{1,3})?$/, `${name} must be a whole number or a decimal (e.g. 5 or 0.5)`)
      .transform(Number)
      .refine((n) => n >= min && n <= max, `${name} must be between ${min} and ${max}`),
  ).transform((n) => n ?? dflt);

const EnvSchema = z.object({
  // The message never quotes the value: it is a secret.
  TELEGRAM_BOT_TOKEN: optional(z.string().regex(/^\d{1,20}:[A-Za-z0-9_-]{20,100}$/, "TELEGRAM_BOT_TOKEN must look like 123456789:AA… (the token @BotFather gave)")),
  TELEGRAM_CHAT_ID: optional(
    z.string().regex(/^(-?\d{1,20}|@[A-Za-z][A-Za-z0-9_]{3,31})$/, "TELEGRAM_CHAT_ID must be a numeric chat id (e.g. -1001234567890) or a @channel name"),
  ),
  TELEGRAM_API_BASE: optional(
    z.string().refine((s) => {
      try {
        return ["http:", "https:"].includes(new URL(s).protocol);
      } catch {
        return false;
      }
    }, "TELEGRAM_API_BASE must be a URL starting with http:// or https://"),
  ),
  ALERT_GATEWAY_OFFLINE_MIN: minutes("ALERT_GATEWAY_OFFLINE_MIN", 0.05, 10_080, DEFAULT_THRESHOLDS.gatewayOfflineMin),
  ALERT_OUTBOX_BACKLOG: int("ALERT_OUTBOX_BACKLOG", 1, 10_000_000, DEFAULT_THRESHOLDS.outboxBacklog),
  ALERT_DECLINES_PER_LANE: int("ALERT_DECLINES_PER_LANE", 1, 1000, DEFAULT_THRESHOLDS.declinesPerLane),
  ALERT_WEBHOOK_FAILURES: int("ALERT_WEBHOOK_FAILURES", 1, 100_000, DEFAULT_THRESHOLDS.webhookFailures),
  ALERT_PERIOD_MS: int("ALERT_PERIOD_MS", 500, 3_600_000, 5000),
});

/**
 * The alerts' settings, or undefined when no Telegram bot is configured (alerts off). The
 * thresholds are checked even then, so that a typo does not wait for the day the bot is set.
 * Throws AlertConfigError naming the variable.
 */
export function alertConfigFromEnv(env: Record<string, string | undefined>): AlertConfig | undefined {
  const r = EnvSchema.safeParse(env);
  if (!r.success) {
    const issue = r.error.issues[0];
    const name = String(issue.path[0] ?? "environment");
    throw new AlertConfigError(issue.message.includes(name) ? issue.message : `${name}: ${issue.message}`);
  }
  const e = r.data;
  if (!e.TELEGRAM_BOT_TOKEN && !e.TELEGRAM_CHAT_ID) return undefined;
  if (!e.TELEGRAM_BOT_TOKEN) throw new AlertConfigError("TELEGRAM_CHAT_ID is set but TELEGRAM_BOT_TOKEN is missing: set both to send alerts to Telegram, or neither");
  if (!e.TELEGRAM_CHAT_ID) throw new AlertConfigError("TELEGRAM_BOT_TOKEN is set but TELEGRAM_CHAT_ID is missing: set both to send alerts to Telegram, or neither");
  return {
    token: e.TELEGRAM_BOT_TOKEN,
    chatId: e.TELEGRAM_CHAT_ID,
    apiBase: (e.TELEGRAM_API_BASE ?? "https://api.telegram.org").replace(/\/+$/, ""),
    thresholds: {
      gatewayOfflineMin: e.ALERT_GATEWAY_OFFLINE_MIN,
      outboxBacklog: e.ALERT_OUTBOX_BACKLOG,
      declinesPerLane: e.ALERT_DECLINES_PER_LANE,
      webhookFailures: e.ALERT_WEBHOOK_FAILURES,
    },
    periodMs: e.ALERT_PERIOD_MS,
  };
}
