/**
 * The lane verbs a scenario drives a lane with: the driver's (a car arrives, pays on the phone,
 * presents a badge, types a PIN, passes or reverses away) and the operator's (an override, the
 * site's access list), through the gateway's site broker, the boards' fields and the cloud's
 * HTTP API and broker — never SQL of their own (test/hil/layering.test.ts).
 */
import { randomBytes } from "node:crypto";
import { DEMO_SITE } from "../../cloud/server/index";
import { latestSessionOfIdentity } from "../../cloud/db/index";
import { encodePayload, siteTopic, toCloudTopic, TOPICS, type Payload, type TopicKey } from "../../contracts/mqtt-topics";
import { InfrastructureError } from "./errors";
import { LaneSetCore } from "./lane-core";
import { PACE, type MqttRecord } from "./lane-types";

export class LaneVerbs extends LaneSetCore {
  private plates = 0;

  // ------------------------------------------------------------------ the driver

  /** A car that entered `minutesAgo` drives onto the exit loop of `laneId`; the exit camera reads its plate. */
  async vehicleArrives(laneId: string, opts: { minutesAgo?: number; plate?: string; readPlate?: boolean; entry?: boolean; badge?: string } = {}): Promise<string> {
    const lane = this.lane(laneId);
    const plate = opts.plate ?? `HIL-${String(++this.plates).padStart(3, "0")}-${randomBytes(2).toString("hex").toUpperCase()}`;
    const minutesAgo = opts.minutesAgo ?? 30;
    this.step(`vehicle ${plate} arrives (entered ${minutesAgo} min ago)`, laneId);
    if (opts.entry !== false) await this.recordEntry(opts.badge ? { method: "badge", value: opts.badge } : { method: "plate", value: plate }, minutesAgo);
    lane.vehicle = { phase: "at_loop", plate };
    lane.field.presence(true);
    if (opts.readPlate !== false) {
      await this.gateway.services.siteBroker.publish(siteTopic("lprPlate"), JSON.stringify({ ts: Date.now(), src: `lpr-${laneId}`, lane_id: laneId, plate, confidence: 0.97 }), { qos: 1, retain: false });
    }
    return plate;
  }

  /** The entry lane saw the car come in `minutesAgo` (a session in the cloud). */
  private async recordEntry(identity: { method: "plate" | "badge"; value: string }, minutesAgo: number): Promise<void> {
    await this.gateway.services.emitEvent("entry", { ts: Date.now() - minutesAgo * 60_000, src: `gw-${DEMO_SITE.siteId}`, event_id: `hil-entry-${Date.now().toString(36)}-${this.plates}-${randomBytes(2).toString("hex")}`, lane_id: "E1", identity });
    await this.waitUntil(async () => (await latestSessionOfIdentity(this.cloud.db.sql, identity.value).catch(() => undefined)) !== undefined, 5000, `the cloud to open a session for ${identity.method} ${identity.value}`).catch(() => new Promise((r) => setTimeout(r, 500)));
  }

  /** The driver reverses away from the pay station without paying. */
  vehicleLeaves(laneId: string): void {
    const lane = this.lane(laneId);
    this.step("vehicle reverses away", laneId);
    lane.field.presence(false);
    lane.vehicle.phase = "gone";
  }

  /** The vehicle drives through the open barrier (it also does so by itself once the boom is up). */
  async vehiclePasses(laneId: string, timeoutMs = 15_000): Promise<void> {
    await this.waitUntil(() => this.lane(laneId).vehicle.phase === "gone", timeoutMs, `the vehicle to pass lane ${laneId}`);
  }

  presentBadge(laneId: string, uid: string): void {
    this.step(`badge ${uid}`, laneId);
    this.lane(laneId).field.badge(uid);
  }

  async enterPin(laneId: string, pin: string): Promise<void> {
    this.step("PIN typed", laneId);
    await this.lane(laneId).field.typeKeys(pin);
  }

  /** The payment request the cloud sent for a lane (the newest, or the newest after index `from` of `mqtt`). */
  async paymentRequest(laneId: string, timeoutMs = 10_000): Promise<Record<string, unknown>> {
    let found: MqttRecord | undefined;
    await this.waitUntil(() => (found = [...this.mqtt].reverse().find((m) => m.topic === "parking/payment/req" && m.payload.lane_id === laneId)) !== undefined, timeoutMs, `parking/payment/req for lane ${laneId}`);
    return found!.payload;
  }

  /** The driver pays on the cloud's payment page with a card, through the Stripe emulator's card page (plain HTTP, as a browser would). */
  async payWithCard(laneId: string, card = "4242424242424242", opts: { afterMs?: number } = {}): Promise<{ ok: boolean; status: number; page: string }> {
    const req = await this.paymentRequest(laneId);
    await this.sleep(opts.afterMs ?? PACE.payOnPhoneMs);
    const payUrl = String(req.pay_url ?? "");
    if (!payUrl) throw new Error(`payment request for ${laneId} has no pay_url`);
    this.step(`driver pays with card ${card.slice(0, 4)}…${card.slice(-4)}`, laneId);
    const u = new URL(payUrl);
    const start = new URL(`${u.pathname}/start${u.search}`, u);
    const form = await fetch(start, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "" });
    if (!form.ok) throw new Error(`payment page ${start.pathname}/start answered ${form.status}`);
    const cardPage = form.url;
    const body = new URLSearchParams({ card_number: card, exp: "12/34", cvc: "123", locale: "en" });
    const returnUrl = new URL(cardPage).searchParams.get("return_url");
    if (returnUrl) body.set("return_url", returnUrl);
    const paid = await fetch(cardPage, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body });
    const page = await paid.text();
    return { ok: paid.ok && new URL(paid.url).origin === u.origin, status: paid.status, page };
  }

  // ------------------------------------------------------------------ the operator and the cloud

  /** Publish a cloud → site message on the cloud broker (as the cloud would), signed ACLs included. */
  async publishFromCloud<K extends TopicKey>(key: K, payload: Payload<K>): Promise<void> {
    const mqtt = await import("mqtt");
    const c = await mqtt.connectAsync(this.cloud.mqttUrl, { protocolVersion: 4 });
    try {
      await c.publishAsync(toCloudTopic(DEMO_SITE.siteId, TOPICS[key].topic), encodePayload(key, payload), { qos: 1 });
    } finally {
      await c.endAsync();
    }
  }

  /** An operator (the cloud's first admin) logs in and overrides the lane through the cloud API (audited). */
  async operatorOverride(laneId: string, action: "open" | "reset", reason: string, opts: { afterMs?: number } = {}): Promise<Record<string, unknown>> {
    await this.sleep(opts.afterMs ?? PACE.operatorMs);
    const admin = this.cloud.firstAdmin;
    if (!admin) throw new InfrastructureError("the cloud has no first admin to log in with");
    this.step(`operator ${action}: ${reason}`, laneId);
    const login = await fetch(`${this.cloud.url}/api/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(admin) });
    if (!login.ok) throw new Error(`operator login: ${login.status} ${await login.text()}`);
    const { token } = (await login.json()) as { token: string };
    const r = await fetch(`${this.cloud.url}/api/lanes/${laneId}/override`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${token}` }, body: JSON.stringify({ action, reason }) });
    const body = (await r.json()) as Record<string, unknown>;
    if (!r.ok) throw new Error(`override ${action} on ${laneId}: ${r.status} ${JSON.stringify(body)}`);
    return body;
  }

  /** An operator (the cloud's first admin) calls the cloud's API at once (no PACE wait): `{status, body}`. */
  async operatorApi(method: "GET" | "POST" | "DELETE", path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
    const admin = this.cloud.firstAdmin;
    if (!admin) throw new InfrastructureError("the cloud has no first admin to log in with");
    const login = await fetch(`${this.cloud.url}/api/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(admin) });
    if (!login.ok) throw new Error(`operator login: ${login.status} ${await login.text()}`);
    const { token } = (await login.json()) as { token: string };
    const r = await fetch(`${this.cloud.url}${path}`, { method, headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  }

  /** An operator adds a badge or an exit PIN to the site's access list through the cloud; waits until the gateway has the cloud's version. */
  async grantAccess(entry: { kind: "badge"; badge_uid: string; label: string; subscriber?: boolean; valid_until?: string } | { kind: "pin"; pin: string; label: string; valid_until?: string }): Promise<{ version: number; entryId: string }> {
    this.step(entry.kind === "badge" ? `operator grants badge ${entry.badge_uid}${entry.subscriber ? " (subscriber)" : ""}` : "operator adds an exit PIN");
    const r = await this.operatorApi("POST", `/api/sites/${DEMO_SITE.siteId}/access`, entry);
    if (r.status !== 201) throw new Error(`access add: ${r.status} ${JSON.stringify(r.body)}`);
    const version = r.body.version as number;
    await this.waitUntil(() => this.gateway.acl.version >= version, 10_000, `the gateway's access list to reach version ${version}`);
    return { version, entryId: String((r.body.entry as Record<string, unknown>).entry_id) };
  }

  /** An operator revokes an access-list entry through the cloud; waits until the gateway has the new version. */
  async revokeAccess(entryId: string): Promise<number> {
    this.step(`operator revokes ${entryId}`);
    const r = await this.operatorApi("DELETE", `/api/sites/${DEMO_SITE.siteId}/access/${encodeURIComponent(entryId)}`);
    if (r.status !== 200) throw new Error(`access revoke: ${r.status} ${JSON.stringify(r.body)}`);
    const version = r.body.version as number;
    await this.waitUntil(() => this.gateway.acl.version >= version, 10_000, `the gateway's access list to reach version ${version}`);
    return version;
  }
}
