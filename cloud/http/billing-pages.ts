/**
 * The driver's page when payment cannot happen right now (issue 16 items 6 and 7): the provider
 * is out of reach (`provider`) or billing is switched off (`disabled`, BILLING_ENABLED=false).
 * Either way nothing was charged, the exit stays closed, and the help button at the lane reaches
 * the operator. Served with HTTP 503, in the page's language. Also the HTML rendering of
 * GET /billing/health for a person's browser.
 */
import { esc, layout, type Lang } from "./pages";

const T = {
  fr: {
    provider: {
      title: "Paiement indisponible pour le moment",
      text: "Notre prestataire de paiement ne répond pas. Rien n'a été débité. La barrière reste fermée : réessayez dans quelques minutes, ou appuyez sur le bouton d'aide (appel) de la borne de sortie pour joindre l'opérateur.",
    },
    disabled: {
      title: "Paiement en ligne désactivé",
      text: "Le paiement en ligne n'est pas disponible sur ce parking pour le moment. Rien n'a été débité. Appuyez sur le bouton d'aide (appel) de la borne de sortie : l'opérateur vous fera sortir.",
    },
    retry: "Réessayer",
    reference: "Référence",
  },
  en: {
    provider: {
      title: "Payment unavailable right now",
      text: "Our payment provider is not answering. Nothing was charged. The barrier stays closed: try again in a few minutes, or press the help (call) button on the exit terminal to reach the operator.",
    },
    disabled: {
      title: "Online payment switched off",
      text: "Online payment is not available at this car park right now. Nothing was charged. Press the help (call) button on the exit terminal: the operator will let you out.",
    },
    retry: "Try again",
    reference: "Reference",
  },
} as const;

export type UnavailableKind = "provider" | "disabled";

export function paymentUnavailablePage(lang: Lang, kind: UnavailableKind, opts: { retryHref?: string; reference?: string } = {}): string {
  const t = T[lang];
  const m = t[kind];
  return layout(
    lang,
    m.title,
    `<div class="card" id="result" data-result="${kind === "provider" ? "provider_unavailable" : "billing_disabled"}">
<h1 class="bad">${esc(m.title)}</h1>
<p>${esc(m.text)}</p>
${opts.retryHref && kind === "provider" ? `<a class="btn alt" id="retry" href="${esc(opts.retryHref)}">${esc(t.retry)}</a>` : ""}
${opts.reference ? `<p class="muted" id="reference">${esc(t.reference)} : ${esc(opts.reference)}</p>` : ""}
</div>`,
  );
}

/** GET /billing/health for a browser: every field of the JSON, as a table (operators' English). */
export function billingHealthPage(body: Record<string, unknown>, ok: boolean): string {
  const rows: string[] = [];
  const walk = (prefix: string, v: unknown) => {
    if (v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof Date)) {
      const entries = Object.entries(v as Record<string, unknown>);
      if (entries.length === 0) rows.push(`<tr><th>${esc(prefix)}</th><td>—</td></tr>`);
      for (const [k, x] of entries) walk(prefix ? `${prefix}.${k}` : k, x);
      return;
    }
    rows.push(`<tr><th>${esc(prefix)}</th><td>${esc(v === null || v === undefined ? "—" : v instanceof Date ? v.toISOString() : String(v))}</td></tr>`);
  };
  walk("", body);
  return layout(
    "en",
    "Billing health",
    `<div class="card" id="billing-health" data-status="${ok ? "ok" : "degraded"}"><h1 class="${ok ? "ok" : "bad"}">Billing health: ${ok ? "ok" : "degraded"}</h1>
<p class="muted">The same figures as JSON: <code>curl -H 'Accept: application/json' …/billing/health</code></p>
<table class="grid">${rows.join("")}</table></div>`,
    { wide: true, refreshS: 30 },
  );
}
