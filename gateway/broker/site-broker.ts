/**
 * The embedded site broker: aedes 1.2 (MQTT 3.1.1) on a node:net server. Authentication is on
 * (anonymous clients only when the config allows it, for development), every publish and
 * subscribe is authorised per user (see acl.ts), and a "tap" lets the bridge see each authorised
 * client publish BEFORE aedes acknowledges it: aedes sends PUBACK only after authorizePublish
 * calls back (handlers/publish.js), so the bridge writes site → cloud events to the durable
 * outbox there and a QoS 1/2 PUBACK from the site broker means "on disk" (ARCHITECTURE §8).
 */
import { Aedes, type AuthenticateError, type Client, type PublishPacket } from "aedes";
import { listenAedes } from "../../host/aedes-listen";
import type { Logger } from "../../host/log";
import { silentLogger } from "../../host/log";
import type { QoS } from "../../contracts/mqtt-topics";
import type { SiteConfig } from "../config/schema";
import { canPublish, canSubscribe, grantsFor, type Grants } from "./acl";
import { verifyPlain, verifyScrypt } from "./passwords";

export interface SiteBrokerUser {
  username: string;
  grants: Grants;
  /** Constant-time password check. */
  check(password: Buffer): boolean;
}

/** A client publish, already authorised, offered to the tap before it is acknowledged. */
export interface TappedPublish {
  topic: string;
  payload: Buffer;
  qos: QoS;
  retain: boolean;
  clientId: string;
  username: string | undefined;
}
/** Resolve to accept (then aedes acknowledges and delivers); reject to refuse the publish without acknowledging it. */
export type SiteTap = (msg: TappedPublish) => Promise<void>;

export interface SiteBrokerOptions {
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  users: SiteBrokerUser[];
  allowAnonymous?: boolean;
  logger?: Logger;
}

export interface SiteBroker {
  readonly aedes: Aedes;
  readonly host: string;
  readonly port: number;
  setTap(tap: SiteTap | undefined): void;
  /** In-process publish (bridge, lane orchestration): bypasses client authorisation and the tap. */
  publish(topic: string, payload: string | Buffer, opts: { qos: QoS; retain: boolean }): Promise<void>;
  /** In-process subscription; returns an unsubscribe function. */
  subscribe(filter: string, handler: (topic: string, payload: Buffer) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

/** Build the broker's user table from the config and the passwords resolved from the environment. */
export function usersFromConfig(site: SiteConfig["site_broker"], passwords: Map<string, string>): SiteBrokerUser[] {
  return site.users.map((u) => {
    const grants = grantsFor(u.role, { publish: u.publish, subscribe: u.subscribe });
    if (u.password_scrypt !== undefined) {
      const hash = u.password_scrypt;
      return { username: u.username, grants, check: (pw: Buffer) => verifyScrypt(pw, hash) };
    }
    const secret = passwords.get(u.username);
    if (secret === undefined) throw new Error(`site_broker user ${u.username}: password not resolved from ${u.password_env}`);
    return { username: u.username, grants, check: (pw: Buffer) => verifyPlain(pw, secret) };
  });
}

const ANONYMOUS_GRANTS = grantsFor("gateway");

function authError(message: string, returnCode: 4 | 5): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError;
}

export async function startSiteBroker(opts: SiteBrokerOptions): Promise<SiteBroker> {
  const log = (opts.logger ?? silentLogger).child({ part: "site-broker" });
  const users = new Map(opts.users.map((u) => [u.username, u]));
  const grantsOf = new WeakMap<Client, { username?: string; grants: Grants }>();
  let tap: SiteTap | undefined;
  if (opts.allowAnonymous) log.warn("allow_anonymous is on: anonymous clients get the gateway role (development only)");

  const aedes = await Aedes.createBroker({
    authenticate(client, username, password, done) {
      if (username === undefined || username === "") {
        if (opts.allowAnonymous) {
          grantsOf.set(client, { grants: ANONYMOUS_GRANTS });
          return done(null, true);
        }
        log.warn({ clientId: client.id }, "refused anonymous client");
        return done(authError("anonymous clients are not allowed", 5), false);
      }
      const user = users.get(username);
      if (!user || password === undefined || !user.check(password)) {
        log.warn({ clientId: client.id, username }, "refused client: bad username or password");
        return done(authError("bad username or password", 4), false);
      }
      grantsOf.set(client, { username, grants: user.grants });
      done(null, true);
    },
    authorizePublish(client, packet: PublishPacket, done) {
      if (client === null) return done(new Error("publish without a client refused"));
      const who = grantsOf.get(client);
      if (!who) return done(new Error("client not authenticated"));
      const decision = canPublish(who.grants, packet.topic);
      if (!decision.ok) {
        // MQTT 3.1.1 has no negative PUBACK: aedes closes the connection ([MQTT-3.3.5-2]).
        log.warn({ clientId: client.id, username: who.username, topic: packet.topic }, `publish refused: ${decision.reason}`);
        return done(new Error(decision.reason));
      }
      if (!tap) return done(null);
      const payload = typeof packet.payload === "string" ? Buffer.from(packet.payload) : packet.payload;
      tap({ topic: packet.topic, payload, qos: packet.qos, retain: packet.retain, clientId: client.id, username: who.username }).then(
        () => done(null),
        (err: Error) => {
          log.error({ clientId: client.id, topic: packet.topic, err: err.message }, "publish not accepted: not acknowledged, the client will retry");
          done(err);
        },
      );
    },
    authorizeSubscribe(client, sub, done) {
      const who = grantsOf.get(client);
      const decision = who ? canSubscribe(who.grants, sub.topic) : { ok: false as const, reason: "client not authenticated" };
      if (!decision.ok) {
        log.warn({ clientId: client.id, username: who?.username, filter: sub.topic }, `subscribe refused: ${decision.reason}`);
        return done(null, null); // SUBACK 0x80 for this filter, the connection stays up
      }
      done(null, sub);
    },
  });
  aedes.on("clientError", (client, err) => log.debug({ clientId: client.id, err: err.message }, "client error"));

  const listener = await listenAedes(aedes, { host: opts.host, port: opts.port ?? 0 });
  const { host, port } = listener;
  log.info({ host, port, users: users.size }, "site broker listening");

  let closing: Promise<void> | undefined;
  return {
    aedes,
    host,
    port,
    setTap(t) {
      tap = t;
    },
    publish(topic, payload, { qos, retain }) {
      return new Promise((resolve, reject) => {
        aedes.publish({ cmd: "publish", topic, payload: typeof payload === "string" ? Buffer.from(payload) : payload, qos, retain, dup: false }, (err) => (err ? reject(err) : resolve()));
      });
    },
    async subscribe(filter, handler) {
      const deliver = (packet: { topic: string; payload: Buffer | string }, cb: () => void) => {
        try {
          handler(packet.topic, typeof packet.payload === "string" ? Buffer.from(packet.payload) : packet.payload);
        } finally {
          cb();
        }
      };
      await new Promise<void>((resolve) => aedes.subscribe(filter, deliver, resolve));
      return () => new Promise<void>((resolve) => aedes.unsubscribe(filter, deliver, resolve));
    },
    close() {
      closing ??= listener.close().then(() => log.info("site broker closed"));
      return closing;
    },
  };
}
