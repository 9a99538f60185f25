/**
 * A cloud's HTTP front with the console's admin router, over a real database (PGlite or the
 * PostgreSQL server): the same middleware order as cloud/http/app.ts (text rule on URLs, the
 * cross-site refusal of cookie POSTs, the routes, "no such route", the error handler), real
 * operators logged in with session cookies (admin, operator, viewer), listening on 127.0.0.1.
 * The suites drive the admin router alone on it, on both databases (the whole cloud's routes are
 * walked route × role in test/cloud/http/route-roles.test.ts).
 */
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import express from "express";
import Stripe from "stripe";
import { createOperator, hashSecret, type Database, type OperatorRole } from "../../../cloud/db/index";
import { consoleAdminRouter, type AdminDeps } from "../../../cloud/http/console/admin";
import { errorHandler, notFound } from "../../../cloud/http/errors";
import { refuseControlCharsInUrl } from "../../../cloud/http/input";
import { refuseCrossSite } from "../../../cloud/http/middleware";
import type { AuditMode } from "../../../cloud/server/audit-chain";
import { Auth, COOKIE } from "../../../cloud/server/auth";
import { silentLogger } from "../../../host/log";

export const LOW_SCRYPT = { N: 1 << 10, r: 8, p: 1 };

export interface AdminFront {
  base: string;
  deps: AdminDeps;
  cookies: Record<OperatorRole, string>;
  users: Record<OperatorRole, { username: string; operatorId: number }>;
  /** A form POST with the role's cookie and this cloud's Origin (no redirect followed). */
  post(path: string, form: Record<string, string>, role?: OperatorRole, headers?: Record<string, string>): Promise<{ status: number; location: string | null; html: string }>;
  get(path: string, role?: OperatorRole): Promise<{ status: number; location: string | null; html: string }>;
  close(): Promise<void>;
}

export async function startAdminFront(db: Database, auditMode: AuditMode, tag: string): Promise<AdminFront> {
  const auth = new Auth(db, "a test secret of at least thirty-two characters", LOW_SCRYPT);
  const deps: AdminDeps = { db, auth, auditMode, src: "test-cloud", aclHmacKey: "0123456789abcdef0123456789abcdef", pinCost: LOW_SCRYPT, stripe: new Stripe("sk_test_unused", { host: "127.0.0.1", port: 9, protocol: "http", maxNetworkRetries: 0 }), wake: () => undefined };
  let base = "";
  const app = express();
  app.set("query parser", "simple");
  app.use(refuseControlCharsInUrl);
  app.use(refuseCrossSite(auth, () => base));
  app.use(consoleAdminRouter(deps));
  app.use(notFound);
  app.use(errorHandler(silentLogger));
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, "127.0.0.1", () => resolve(s));
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const users = {} as AdminFront["users"];
  const cookies = {} as AdminFront["cookies"];
  for (const role of ["admin", "operator", "viewer"] as const) {
    const username = `${role}-${tag}`;
    const op = await createOperator(db.sql, { username, passwordHash: await hashSecret("a password 123456", LOW_SCRYPT), role });
    users[role] = { username, operatorId: op.operatorId };
    cookies[role] = `${COOKIE}=${encodeURIComponent(await auth.startSession(op.operatorId))}`;
  }

  const answer = async (r: Response) => ({ status: r.status, location: r.headers.get("location"), html: await r.text() });
  return {
    base,
    deps,
    cookies,
    users,
    async post(path, form, role = "admin", headers = {}) {
      const r = await fetch(`${base}${path}`, { method: "POST", redirect: "manual", headers: { Cookie: cookies[role], Origin: base, "Content-Type": "application/x-www-form-urlencoded", ...headers }, body: new URLSearchParams(form).toString() });
      return answer(r);
    },
    async get(path, role = "admin") {
      return answer(await fetch(`${base}${path}`, { redirect: "manual", headers: { Cookie: cookies[role] } }));
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The text of an element with this id (tags stripped, entities of esc() decoded). */
export function textOf(html: string, id: string): string | undefined {
  const m = new RegExp(`id="${id}"[^>]*>([\\s\\S]*?)</`).exec(html);
  return m ? decode(m[1].replace(/<[^>]+>/g, "")) : undefined;
}

export function decode(s: string): string {
  return s.replace(/&#(\d+);/g, (_, n: string) => String.fromCharCode(Number(n))).replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, "&");
}

/** The value attribute of the input named `name`. */
export function valueOf(html: string, name: string): string | undefined {
  const m = new RegExp(`<input[^>]*name="${name}"[^>]*value="([^"]*)"`).exec(html);
  return m ? decode(m[1]) : undefined;
}
