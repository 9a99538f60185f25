/**
 * Operator authentication (issue 4 "Operators and the audit"): no anonymous access to any
 * operator route. Passwords are verified against scrypt hashes (cloud/db hashSecret). A
 * successful login returns a signed token, used as an HttpOnly SameSite=Strict session cookie
 * (dashboard) or as `Authorization: Bearer …` (CLI, scripts).
 *
 * Token: `v1.<operator_id>.<expires_ms>.<HMAC-SHA256(secret, "v1.<id>.<exp>")>` (base64url).
 * Stateless, so any instance sharing SYSPARK_AUTH_SECRET accepts it; every request still
 * re-reads the operator so a disabled operator is locked out at once.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { NextFunction, Request, Response } from "express";
import { findOperatorByUsername, getOperator, hashSecret, verifySecret, type Database, type OperatorRole } from "../db/index";

export const COOKIE = "syspark_session";
const TOKEN_TTL_MS = 12 * 3600 * 1000;

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

  sign(operatorId: number, now = Date.now()): string {
    const body = `v1.${operatorId}.${now + TOKEN_TTL_MS}`;
    return `${body}.${this.mac(body)}`;
  }

  /** The operator id a token names, if it is authentic and not expired. */
  verifyToken(token: string, now = Date.now()): number | undefined {
    const m = /^v1\.(\d{1,15})\.(\d{1,15})\.([A-Za-z0-9_-]{43})$/.exec(token);
    if (!m) return undefined;
    const expected = Buffer.from(this.mac(`v1.${m[1]}.${m[2]}`));
    const got = Buffer.from(m[3]);
    if (expected.length !== got.length || !timingSafeEqual(expected, got)) return undefined;
    if (Number(m[2]) < now) return undefined;
    return Number(m[1]);
  }

  /** Checks a username and password (constant work whether or not the user exists). */
  async login(username: string, password: string): Promise<AuthedOperator | undefined> {
    const op = await findOperatorByUsername(this.db.sql, username);
    if (!op || op.disabled) {
      this.dummyHash ??= hashSecret(randomBytes(16).toString("hex"), this.cost);
      await verifySecret(password, await this.dummyHash);
      return undefined;
    }
    if (!(await verifySecret(password, op.passwordHash))) return undefined;
    return { operatorId: op.operatorId, username: op.username, role: op.role };
  }

  tokenFrom(req: Request): string | undefined {
    const h = req.headers.authorization;
    if (h && /^Bearer\s+/i.test(h)) return h.replace(/^Bearer\s+/i, "").trim();
    const cookie = req.headers.cookie;
    if (!cookie) return undefined;
    for (const part of cookie.split(";")) {
      const [k, ...v] = part.trim().split("=");
      if (k === COOKIE) return decodeURIComponent(v.join("="));
    }
    return undefined;
  }

  async operatorFor(req: Request): Promise<AuthedOperator | undefined> {
    const token = this.tokenFrom(req);
    if (!token) return undefined;
    const id = this.verifyToken(token);
    if (id === undefined) return undefined;
    const op = await getOperator(this.db.sql, id).catch(() => undefined);
    if (!op || op.disabled) return undefined;
    return { operatorId: op.operatorId, username: op.username, role: op.role };
  }

  /** Middleware: 401 without a valid token; 403 when the role is not allowed. */
  require(roles: readonly OperatorRole[] = ["admin", "operator", "viewer"], opts: { html?: boolean } = {}) {
    return (req: Request, res: Response, next: NextFunction): void => {
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
            res.status(403).json({ error: `role ${op.role} may not do this (needs ${roles.join(" or ")})` });
            return;
          }
          req.operator = op;
          next();
        },
        (err: unknown) => next(err),
      );
    };
  }
}

export function sessionCookie(token: string, secure: boolean): string {
  return `${COOKIE}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${TOKEN_TTL_MS / 1000}${secure ? "; Secure" : ""}`;
}
