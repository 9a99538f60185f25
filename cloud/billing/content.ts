/**
 * What a billing document says, frozen at issue (the `content` jsonb of billing_documents): the
 * HTML page and the PDF are both rendered from it and nothing else, so a document reads the
 * same forever even if the site, the operator's details or the VAT rate change later.
 */
import type { LegalDetails } from "./legal";
import type { DocumentKind } from "./numbering";

export interface Bilingual {
  fr: string;
  en: string;
}

export interface DocumentContent {
  format: 1;
  kind: DocumentKind;
  number: string;
  /** ISO instant (UTC); shown in the site's time zone. */
  issued_at: string;
  issuer: LegalDetails;
  site: { site_id: string; name: string; time_zone: string };
  currency: string;
  vat_rate_bp: number;
  /** Minor units; TTC = HT + VAT. A credit note's amounts are what is credited back (positive). */
  totals: { ttc: number; ht: number; vat: number };
  /** Tax-inclusive lines; they add up to totals.ttc. */
  lines: { label: Bilingual; amount: number }[];
  payment?: { payment_id: string; provider: string; provider_ref: string | null; validated_at: string | null; card: { brand: string; last4: string } | null };
  stay?: { session_id: string; identity: string; lane: string; entry: string; exit: string | null; duration_s: number };
  customer?: { name: string; email?: string; reference?: string };
  plan?: { name: string; period_from: string; period_to: string };
  refund?: { refund_id: string; reason: string; original_number?: string };
}

export const KIND_TITLE: Record<DocumentKind, Bilingual> = {
  receipt: { fr: "Reçu", en: "Receipt" },
  invoice: { fr: "Facture", en: "Invoice" },
  credit_note: { fr: "Avoir", en: "Credit note" },
};
