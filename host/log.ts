/**
 * Structured logs (pino) for every Node-side part. Secrets never reach a log: the redact list
 * covers the usual places a key or PIN could sit.
 */
import pino, { type Logger } from "pino";

export type { Logger };

export function createLogger(name: string, level: string = process.env.LOG_LEVEL ?? "info"): Logger {
  return pino({
    name,
    level,
    redact: {
      paths: ["pin", "*.pin", "password", "*.password", "secret", "*.secret", "authorization", "*.authorization", "headers.authorization", "stripeSecretKey", "webhookSecret"],
      censor: "****",
    },
  });
}

/** A logger that writes nothing, for tests and benchmarks. */
export const silentLogger: Logger = pino({ level: "silent" });
