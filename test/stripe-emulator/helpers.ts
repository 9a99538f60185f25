/**
 * Test fixtures: an emulator on a free port with fast webhook retries, the real `stripe`
 * client pointed at it, and a small webhook receiver that verifies every delivery with
 * `stripe.webhooks.constructEvent` — the way the cloud will.
 */
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import Stripe from "stripe";
import { createStripeEmulator, type StripeEmulator, type StripeEmulatorOptions } from "../../stripe-emulator";
import { silentLogger } from "../../host/log";

export const TEST_KEY = "sk_test_syspark_emulator_tests";
export const SECRET = "whsec_test_emulator_suite_secret";

export interface Received {
  event: Stripe.Event;
  raw: string;
  signature: string;
  status: number;
}

export interface Receiver {
  url: string;
  received: Received[];
  /** Events that failed signature verification (must stay empty). */
  rejected: string[];
  /** Decide the HTTP status for a verified event (default 200); `n` counts its deliveries so far. */
  respond: (event: Stripe.Event, n: number) => number;
  close(): Promise<void>;
}

export async function startReceiver(secret = SECRET): Promise<Receiver> {
  const verifier = new Stripe(TEST_KEY);
  const counts = new Map<string, number>();
  const r: Receiver = {
    url: "",
    received: [],
    rejected: [],
    respond: () => 200,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const raw = Buffer.concat(chunks).toString("utf8");
      const signature = String(req.headers["stripe-signature"] ?? "");
      let event: Stripe.Event;
      try {
        event = verifier.webhooks.constructEvent(raw, signature, secret, 300);
      } catch (err) {
        r.rejected.push((err as Error).message);
        res.statusCode = 400;
        res.end("bad signature");
        return;
      }
      const n = (counts.get(event.id) ?? 0) + 1;
      counts.set(event.id, n);
      const status = r.respond(event, n);
      r.received.push({ event, raw, signature, status });
      res.statusCode = status;
      res.end(status < 300 ? '{"received":true}' : "try again");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  r.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/stripe`;
  return r;
}

export interface Fixture {
  emu: StripeEmulator;
  stripe: Stripe;
  receiver: Receiver;
  close(): Promise<void>;
}

export async function startFixture(extra: Partial<StripeEmulatorOptions> = {}): Promise<Fixture> {
  const receiver = await startReceiver();
  const emu = await createStripeEmulator({
    webhookSecret: SECRET,
    webhookUrl: receiver.url,
    logger: silentLogger,
    webhookRetry: { maxAttempts: 4, initialDelayMs: 5, maxDelayMs: 40, timeoutMs: 2000 },
    ...extra,
  });
  const stripe = new Stripe(TEST_KEY, { ...emu.clientConfig, maxNetworkRetries: 0 });
  return {
    emu,
    stripe,
    receiver,
    close: async () => {
      await emu.close();
      await receiver.close();
    },
  };
}

/** Verified event types received for one object, in arrival order (successful deliveries only). */
export function typesFor(receiver: Receiver, objectId: string): string[] {
  return receiver.received.filter((r) => r.status < 300 && (r.event.data.object as { id?: string }).id === objectId).map((r) => r.event.type);
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A plain HTTP request (pages, raw API calls the typed client cannot make). */
export function http(url: string, opts: { method?: string; body?: string; headers?: Record<string, string> } = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const body = opts.body ?? "";
    const req = request(
      url,
      {
        method: opts.method ?? (opts.body !== undefined ? "POST" : "GET"),
        agent: false,
        headers: { ...(opts.body !== undefined ? { "Content-Type": "application/x-www-form-urlencoded", "Content-Length": String(Buffer.byteLength(body)) } : {}), ...opts.headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

export const form = (fields: Record<string, string>): string => new URLSearchParams(fields).toString();

/** Expiry one year ahead, MM/YY. */
export function futureExpiry(): string {
  const d = new Date();
  return `${String(d.getUTCMonth() + 1).padStart(2, "0")}/${String((d.getUTCFullYear() + 1) % 100).padStart(2, "0")}`;
}
