/**
 * Typed errors the repositories throw, so the server can map each to an HTTP status / MQTT
 * reaction without parsing messages. IllegalTransitionError lives with the state machines
 * (cloud/domain/state-machines.ts) and is re-exported from cloud/db/index.ts.
 */

/** The row the caller names does not exist (→ 404). */
export class NotFoundError extends Error {
  override readonly name = "NotFoundError";
  constructor(
    readonly entity: string,
    readonly id: string,
  ) {
    super(`${entity} ${id} not found`);
  }
}

/** Input rejected before anything was written (→ 400). */
export class ValidationError extends Error {
  override readonly name = "ValidationError";
}

/** An identity already has an open session at that site (one per identity per site). */
export class ActiveSessionExistsError extends Error {
  override readonly name = "ActiveSessionExistsError";
  constructor(readonly existingSessionId: string) {
    super(`an open session (${existingSessionId}) already exists for this identity at this site`);
  }
}

/** The same idempotency key was reused for a different request (→ 409). */
export class IdempotencyConflictError extends Error {
  override readonly name = "IdempotencyConflictError";
}

/** A uniqueness rule other than the above (e.g. username taken) (→ 409). */
export class ConflictError extends Error {
  override readonly name = "ConflictError";
}

/** SQLSTATE of a postgres error, if it is one. */
export function pgCode(err: unknown): string | undefined {
  if (err && typeof err === "object" && "code" in err && typeof (err as { code: unknown }).code === "string") return (err as { code: string }).code;
  return undefined;
}

export const UNIQUE_VIOLATION = "23505";
