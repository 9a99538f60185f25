/**
 * The outside world of the cloud crash campaign, in the campaign's process: a site gateway's
 * exit lanes and the drivers at them. Each lane serves one vehicle at a time, as a real lane does:
 *
 *   exit/req (QoS 1, a fresh event id) → payment/req → the driver taps "Pay by card" (the cloud's
 *   pay API creates the PaymentIntent) and pays with a test card at the Stripe emulator → the
 *   phone shows the cloud's return page, which refreshes every 2 s until the payment is verified
 *   → payment/success, acted on once (a repeat for the same session is ignored, as the lane
 *   orchestrator does) → barrier opens, vehicle passes → exit/done (QoS 1, its own event id,
 *   re-published with the SAME id until the broker acknowledges it, as the gateway's outbox does).
 *
 * A driver whose tap fails (the cloud is down, or answers 5xx) taps again; a lane that hears
 * nothing for `exitTimeoutMs` gives the exit up (the tally counts it) and serves the next one.
 */
import mqtt, { type MqttClient } from "mqtt";
import type Stripe from "stripe";
import { encodePayload } from "../../contracts/mqtt-topics";
import { exitFlowTopics, PayApiError, payToken, publishExitRequest, requestPaymentIntent, type ParkedVehicle } from "./paid-exit";

export interface ExitTrace {
  vehicle: ParkedVehicle;
  laneId: string;
  /** payment/req deliveries seen for this session. */
  paymentReqs: number;
  /** payment/success deliveries seen for this session (repeats included). */
  successesSeen: number;
  /** payment/success deliveries the lane acted on (opened the barrier). */
  successesActedOn: number;
  letOut: boolean;
  /** exit/req publish → payment/success acted on. */
  latencyMs?: number;
  /** Taps on "Pay by card" the cloud did not answer (down) or answered 5xx. */
  payRetries: number;
  http5xx: number;
  /** Times exit/done was published again (no PUBACK in time). */
  doneRepublished: number;
  /** Why the lane gave the exit up, if it did. */
  failure?: string;
}

export interface SiteDriverOptions {
  mqttUrl: string;
  cloudUrl: string;
  siteId: string;
  /** A `stripe` client pointed at the Stripe test emulator (the driver's card). */
  stripe: Stripe;
  lanes: number;
  vehicles: readonly ParkedVehicle[];
  /** How long a lane waits for each answer (payment/req, payment/success) before giving up. */
  exitTimeoutMs: number;
  /** Called when a lane starts an exit (index in `vehicles` order of start), e.g. to time kills. */
  onExitStarted?: (started: number) => void;
}

const DONE_PUBACK_TIMEOUT_MS = 5000;
const RETURN_PAGE_REFRESH_MS = 2000; // the cloud's "processing" page: refreshS 2
const TAP_AGAIN_MS = 300;

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface Waiter {
  trace: ExitTrace;
  onReq?: (p: { pay_url?: string }) => void;
  onSuccess?: () => void;
}

export class SiteDriver {
  readonly traces: ExitTrace[] = [];
  /** payment/success or payment/req for a session no lane is serving any more (late repeats). */
  lateDeliveries = 0;
  private readonly bySession = new Map<string, Waiter>();
  private readonly pages = new Set<Promise<void>>();
  private closing = false;
  private next = 0;
  private aborted!: (err: Error) => void;
  private readonly abortion = new Promise<never>((_, reject) => (this.aborted = reject));

  private constructor(
    private readonly o: SiteDriverOptions,
    private readonly client: MqttClient,
  ) {
    this.abortion.catch(() => undefined);
  }

  static async connect(o: SiteDriverOptions): Promise<SiteDriver> {
    const client = await mqtt.connectAsync(o.mqttUrl, { clientId: `chaos-site-${o.siteId}`.slice(0, 64), protocolVersion: 5, reconnectPeriod: 500 });
    const d = new SiteDriver(o, client);
    const t = exitFlowTopics(o.siteId);
    client.on("message", (topic, buf) => d.onMessage(topic === t.paymentReq ? "req" : topic === t.paymentSuccess ? "success" : undefined, buf));
    await client.subscribeAsync([t.paymentReq, t.paymentSuccess], { qos: 1 });
    return d;
  }

  private onMessage(kind: "req" | "success" | undefined, buf: Buffer): void {
    if (!kind) return;
    let p: { session_id?: string; pay_url?: string };
    try {
      p = JSON.parse(buf.toString()) as typeof p;
    } catch {
      return;
    }
    const w = p.session_id ? this.bySession.get(p.session_id) : undefined;
    if (!w) {
      this.lateDeliveries++;
      return;
    }
    if (kind === "req") {
      w.trace.paymentReqs++;
      w.onReq?.(p);
    } else {
      w.trace.successesSeen++;
      w.onSuccess?.();
    }
  }

  /** Runs every lane until every vehicle has been served (or given up). */
  async run(): Promise<void> {
    await Promise.all(Array.from({ length: this.o.lanes }, (_, i) => this.lane(`L${i + 1}`)));
  }

  /** Serves no further vehicle (the exits in progress finish or time out). */
  stop(): void {
    this.next = this.o.vehicles.length;
  }

  /** Serves no further vehicle and gives up the exits in progress at once. */
  abort(): void {
    this.stop();
    this.closing = true;
    this.aborted(new Error("campaign aborted"));
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.pages);
    await this.client.endAsync(true);
  }

  private async lane(laneId: string): Promise<void> {
    while (this.next < this.o.vehicles.length) {
      const index = this.next++;
      const vehicle = this.o.vehicles[index];
      const trace: ExitTrace = { vehicle, laneId, paymentReqs: 0, successesSeen: 0, successesActedOn: 0, letOut: false, payRetries: 0, http5xx: 0, doneRepublished: 0 };
      this.traces.push(trace);
      this.o.onExitStarted?.(index + 1);
      try {
        await this.exit(trace);
      } catch (err) {
        trace.failure = (err as Error).message;
      }
      // The lane forgets the session; anything arriving later for it is a late repeat.
      this.bySession.delete(vehicle.sessionId);
    }
  }

  private async exit(trace: ExitTrace): Promise<void> {
    const { sessionId, plate } = trace.vehicle;
    const w: Waiter = { trace };
    this.bySession.set(sessionId, w);
    let succeeded!: () => void;
    const success = new Promise<void>((resolve) => (succeeded = resolve));
    // The lane acts on the first payment/success for its session, once (orchestrator: cloudAuth).
    w.onSuccess = () => {
      if (trace.successesActedOn > 0) return;
      trace.successesActedOn = 1;
      succeeded();
    };
    const req = new Promise<{ pay_url?: string }>((resolve) => (w.onReq = resolve));
    const t0 = performance.now();
    await publishExitRequest(this.client, this.o.siteId, { eventId: `x${sessionId}`, laneId: trace.laneId, plate, src: "chaos-gw" });

    const first = await this.within(Promise.race([req.then((r) => ({ req: r })), success.then(() => ({ req: undefined }))]), `no payment/req within ${this.o.exitTimeoutMs} ms`);
    if (first.req && trace.successesActedOn === 0) {
      const payUrl = first.req.pay_url;
      if (!payUrl) throw new Error("payment/req without pay_url");
      await this.pay(trace, payUrl, success);
    }
    await this.within(success, `no payment/success within ${this.o.exitTimeoutMs} ms after paying`);
    trace.latencyMs = performance.now() - t0;
    trace.letOut = true; // barrier opened, the vehicle passed
    await this.publishDone(trace);
  }

  /** Taps "Pay by card" until the cloud answers, pays at the emulator, then watches the return page. */
  private async pay(trace: ExitTrace, payUrl: string, success: Promise<void>): Promise<void> {
    const { sessionId } = trace.vehicle;
    const token = payToken(payUrl);
    const deadline = performance.now() + this.o.exitTimeoutMs;
    let intent: { paymentIntent: string } | undefined;
    while (!intent) {
      try {
        intent = await requestPaymentIntent(this.o.cloudUrl, sessionId, token);
      } catch (err) {
        if (err instanceof PayApiError && err.status < 500) throw new Error(`pay API refused: ${err.message}`, { cause: err });
        if (err instanceof PayApiError) trace.http5xx++;
        trace.payRetries++;
        if (trace.successesActedOn > 0) return;
        if (performance.now() > deadline) throw new Error(`pay API unanswered for ${this.o.exitTimeoutMs} ms (last: ${(err as Error).message})`, { cause: err });
        await delay(TAP_AGAIN_MS);
      }
    }
    const returnUrl = `${this.o.cloudUrl}/pay/${encodeURIComponent(sessionId)}/return?t=${encodeURIComponent(token)}&lang=en`;
    const pi = await this.o.stripe.paymentIntents.confirm(intent.paymentIntent, { payment_method: "pm_card_visa", return_url: returnUrl });
    if (pi.status !== "succeeded") throw new Error(`test card not accepted: PaymentIntent ${pi.id} is ${pi.status}`);
    // The phone lands on the return page, which refreshes until the cloud has verified the payment.
    let done = false;
    void success.then(() => (done = true));
    const page = `${returnUrl}&payment_intent=${encodeURIComponent(pi.id)}&redirect_status=succeeded`;
    const refreshing = (async () => {
      while (!done && !this.closing && performance.now() < deadline + this.o.exitTimeoutMs) {
        try {
          const r = await fetch(page);
          await r.arrayBuffer();
          if (r.status >= 500) trace.http5xx++;
        } catch {
          // The cloud is down: the page refreshes again.
        }
        if (!done) await this.within(success, "refresh", RETURN_PAGE_REFRESH_MS).catch(() => undefined);
      }
    })();
    this.pages.add(refreshing);
    void refreshing.then(() => this.pages.delete(refreshing));
  }

  /** exit/done, re-published with the same event id until the broker acknowledges it. */
  private async publishDone(trace: ExitTrace): Promise<void> {
    const { sessionId, plate } = trace.vehicle;
    const payload = encodePayload("exitDone", { ts: Date.now(), src: "chaos-gw", event_id: `d${sessionId}`, lane_id: trace.laneId, session_id: sessionId, barrier_result: "opened", passed: true, decided_by: "cloud", identity: { method: "plate", value: plate } });
    const topic = exitFlowTopics(this.o.siteId).exitDone;
    for (let attempt = 1; ; attempt++) {
      const acked = await this.within(this.client.publishAsync(topic, payload, { qos: 1 }).then(() => true), "no PUBACK", DONE_PUBACK_TIMEOUT_MS).catch(() => false);
      if (acked) return;
      if (attempt * DONE_PUBACK_TIMEOUT_MS >= this.o.exitTimeoutMs) throw new Error(`exit/done not acknowledged by the broker within ${this.o.exitTimeoutMs} ms`);
      trace.doneRepublished++;
    }
  }

  private async within<T>(p: Promise<T>, what: string, ms = this.o.exitTimeoutMs): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([p, this.abortion, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(what)), ms)))]);
    } finally {
      clearTimeout(timer);
    }
  }
}
