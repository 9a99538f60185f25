/**
 * Operator authentication (issue 4 "Operators and the audit"): no anonymous access to any
 * operator route. Passwords are verified against scrypt hashes (cloud/db hashSecret). A
 * successful login returns a signed token, used as an HttpOnly SameSite=Strict session cookie
 * (dashboard) or as `Authorization: Bearer …` (CLI, scripts).
 *
 * Token: `v2.<operator_id>.<session_id>.<expires_ms>.<HMAC-SHA256(secret, "v2.<id>.<sid>.<exp>")>`
 * (base64url). The session id names a row of operator_sessions written at login and deleted at
 * logout (issue 15: a token stops working at logout, on every instance sharing the database);
 * every request re-reads the session and its operator, so a disabled operator is locked out at once.
 *
 * Login is throttled in the database (login_failures): 5 failures in 15 min lock the account for
 * 15 min, 50 lock the client address; a locked login answers 429 with Retry-After, whether the
 * password is right or not.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { NextFunction, Request, Response } from "express";
import {
  clearLoginFailures,
  createOperatorSession,
  deleteOperatorSession,
  findOperatorByUsername,
  hashSecret,
  loginLockSeconds,
  operatorForSession,
  recordLoginFailure,
  verifySecret,
  type Database,
  type OperatorRole,
} from "../db/index";

export const COOKIE = "syspark_session";
const TOKEN_TTL_MS = 12 * 3600 * 1000;

/** Lockout bounds: per account (any username, known or not) and per client address. */
export const LOGIN_THROTTLE = { windowS: 15 * 60, perAccount: 5, perAddress: 50 } as const;

export type LoginResult = { ok: true; operator: AuthedOperator } | { ok: false; retryAfterS?: number };

export interface AuthedOperator {
  operatorId: number;
  username: string;
  role: OperatorRole;
}

declare module "express-serve-static-core" {
  interface Request {
    operator?: AuthedOperator;
    requestId?: string;
  }
}

export class Auth {
  private readonly secret: Buffer;
  private dummyHash: Promise<string> | undefined;

  constructor(
    private readonly db: Database,
    secret: string | undefined,
    private readonly cost?: { N: number; r: number; p: number },
  ) {
    this.secret = secret ? Buffer.from(secret, "utf8") : randomBytes(32);
  }

  private mac(body: string): string {
    return createHmac("sha256", this.secret).update(body).digest("base64url");
  }

  /** Opens a session for the operator (a row in operator_sessions) and returns its token. */
  async startSession(operatorId: number, now = Date.now()): Promise<string> {
    const sessionId = randomBytes(16).toString("base64url");
    const exp = now + TOKEN_TTL_MS;
    await createOperatorSession(this.db.sql, { sessionId, operatorId, expiresAt: new Date(exp) });
    const body = `v2.${operatorId}.${sessionId}.${exp}`;
    return `${body}.${this.mac(body)}`;
  }

  /** The operator and session a token names, if it is authentic and not expired (revocation is checked in operatorFor). */
  verifyToken(token: string, now = Date.now()): { operatorId: number; sessionId: string } | undefined {
    const m = /^v2\.(\d{1,15})\.([A-Za-z0-9_-]{22})\.(\d{1,15})\.([A-Za-z0-9_-]{43})$/.exec(token);
    if (!m) return undefined;
    const expected = Buffer.from(this.mac(`v2.${m[1]}.${m[2]}.${m[3]}`));
    const got = Buffer.from(m[4]);
    if (expected.length !== got.length || !timingSafeEqual(expected, got)) return undefined;
    if (Number(m[3]) < now) return undefined;
    return { operatorId: Number(m[1]), sessionId: m[2] };
  }

  /** Ends the session a token names (logout): the token is refused from now on. */
  async endSession(token: string): Promise<void> {
    const t = this.verifyToken(token);
    if (t) await deleteOperatorSession(this.db.sql, t.sessionId);
  }

  /**
   * Checks a username and password from a client address: refused without checking while the
   * account or the address is locked; otherwise constant work whether or not the user exists.
   */
  async login(username: string, password: string, address: string): Promise<LoginResult> {
    const { windowS, perAccount, perAddress } = LOGIN_THROTTLE;
    const account = `u:${createHash("sha256").update(username.trim().toLowerCase()).digest("hex")}`;
    const from = `a:${address.slice(0, 100)}`;
    const locks = [await loginLockSeconds(this.db.sql, account, perAccount, windowS), await loginLockSeconds(this.db.sql, from, perAddress, windowS)].filter((s): s is number => s !== undefined);
    if (locks.length > 0) return { ok: false, retryAfterS: Math.max(...locks) };
    const op = await findOperatorByUsername(this.db.sql, username);
    let good = false;
    if (!op || op.disabled) {
      this.dummyHash ??= hashSecret(randomBytes(16).toString("hex"), this.cost);
      await verifySecret(password, await this.dummyHash);
    } else {
      good = await verifySecret(password, op.passwordHash);
    }
    if (!op || !good || op.disabled) {
      await recordLoginFailure(this.db.sql, [account, from], 2 * windowS);
      return { ok: false };
    }
    await clearLoginFailures(this.db.sql, account);
    return { ok: true, operator: { operatorId: op.operatorId, username: op.username, role: op.role } };
  }

  tokenFrom(req: Request): string | undefined {
    const h = req.headers.authorization;
    if (h && /^Bearer\s+/i.test(h)) return h.replace(/^Bearer\s+/i, "").trim();
    return this.cookieToken(req);
  }

  /** True when the request would be authenticated by the session cookie (no Bearer header). */
  cookieBorne(req: Request): boolean {
    const h = req.headers.authorization;
    if (h && /^Bearer\s+/i.test(h)) return false;
    return this.cookieToken(req) !== undefined;
  }

  private cookieToken(req: Request): string | undefined {
    const cookie = req.headers.cookie;
    if (!cookie) return undefined;
    for (const part of cookie.split(";")) {
      const [k, ...v] = part.trim().split("=");
      if (k === COOKIE) {
        try {
          return decodeURIComponent(v.join("="));
        } catch {
          return undefined;
        }
      }
    }
    return undefined;
  }

  async operatorFor(req: Request): Promise<AuthedOperator | undefined> {
    const token = this.tokenFrom(req);
    if (!token) return undefined;
    const t = this.verifyToken(token);
    if (t === undefined) return undefined;
    const op = await operatorForSession(this.db.sql, t.sessionId, t.operatorId);
    if (!op || op.disabled) return undefined;
    return { operatorId: op.operatorId, username: op.username, role: op.role };
  }

  /**
   * Middleware: 401 without a valid token (a page redirects to the login form); 403 when the role
   * is not allowed (a page gets an HTML refusal, never JSON). The roles are kept on the middleware
   * (`allowedRoles`): the route × role test reads them from the router table, so a route without a
   * guard cannot go unnoticed (test/cloud/http/route-roles.test.ts).
   */
  require(roles: readonly OperatorRole[] = ["admin", "operator", "viewer"], opts: { html?: boolean } = {}): RoleGuard {
    const guard = (req: Request, res: Response, next: NextFunction): void => {
      this.operatorFor(req).then(
        (op) => {
          if (!op) {
            if (opts.html) {
              res.redirect(303, `/login?next=${encodeURIComponent(req.originalUrl)}`);
              return;
            }
            res.status(401).set("WWW-Authenticate", 'Bearer realm="syspark"').json({ error: "authentication required: log in (POST /api/login) and send the token as a Bearer header or the session cookie" });
            return;
          }
          if (!roles.includes(op.role)) {
            const message = `role ${op.role} may not do this (needs ${roles.join(" or ")})`;
            if (opts.html) res.status(403).type("html").send(refusalPage(message));
            else res.status(403).json({ error: message });
            return;
          }
          req.operator = op;
          next();
        },
        (err: unknown) => next(err),
      );
    };
    return Object.assign(guard, { allowedRoles: roles });
  }
}

/** An auth middleware, with the roles it lets through. */
export type RoleGuard = ((req: Request, res: Response, next: NextFunction) => void) & { readonly allowedRoles: readonly OperatorRole[] };

function refusalPage(message: string): string {
  const e = message.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Not allowed — SysPark</title><link rel="stylesheet" href="/console/assets/console.css"></head><body><main><div class="card"><h1>Not allowed / Non autorisé</h1><p class="err" role="alert" id="refusal">${e}</p><p><a href="/console">Console</a></p></div></main></body></html>`;
}

export function sessionCookie(token: string, secure: boolean): string {
  return `${COOKIE}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${TOKEN_TTL_MS / 1000}${secure ? "; Secure" : ""}`;
}
