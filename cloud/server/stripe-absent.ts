/**
 * Production with BILLING_ENABLED=false and no Stripe keys (issue 19, seed 004: deploy first,
 * switch billing on later): the parts that hold a `stripe` client still get one, but it reaches
 * nothing — not Stripe (there is no key), and never the test emulator (production does not fall
 * back to it). Every call answers at once with a 503 saying why, which the cloud already treats
 * as "the payment provider is unavailable" (GET /billing/health shows the message).
 */
import Stripe from "stripe";

export const STRIPE_ABSENT_MESSAGE = "Stripe is not configured on this cloud: production with BILLING_ENABLED=false and no STRIPE_SECRET_KEY (set both Stripe keys, then BILLING_ENABLED=true)";

/** The one answer every call gets: an API error the `stripe` client turns into StripeAPIError. */
class AbsentResponse extends Stripe.HttpClientResponse {
  constructor() {
    super(503, { "content-type": "application/json", "stripe-should-retry": "false" });
  }
  override getRawResponse(): unknown {
    return null;
  }
  override toStream(done: () => void): unknown {
    done();
    return null;
  }
  override toJSON(): Promise<unknown> {
    return Promise.resolve({ error: { type: "api_error", message: STRIPE_ABSENT_MESSAGE } });
  }
}

class AbsentHttpClient extends Stripe.HttpClient {
  override getClientName(): string {
    return "syspark-stripe-absent";
  }
  override makeRequest(): Promise<AbsentResponse> {
    return Promise.resolve(new AbsentResponse());
  }
}

/** A `stripe` client that sends nothing anywhere. */
export function absentStripe(): Stripe {
  return new Stripe("sk_test_not_configured", { httpClient: new AbsentHttpClient(), maxNetworkRetries: 0 });
}
