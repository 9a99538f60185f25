/**
 * Migration 16 (issue 17, the revenue report): what lets the revenue query (cloud/db/revenue.ts)
 * read each site's money of one bucket (a local day, week or month) as ONE index range scan,
 * summed straight off the index, instead of converting every row's time to the site's zone.
 * Listed in cloud/db/migrations.ts. Never edit it once released.
 *
 * payments.site_id and refunds.site_id: a payment's site is its session's, a refund's is its
 * payment's. Looked up per row, the report's month on 1,000,000 payments spent most of its time
 * in ~90,000 session lookups; kept on the row, the site leads the index, so a bucket of one site
 * is one contiguous slice of it. BEFORE INSERT triggers copy them, so no insert path changes (a
 * payment's session and a refund's payment are never updated).
 *
 * Why each index: keyed (site_id, time the money moved), partial on the rows that are money,
 * covering what the report sums (index-only scans once vacuumed, as autovacuum keeps them):
 * - payments: only `paid` rows are money received (validated_ts is set exactly then, by CHECK);
 *   idempotency_key tells the hold mode from pay-at-exit;
 * - refunds: only `succeeded` refunds took money back, netted on the day they succeeded
 *   (updated_at: succeeded is terminal, nothing writes the row after it);
 * - prepayments: paid_at (money in) and refunded_at of a succeeded refund (money out);
 * - billing_documents: permit invoices are the record of permit money, by issued_at.
 * A one-site report reads only that site's slices; an all-site report one slice per site.
 */
export const V16_REVENUE_INDEXES = /* sql */ `
ALTER TABLE payments ADD COLUMN site_id text;
UPDATE payments p SET site_id = s.site_id FROM sessions s WHERE s.session_id = p.session_id;
ALTER TABLE payments ALTER COLUMN site_id SET NOT NULL;
CREATE FUNCTION payments_site_from_session() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  SELECT site_id INTO NEW.site_id FROM sessions WHERE session_id = NEW.session_id;
  RETURN NEW;
END
$$;
CREATE TRIGGER payments_site BEFORE INSERT ON payments FOR EACH ROW EXECUTE FUNCTION payments_site_from_session();

ALTER TABLE refunds ADD COLUMN site_id text;
UPDATE refunds r SET site_id = p.site_id FROM payments p WHERE p.payment_id = r.payment_id;
ALTER TABLE refunds ALTER COLUMN site_id SET NOT NULL;
CREATE FUNCTION refunds_site_from_payment() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  SELECT site_id INTO NEW.site_id FROM payments WHERE payment_id = NEW.payment_id;
  RETURN NEW;
END
$$;
CREATE TRIGGER refunds_site BEFORE INSERT ON refunds FOR EACH ROW EXECUTE FUNCTION refunds_site_from_payment();

CREATE INDEX payments_paid_by_site_time ON payments (site_id, validated_ts) INCLUDE (amount, currency, idempotency_key) WHERE state = 'paid';
CREATE INDEX refunds_succeeded_by_site_time ON refunds (site_id, updated_at) INCLUDE (payment_id, amount, currency) WHERE state = 'succeeded';
CREATE INDEX prepayments_paid_by_site_time ON prepayments (site_id, paid_at) INCLUDE (amount, currency) WHERE paid_at IS NOT NULL;
CREATE INDEX prepayments_refunded_by_site_time ON prepayments (site_id, refunded_at) INCLUDE (amount, currency) WHERE refund_state = 'succeeded';
CREATE INDEX billing_documents_invoices_by_site_time ON billing_documents (site_id, issued_at) INCLUDE (total_ttc, currency) WHERE kind = 'invoice';
`;
