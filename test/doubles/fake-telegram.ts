/**
 * TEST DOUBLE — a fake Telegram Bot API server, for tests only (Telegram cannot be reached here).
 *
 * A real HTTP server (node:http) on 127.0.0.1, OS-assigned port, answering
 * `POST /bot<token>/sendMessage` the way api.telegram.org does: JSON or form-encoded body;
 * `{ok: true, result: Message}` on success; `{ok: false, error_code, description}` otherwise with
 * the same status codes and descriptions —
 *   wrong token                      → 401 "Unauthorized"
 *   unknown method / path            → 404 "Not Found"
 *   chat_id missing                  → 400 "Bad Request: chat_id is empty"
 *   chat_id not the configured chat  → 400 "Bad Request: chat not found"
 *   text missing or blank            → 400 "Bad Request: message text is empty"
 *   text over 4096 characters        → 400 "Bad Request: message is too long"
 *   flood control (failNext 429)     → 429 "Too Many Requests: retry after N", parameters.retry_after
 * It records every message it accepted (`messages`) and every request it answered (`requests`);
 * `failNext(n, status, retryAfter?)` makes the next n sendMessage calls fail (429 or a 5xx).
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface FakeTelegramMessage {
  messageId: number;
  chatId: string;
  text: string;
  disableWebPagePreview: boolean;
  at: Date;
}

export interface FakeTelegram {
  /** Base URL to give as TELEGRAM_API_BASE, e.g. http://127.0.0.1:41234 */
  url: string;
  messages: FakeTelegramMessage[];
  /** Every request: its path (token included, as the real server sees it) and the status answered. */
  requests: { path: string; status: number }[];
  failNext(n: number, status: number, retryAfter?: number): void;
  close(): Promise<void>;
}

const MAX_TEXT = 4096;

export async function startFakeTelegram(opts: { token: string; chatId: string }): Promise<FakeTelegram> {
  const messages: FakeTelegramMessage[] = [];
  const requests: { path: string; status: number }[] = [];
  const failures: { status: number; retryAfter?: number }[] = [];
  let nextId = 1;

  const answer = (res: ServerResponse, path: string, status: number, body: object, headers: Record<string, string> = {}) => {
    requests.push({ path, status });
    res.writeHead(status, { "content-type": "application/json", ...headers });
    res.end(JSON.stringify(body));
  };
  const refuse = (res: ServerResponse, path: string, status: number, description: string, extra: object = {}, headers: Record<string, string> = {}) =>
    answer(res, path, status, { ok: false, error_code: status, description, ...extra }, headers);

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://x");
    const path = url.pathname;
    const m = /^\/bot([^/]+)\/([A-Za-z]+)$/.exec(path);
    if (!m) return refuse(res, path, 404, "Not Found");
    if (m[1] !== opts.token) return refuse(res, path, 401, "Unauthorized");
    if (m[2].toLowerCase() !== "sendmessage") return refuse(res, path, 404, "Not Found");
    // Like Telegram: parameters in the query string or the body (JSON or form-encoded).
    const params = { ...Object.fromEntries(url.searchParams), ...parseBody(await readBody(req), req.headers["content-type"] ?? "") };
    const fail = failures.shift();
    if (fail?.status === 429) {
      const after = fail.retryAfter ?? 1;
      return refuse(res, path, 429, `Too Many Requests: retry after ${after}`, { parameters: { retry_after: after } }, { "retry-after": String(after) });
    }
    if (fail) return refuse(res, path, fail.status, fail.status === 502 ? "Bad Gateway" : "Internal Server Error");
    const chatId = params.chat_id === undefined || params.chat_id === null ? "" : String(params.chat_id);
    if (!chatId) return refuse(res, path, 400, "Bad Request: chat_id is empty");
    if (chatId !== opts.chatId) return refuse(res, path, 400, "Bad Request: chat not found");
    const text = typeof params.text === "string" ? params.text : "";
    if (!text.trim()) return refuse(res, path, 400, "Bad Request: message text is empty");
    if (text.length > MAX_TEXT) return refuse(res, path, 400, "Bad Request: message is too long");
    const msg: FakeTelegramMessage = { messageId: nextId++, chatId, text, disableWebPagePreview: params.disable_web_page_preview === true || params.disable_web_page_preview === "true", at: new Date() };
    messages.push(msg);
    const botId = Number(opts.token.split(":")[0]);
    return answer(res, path, 200, {
      ok: true,
      result: {
        message_id: msg.messageId,
        from: { id: botId, is_bot: true, first_name: "SysPark test bot", username: "syspark_test_bot" },
        chat: /^-/.test(chatId) ? { id: Number(chatId), title: "SysPark test", type: "supergroup" } : { id: Number(chatId) || chatId, type: "private" },
        date: Math.floor(msg.at.getTime() / 1000),
        text,
      },
    });
  };

  const server = createServer((req, res) => {
    if (req.method !== "POST" && req.method !== "GET") return refuse(res, req.url ?? "/", 405, "Method Not Allowed");
    handle(req, res).catch(() => refuse(res, req.url ?? "/", 400, "Bad Request: can't parse request body"));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    messages,
    requests,
    failNext(n, status, retryAfter) {
      for (let i = 0; i < n; i++) failures.push({ status, ...(retryAfter !== undefined ? { retryAfter } : {}) });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => (data += c));
    req.on("end", () => resolve(data));
    req.on("error", reject);
  });
}

function parseBody(body: string, contentType: string): Record<string, unknown> {
  if (!body) return {};
  if (contentType.includes("application/json")) {
    const v = JSON.parse(body) as unknown;
    if (!v || typeof v !== "object") throw new Error("not an object");
    return v as Record<string, unknown>;
  }
  return Object.fromEntries(new URLSearchParams(body));
}
