/**
 * Stripe-shaped API errors. Every failure the emulator reports over the API is one of these, so
 * the real `stripe` client turns it into the same error class it would build for Stripe
 * (402 → StripeCardError, 400/404 → StripeInvalidRequestError or StripeIdempotencyError,
 * 401 → StripeAuthenticationError, 5xx → StripeAPIError).
 */

export type StripeErrorType = "api_error" | "card_error" | "idempotency_error" | "invalid_request_error";

export interface StripeErrorBody {
  type: StripeErrorType;
  message: string;
  code?: string;
  decline_code?: string;
  param?: string;
  doc_url?: string;
  charge?: string;
  payment_intent?: unknown;
  payment_method?: unknown;
  setup_intent?: unknown;
  request_log_url?: string;
}

export class StripeApiError extends Error {
  readonly status: number;
  readonly body: StripeErrorBody;
  /**
   * True when the request was rejected before the endpoint started executing (bad parameters,
   * authentication). Stripe does not store an idempotent result for those, so a corrected retry
   * with the same key is allowed.
   */
  readonly beforeExecution: boolean;

  constructor(status: number, body: StripeErrorBody, beforeExecution = false) {
    super(body.message);
    this.name = "StripeApiError";
    this.status = status;
    this.body = body;
    this.beforeExecution = beforeExecution;
  }
}

const DOCS = "https://docs.stripe.com/error-codes";

/** 400 invalid_request_error raised while reading parameters (nothing has executed). */
export function paramError(code: string, param: string | undefined, message: string): StripeApiError {
  return new StripeApiError(
    400,
    { type: "invalid_request_error", code, ...(param !== undefined ? { param } : {}), message, doc_url: `${DOCS}/${code.replace(/_/g, "-")}` },
    true,
  );
}

/** 400 invalid_request_error raised by an endpoint that started executing. */
export function requestError(code: string, message: string, extra: Partial<StripeErrorBody> = {}): StripeApiError {
  return new StripeApiError(400, { type: "invalid_request_error", code, message, doc_url: `${DOCS}/${code.replace(/_/g, "-")}`, ...extra });
}

export function notFound(kind: string, id: string, param = "id"): StripeApiError {
  return new StripeApiError(
    404,
    { type: "invalid_request_error", code: "resource_missing", param, message: `No such ${kind}: '${id}'`, doc_url: `${DOCS}/resource-missing` },
    true,
  );
}

export function unexpectedState(message: string, paymentIntent?: unknown): StripeApiError {
  return requestError("payment_intent_unexpected_state", message, paymentIntent === undefined ? {} : { payment_intent: paymentIntent });
}

export function authError(message: string): StripeApiError {
  return new StripeApiError(401, { type: "invalid_request_error", message }, true);
}
