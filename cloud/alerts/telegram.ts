/**
 * A small Telegram Bot API client: only `sendMessage`, which is all the alerts need (issue 17).
 *
 * POST `${apiBase}/bot${token}/sendMessage` with JSON `{chat_id, text, disable_web_page_preview}`.
 * Telegram answers `{ok: true, result: {message_id, …}}` or `{ok: false, error_code, description,
 * parameters?: {retry_after}}`. Failures are thrown as TelegramError, classified so the caller
 * knows whether trying again can help: network errors, timeouts, 5xx and 429 (with its
 * `retry_after` seconds) are retryable; 400/401/403/404 ("chat not found", "Unauthorized", bot
 * blocked) are permanent — the same request will fail the same way until an operator fixes the
 * configuration.
 *
 * The token is a secret and it sits in the URL: nothing this module throws or logs carries it
 * (every message goes through `redact`).
 */
import type { Logger } from "../../host/log";
import { silentLogger } from "../../host/log";

/** Telegram refuses longer texts ("message is too long"); we cut rather than lose the alert. */
export const TELEGRAM_MAX_TEXT = 4096;

export interface TelegramOptions {
  token: string;
  /** Default https://api.telegram.org (TELEGRAM_API_BASE points a test at its fake). */
  apiBase?: string;
  /** Each call gives up after this long (ms, default 10 000). */
  timeoutMs?: number;
  logger?: Logger;
}

export interface SentMessage {
  messageId: number;
}

/** What the caller may send through (the Alerter takes this, so a test can stand in for it). */
export interface MessageSender {
  sendMessage(chatId: string, text: string): Promise<SentMessage>;
}

export class TelegramError extends Error {
  override readonly name = "TelegramError";
  constructor(
    message: string,
    /** HTTP status, or undefined for a network error / timeout. */
    readonly status: number | undefined,
    /** Worth trying again later (network, timeout, 5xx, 429). */
    readonly retryable: boolean,
    /** 429: Telegram's `parameters.retry_after`, seconds. */
    readonly retryAfterS?: number,
  ) {
    super(message);
  }
}

const TOKEN_IN_PATH = /\/bot[^/\s]+/g;

interface TelegramAnswer {
  ok?: unknown;
  result?: { message_id?: unknown };
  error_code?: unknown;
  description?: unknown;
  parameters?: { retry_after?: unknown };
}

export class TelegramClient implements MessageSender {
  private readonly base: string;
  private readonly timeoutMs: number;
  private readonly logger: Logger;

  constructor(private readonly o: TelegramOptions) {
    if (!o.token) throw new Error("TelegramClient: a bot token is required");
    this.base = (o.apiBase ?? "https://api.telegram.org").replace(/\/+$/, "");
    this.timeoutMs = o.timeoutMs ?? 10_000;
    this.logger = o.logger ?? silentLogger;
  }

  /** Removes the token from any text (a URL, an error message from the network layer). */
  redact(text: string): string {
    return text.split(this.o.token).join("<token>").replace(TOKEN_IN_PATH, "/bot<token>");
  }

  async sendMessage(chatId: string, text: string): Promise<SentMessage> {
    const body = JSON.stringify({ chat_id: chatId, text: text.slice(0, TELEGRAM_MAX_TEXT), disable_web_page_preview: true });
    let res: Response;
    try {
      res = await fetch(`${this.base}/bot${this.o.token}/sendMessage`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      const e = err as Error & { cause?: { message?: string } };
      const why = e.name === "TimeoutError" ? `no answer within ${this.timeoutMs} ms` : [e.message, e.cause?.message].filter(Boolean).join(": ");
      throw this.fail(new TelegramError(`Telegram unreachable: ${this.redact(why)}`, undefined, true));
    }
    const answer = await readAnswer(res);
    if (res.ok && answer?.ok === true && typeof answer.result?.message_id === "number") return { messageId: answer.result.message_id };
    throw this.fail(classify(res.status, res.headers.get("retry-after"), answer, (s) => this.redact(s)));
  }

  private fail(err: TelegramError): TelegramError {
    this.logger.debug({ status: err.status, retryable: err.retryable, retryAfterS: err.retryAfterS, err: err.message, url: `${this.base}/bot<token>/sendMessage` }, "telegram sendMessage failed");
    return err;
  }
}

async function readAnswer(res: Response): Promise<TelegramAnswer | undefined> {
  try {
    const v = (await res.json()) as unknown;
    return v && typeof v === "object" ? (v as TelegramAnswer) : undefined;
  } catch {
    return undefined;
  }
}

function classify(status: number, retryAfterHeader: string | null, answer: TelegramAnswer | undefined, redact: (s: string) => string): TelegramError {
  const code = typeof answer?.error_code === "number" ? answer.error_code : status;
  const description = redact(typeof answer?.description === "string" ? answer.description : `HTTP ${status}`);
  if (code === 429) {
    const fromBody = answer?.parameters?.retry_after;
    const raw = typeof fromBody === "number" ? fromBody : Number(retryAfterHeader);
    // Telegram always sends retry_after with a 429; without it, a conservative default.
    const retryAfterS = Number.isFinite(raw) && raw >= 0 ? Math.min(raw, 3600) : 30;
    return new TelegramError(`Telegram ${code}: ${description}`, status, true, retryAfterS);
  }
  // A 2xx without ok:true (a proxy's page, a broken answer) is treated like a server error.
  const retryable = code >= 500 || (status >= 200 && status < 300) || status === 408;
  return new TelegramError(`Telegram ${code}: ${description}`, status, retryable);
}
