/**
 * Webhook delivery, the way Stripe does it (https://docs.stripe.com/webhooks):
 * - each Event is POSTed as pretty-printed JSON with a `Stripe-Signature: t=<unix>,v1=<hex>`
 *   header, v1 = HMAC-SHA256(secret, `${t}.${payload}`) — exactly what
 *   `stripe.webhooks.constructEvent(payload, header, secret)` verifies; every attempt is signed
 *   afresh with its own timestamp;
 * - a non-2xx answer (redirects included), a timeout or a connection failure is retried with
 *   exponential backoff, up to a bounded number of attempts (Stripe: up to 3 days; here
 *   configurable, and milliseconds in tests), then the delivery is marked failed;
 * - events about the same object (a PaymentIntent and its charges and refunds, or a Checkout
 *   Session) are delivered one at a time in the order they happened, so a retry holds back the
 *   later events of that object and nothing else. (Stripe itself does not promise ordering; the
 *   cloud must not rely on it against real Stripe, and its out-of-order tests use `resend`.)
 */
import { createHmac } from "node:crypto";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import type { Logger } from "../host/log";
import type { EmulatorEvent } from "./state";

export interface WebhookRetryOptions {
  /** Attempts in total, first one included (default 6). */
  maxAttempts: number;
  /** Delay before the first retry; doubles each time (default 1000 ms). */
  initialDelayMs: number;
  /** Ceiling for one delay (default 60 000 ms). */
  maxDelayMs: number;
  /** Time the endpoint has to answer one attempt (default 10 000 ms). */
  timeoutMs: number;
}

export const DEFAULT_RETRY: WebhookRetryOptions = { maxAttempts: 6, initialDelayMs: 1000, maxDelayMs: 60_000, timeoutMs: 10_000 };

export interface DeliveryAttempt {
  attempt: number;
  at: number;
  /** HTTP status, or null when no answer came (connection refused, timeout). */
  status: number | null;
  error: string | null;
  durationMs: number;
}

export interface DeliveryRecord {
  /** Unique per delivery (a resend is a new delivery of the same event). */
  deliveryId: number;
  eventId: string;
  type: string;
  url: string;
  /** The object the event is about (`data.object.id`). */
  objectId: string;
  resend: boolean;
  state: "pending" | "delivered" | "failed";
  attempts: DeliveryAttempt[];
}

/** `Stripe-Signature` header value for a payload, as Stripe computes it. */
export function signPayload(payload: string, secret: string, timestampSeconds: number): string {
  const v1 = createHmac("sha256", secret).update(`${timestampSeconds}.${payload}`, "utf8").digest("hex");
  return `t=${timestampSeconds},v1=${v1}`;
}

interface Job {
  record: DeliveryRecord;
  event: EmulatorEvent;
  done: Array<(r: DeliveryRecord) => void>;
}

interface Lane {
  jobs: Job[];
  running: boolean;
}

export interface WebhookDispatcherOptions {
  url: string | null;
  secret: string;
  retry: WebhookRetryOptions;
  logger: Logger;
  now: () => number;
  userAgent: string;
  /** Called after each delivery ends (delivered or given up): an event's pending_webhooks changed. */
  onSettled?: (eventId: string) => void;
}

export class WebhookDispatcher {
  private url: string | null;
  private readonly lanes = new Map<string, Lane>();
  private readonly records: DeliveryRecord[] = [];
  private readonly keyOfEvent = new Map<string, string>();
  private outstanding = 0;
  private idleWaiters: Array<() => void> = [];
  private watchers: Array<{ match: (r: DeliveryRecord) => boolean; resolve: (r: DeliveryRecord) => void }> = [];
  private readonly sleeping = new Set<{ timer: NodeJS.Timeout; wake: () => void }>();
  private closed = false;
  private nextDeliveryId = 1;

  constructor(private readonly opts: WebhookDispatcherOptions) {
    this.url = opts.url;
  }

  get endpoint(): string | null {
    return this.url;
  }

  /** Change the endpoint (e.g. once the cloud knows its port). Later events go there. */
  setUrl(url: string | null): void {
    if (url !== null) new URL(url); // throws on a malformed URL
    this.url = url;
  }

  /** Queue an event for delivery; returns false when no endpoint is configured. */
  enqueue(event: EmulatorEvent, orderingKey: string): boolean {
    this.keyOfEvent.set(event.id, orderingKey);
    if (this.url === null || this.closed) return false;
    this.push(event, orderingKey, false);
    return true;
  }

  /** Deliver an event again (same event id, fresh signature), like `stripe events resend`. */
  resend(event: EmulatorEvent): Promise<DeliveryRecord> {
    if (this.url === null) return Promise.reject(new Error("no webhook endpoint is configured (webhookUrl)"));
    if (this.closed) return Promise.reject(new Error("the emulator is closed"));
    const key = this.keyOfEvent.get(event.id) ?? String(event.data.object.id ?? event.id);
    return new Promise((resolve) => this.push(event, key, true, resolve));
  }

  private push(event: EmulatorEvent, key: string, resend: boolean, done?: (r: DeliveryRecord) => void): void {
    const record: DeliveryRecord = {
      deliveryId: this.nextDeliveryId++,
      eventId: event.id,
      type: event.type,
      url: this.url as string,
      objectId: String(event.data.object.id ?? ""),
      resend,
      state: "pending",
      attempts: [],
    };
    this.records.push(record);
    event.pending_webhooks += 1;
    let lane = this.lanes.get(key);
    if (!lane) {
      lane = { jobs: [], running: false };
      this.lanes.set(key, lane);
    }
    lane.jobs.push({ record, event, done: done ? [done] : [] });
    this.outstanding++;
    if (!lane.running) void this.run(key, lane);
  }

  private async run(key: string, lane: Lane): Promise<void> {
    lane.running = true;
    while (lane.jobs.length > 0 && !this.closed) {
      const job = lane.jobs[0];
      await this.deliver(job);
      lane.jobs.shift();
      this.finish(job);
    }
    lane.running = false;
    if (lane.jobs.length === 0) this.lanes.delete(key);
    // Jobs left behind by close() are abandoned; release anyone waiting for them.
    for (const job of lane.jobs.splice(0)) {
      job.record.state = "failed";
      this.finish(job);
    }
  }

  private finish(job: Job): void {
    if (job.record.state === "delivered") job.event.pending_webhooks = Math.max(0, job.event.pending_webhooks - 1);
    this.opts.onSettled?.(job.event.id);
    for (const d of job.done) d(job.record);
    const still: typeof this.watchers = [];
    for (const w of this.watchers) {
      if (w.match(job.record)) w.resolve(job.record);
      else still.push(w);
    }
    this.watchers = still;
    this.outstanding--;
    if (this.outstanding === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  private async deliver(job: Job): Promise<void> {
    const { record, event } = job;
    const payload = JSON.stringify(event, null, 2);
    const { maxAttempts, initialDelayMs, maxDelayMs, timeoutMs } = this.opts.retry;
    for (let attempt = 1; attempt <= maxAttempts && !this.closed; attempt++) {
      const started = this.opts.now();
      const signature = signPayload(payload, this.opts.secret, Math.floor(started / 1000));
      const result = await this.post(record.url, payload, signature, timeoutMs);
      record.attempts.push({ attempt, at: started, status: result.status, error: result.error, durationMs: this.opts.now() - started });
      if (result.status !== null && result.status >= 200 && result.status < 300) {
        record.state = "delivered";
        this.opts.logger.info({ eventId: event.id, type: event.type, attempt, status: result.status, resend: record.resend }, "test emulator: webhook delivered");
        return;
      }
      const why = result.error ?? `HTTP ${result.status}`;
      if (attempt === maxAttempts) break;
      const delay = Math.min(initialDelayMs * 2 ** (attempt - 1), maxDelayMs);
      this.opts.logger.warn({ eventId: event.id, type: event.type, attempt, why, retryInMs: delay }, "test emulator: webhook delivery failed, will retry");
      await this.sleep(delay);
    }
    record.state = "failed";
    this.opts.logger.error({ eventId: event.id, type: event.type, attempts: record.attempts.length }, "test emulator: webhook delivery failed, giving up");
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const entry = {
        timer: setTimeout(() => {
          this.sleeping.delete(entry);
          resolve();
        }, ms),
        wake: resolve,
      };
      this.sleeping.add(entry);
    });
  }

  private post(url: string, payload: string, signature: string, timeoutMs: number): Promise<{ status: number | null; error: string | null }> {
    return new Promise((resolve) => {
      let target: URL;
      try {
        target = new URL(url);
      } catch {
        resolve({ status: null, error: `invalid webhook URL ${url}` });
        return;
      }
      const send = target.protocol === "https:" ? httpsRequest : httpRequest;
      const req = send(
        target,
        {
          method: "POST",
          agent: false,
          timeout: timeoutMs,
          headers: {
            "Content-Type": "application/json; charset=utf-8",
            "Content-Length": Buffer.byteLength(payload),
            "Stripe-Signature": signature,
            "User-Agent": this.opts.userAgent,
            "X-Stripe-Emulator": "SysPark Stripe TEST EMULATOR - not Stripe",
            "Cache-Control": "no-cache",
            Accept: "*/*; q=0.5, application/xml",
          },
        },
        (res) => {
          res.resume(); // the body is not used (Stripe shows it in the dashboard only)
          res.on("end", () => resolve({ status: res.statusCode ?? null, error: null }));
          res.on("error", (err) => resolve({ status: res.statusCode ?? null, error: err.message }));
        },
      );
      req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      req.on("error", (err) => resolve({ status: null, error: err.message }));
      req.end(payload);
    });
  }

  /** Every delivery so far (oldest first); attempts included. */
  deliveries(): readonly DeliveryRecord[] {
    return this.records;
  }

  /** Resolves once nothing is queued or being delivered (retries included). */
  whenIdle(timeoutMs = 10_000): Promise<void> {
    if (this.outstanding === 0) return Promise.resolve();
    return withTimeout(new Promise<void>((resolve) => this.idleWaiters.push(resolve)), timeoutMs, "webhook deliveries still pending");
  }

  /** Resolves with the first finished delivery (delivered or failed) that matches, past or future. */
  waitForDelivery(match: (r: DeliveryRecord) => boolean, timeoutMs = 10_000): Promise<DeliveryRecord> {
    const done = this.records.find((r) => r.state !== "pending" && match(r));
    if (done) return Promise.resolve(done);
    return withTimeout(new Promise<DeliveryRecord>((resolve) => this.watchers.push({ match, resolve })), timeoutMs, "no matching webhook delivery");
  }

  close(): void {
    this.closed = true;
    for (const s of this.sleeping) {
      clearTimeout(s.timer);
      s.wake();
    }
    this.sleeping.clear();
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what} after ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}
