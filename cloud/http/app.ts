/**
 * The Express 5 application: the common middleware, then one router per audience. Built by
 * startCloud (cloud/server/index.ts) from already-open parts (deps.ts), so tests can drive it too.
 *
 * Bad input everywhere → a 4xx with a precise message and nothing written: JSON bodies are
 * size-limited and parsed strictly, validated with zod strict objects (unknown fields refused),
 * query strings likewise; no control character in any text (input.ts). The webhook route takes
 * the RAW body (signature over exact bytes). Errors: errors.ts.
 */
import express from "express";
import { accessRouter } from "./access";
import { adminApiRouter } from "./admin-api";
import { billingGate, billingRouter } from "./billing";
import { documentsRouter } from "./documents";
import { permitInvoicesRouter } from "./permit-invoices";
import type { AppDeps } from "./deps";
import { errorHandler, notFound } from "./errors";
import { refuseControlCharsInUrl } from "./input";
import { pageCsp, refuseCrossSite, requestContext } from "./middleware";
import { operatorRouter } from "./operator";
import { operatorsRouter } from "./operators";
import { opsRouter } from "./ops";
import { holdPagesRouter } from "./hold-pages";
import { payPagesRouter } from "./pay-pages";
import { pricingPagesRouter } from "./pricing-pages";
import { quoteApiRouter } from "./quote-api";
import { refundsRouter } from "./refunds";
import { prepayRefundsRouter } from "./prepay-refunds";
import { permitsRouter } from "./permits";
import { consoleAssetsRouter } from "./console/assets";
import { consoleLiveRouter } from "./console/live";
import { consoleAdminRouter } from "./console/admin";
import { consoleRevenueRouter } from "./console/revenue";
import { consoleSessionsRouter } from "./console/sessions";
import { consoleEntryRouter } from "./console/entry-actions";
import { consoleLostTicketRouter } from "./console/lost-ticket";
import { merchantRouter } from "./merchants";
import { reservationRouter } from "./reservations";
import { stripeWebhookRouter } from "./stripe-webhook";

export type { AppDeps } from "./deps";

/** `trustProxy`: TRUST_PROXY (cloud/server/network-config.ts); absent → X-Forwarded-* are not believed. */
export function buildApp(d: AppDeps, o: { trustProxy?: boolean | number | string[] } = {}): express.Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("trust proxy", o.trustProxy ?? false);
  app.set("query parser", "simple");

  app.use(requestContext(d.metrics, d.logger)); // request id, security headers, access log
  app.use(pageCsp); // a CSP with a nonce on every HTML page that does not set its own
  app.use(refuseControlCharsInUrl); // the text rule on every query string and path (bodies: after their parser)
  app.use(refuseCrossSite(d.auth, d.publicBaseUrl)); // a change made with the session cookie comes from our own pages

  app.use(opsRouter(d)); // GET /health, /metrics
  app.use(stripeWebhookRouter(d)); // POST /webhooks/stripe (raw body, signed)
  app.use(billingRouter(d)); // GET /billing/health
  app.use(billingGate(d)); // BILLING_ENABLED=false: the pay routes below answer 503
  app.use(payPagesRouter(d)); // /pay/:sessionId…, /api/pay/:sessionId…
  app.use(pricingPagesRouter(d)); // /pricing, /pricing/:siteId (estimate, prepay)
  app.use(quoteApiRouter(d)); // GET /api/sites/:siteId/quote
  app.use(holdPagesRouter(d)); // /hold/:siteId…, /api/holds (hold at entry, capture at exit)
  app.use(operatorRouter(d)); // login, logout, sessions, audit, overrides
  app.use(consoleAssetsRouter()); // /console/assets/console.css|js
  app.use(consoleLiveRouter(d)); // /console, /console/sites/:site, /api/console/sites… (live view, stream, lane actions)
  app.use(consoleSessionsRouter(d)); // /console/search, /console/sessions/:id (refund, resolve), /api/console/sessions…
  app.use(consoleAdminRouter(d)); // /console/admin… (sites, lanes, tariffs with preview, permits, operators: admins only)
  app.use(consoleRevenueRouter(d)); // /console/revenue, /console/revenue.svg, /api/console/revenue (every role)
  app.use(consoleEntryRouter(d)); // occupancy count adjust, anti-passback clear (issue 18)
  app.use(consoleLostTicketRouter(d)); // a lost ticket declared by an operator at a lane (issue 18)
  app.use(merchantRouter(d)); // /merchant/:token… (a merchant's validations), /console/merchants (report, admin)
  app.use(reservationRouter(d)); // /reservations/:siteId… (book and prepay a stay)
  app.use(accessRouter(d)); // /api/sites/:site/access
  app.use(operatorsRouter(d)); // GET/POST /api/operators (admin)
  app.use(adminApiRouter(d)); // /api/admin/sites…, /api/admin/seed (admin: sites, lanes, tariffs, a whole site file)
  app.use(refundsRouter(d)); // /api/operator/refunds, /api/operator/sessions/:id/refund-late|refunds
  app.use(prepayRefundsRouter(d)); // /api/operator/prepayments/:id/refund
  app.use(permitsRouter(d)); // /permits/:site…, /renew-subscription, /api/sites/:site/permit-plans|permits
  app.use(documentsRouter(d)); // /receipts/:documentId(.pdf), /api/operator/documents/:id(.pdf)
  app.use(permitInvoicesRouter(d)); // /permit-invoices/:documentId(.pdf)?permit=…&t=… (a permit holder's invoices)

  app.use(notFound);
  app.use(errorHandler(d.logger));
  return app;
}
