/**
 * The console's lost-ticket declaration (issue 18) over HTTP on PGlite: the router alone behind the
 * real auth guard (the app registers it with the others): an operator declares for a lane, the
 * lane gets the payment request, the same key acts once, a viewer is refused, bad input names
 * the field (never a 5xx).
 */
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import express from "express";
import { createEntrySession, createOperator, hashSecret, openDatabase, type Database } from "../../../cloud/db/index";
import { consoleLostTicketRouter } from "../../../cloud/http/console/lost-ticket";
import { errorHandler, notFound } from "../../../cloud/http/errors";
import { Auth, COOKIE } from "../../../cloud/server/auth";
import { seedSite } from "../../../cloud/server/seed";
import { silentLogger } from "../../../host/log";

const LOW_SCRYPT = { N: 1 << 10, r: 8, p: 1 };

describe("console: a lost ticket declared by an operator (HTTP, PGlite)", function () {
  this.timeout(60_000);
  let db: Database;
  let server: Server;
  let base: string;
  const cookies: Record<string, string> = {};
  const siteId = `lt-${randomBytes(3).toString("hex")}`;

  before(async () => {
    db = await openDatabase({ pgliteTemplateDir: join(tmpdir(), "syspark-test-cache") });
    await seedSite(db, { siteId, name: "Lost ticket site", timeZone: "Europe/Paris", currency: "EUR" });
    const auth = new Auth(db, "a test secret of at least thirty-two characters", LOW_SCRYPT);
    const app = express();
    app.use(consoleLostTicketRouter({ db, auth, logger: silentLogger, src: "test-cloud", publicBaseUrl: () => "http://pay.test", auditMode: "inline", wake: () => undefined, jsonLimit: 65_536, billingEnabled: true }));
    app.use(notFound);
    app.use(errorHandler(silentLogger));
    server = await new Promise((resolve) => {
      const s = app.listen(0, "127.0.0.1", () => resolve(s));
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    for (const role of ["operator", "viewer"] as const) {
      const op = await createOperator(db.sql, { username: `${role}-${siteId}`, passwordHash: await hashSecret("a password 123456", LOW_SCRYPT), role });
      cookies[role] = `${COOKIE}=${encodeURIComponent(await auth.startSession(op.operatorId))}`;
    }
  });
  after(async () => {
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    await db?.close();
  });

  const postJson = async (path: string, body: unknown, role = "operator") => {
    const r = await fetch(`${base}${path}`, { method: "POST", headers: { Cookie: cookies[role], "Content-Type": "application/json" }, body: JSON.stringify(body) });
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  };

  it("declares for the car at the lane: priced, the payment request to the lane, once per key", async () => {
    const plate = `LT${randomBytes(3).toString("hex").toUpperCase()}`;
    const entry = await db.tx((tx) => createEntrySession(tx, { siteId, laneId: "e1", identity: { method: "plate", value: plate }, entryTs: new Date(Date.now() - 3_600_000) }));
    const body = { lane: "L1", plate, reason: "lost ticket, at the intercom", key: randomBytes(9).toString("hex") };
    const r = await postJson(`/api/console/sites/${siteId}/lost-ticket`, body);
    expect(r.status, JSON.stringify(r.body)).to.equal(200);
    expect(r.body).to.deep.equal({ site_id: siteId, session_id: entry.session.sessionId, outcome: "lost_matched+payment_requested" });
    const [req] = await db.sql<{ payload: { amount: number; lane_id: string } }[]>`SELECT payload FROM outbox WHERE topic LIKE '%/payment/req' AND payload->>'session_id' = ${entry.session.sessionId}`;
    expect(req.payload).to.include({ amount: 4000, lane_id: "L1" });
    const again = await postJson(`/api/console/sites/${siteId}/lost-ticket`, body);
    expect(again.body.outcome).to.equal("duplicate");
  });

  it("a viewer is refused; bad input names the field; an unknown site is a 404", async () => {
    expect((await postJson(`/api/console/sites/${siteId}/lost-ticket`, { lane: "L1", reason: "lost ticket" }, "viewer")).status).to.equal(403);
    const noReason = await postJson(`/api/console/sites/${siteId}/lost-ticket`, { lane: "L1" });
    expect(noReason.status).to.equal(400);
    expect(JSON.stringify(noReason.body)).to.include("reason");
    const entryLane = await postJson(`/api/console/sites/${siteId}/lost-ticket`, { lane: "E1", reason: "lost ticket" });
    expect(entryLane.status).to.equal(400);
    expect(JSON.stringify(entryLane.body)).to.include("lane: E1 is not an exit lane");
    expect((await postJson(`/api/console/sites/nowhere/lost-ticket`, { lane: "L1", reason: "lost ticket" })).status).to.equal(404);
  });

  it("the form post declares without a plate (the fixed fee) and goes back to the site's page", async () => {
    const r = await fetch(`${base}/console/sites/${siteId}/lost-ticket`, { method: "POST", redirect: "manual", headers: { Cookie: cookies.operator, "Content-Type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ lane: "L1", plate: "", reason: "no plate given", key: randomBytes(9).toString("hex") }).toString() });
    expect(r.status).to.equal(303);
    expect(r.headers.get("location")).to.equal(`/console/sites/${siteId}`);
    const [row] = await db.sql<{ declaredBy: string; plate: string | null }[]>`SELECT declared_by, plate FROM lost_ticket_declarations WHERE site_id = ${siteId} AND reason = 'no plate given'`;
    expect(row).to.deep.equal({ declaredBy: "operator", plate: null });
  });
});
