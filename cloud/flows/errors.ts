/**
 * A flow's refusal, with the HTTP status it maps to: a flow that finds the caller asked for
 * something it cannot have (an unknown pay link, nothing to pay, a lane that does not exist)
 * throws this, and the HTTP layer's error handler (cloud/http/errors.ts) answers with `status`,
 * the message and `code`. Anything else a flow throws is a 5xx there.
 */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}
