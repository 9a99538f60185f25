// The breakdown's labels and human lines, in each locale (./price.ts): dates in the tariff's
// local time ("Sat 29/03 20:00"), step sizes, and one phrase per kind of line.
import { describeSeconds } from "./analysis";
import type { Locale } from "./money";

const WEEKDAY_SHORT: Record<Locale, string[]> = {
  en: ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
  fr: ["lun.", "mar.", "mer.", "jeu.", "ven.", "sam.", "dim."],
};

function pad2(n: number): string {
  return String(n).padStart(2, "0");
}

/** "Sat 29/03" (+ " 20:00") from local milliseconds. */
export function fmtLocal(local: number, locale: Locale, withTime = true): string {
  const d = new Date(local);
  const wd = WEEKDAY_SHORT[locale][(d.getUTCDay() + 6) % 7];
  const date = `${wd} ${pad2(d.getUTCDate())}/${pad2(d.getUTCMonth() + 1)}`;
  return withTime ? `${date} ${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}` : date;
}

export function fmtLocalDateTimeString(s: string, locale: Locale): string {
  return fmtLocal(Date.UTC(Number(s.slice(0, 4)), Number(s.slice(5, 7)) - 1, Number(s.slice(8, 10)), Number(s.slice(11, 13)), Number(s.slice(14, 16))), locale);
}

export function fmtStep(s: number, locale: Locale): string {
  const txt = describeSeconds(s);
  return locale === "fr" ? txt.replace(" d", " j") : txt;
}

export const T = {
  en: {
    grace: (d: string) => `Grace period (${d}): free`,
    graceDeducted: (d: string) => `First ${d} free (grace period)`,
    steps: (label: string, n: number, step: string, unit: string) => `${label} — ${n} × ${step} at ${unit}`,
    elementFlat: (label: string) => `${label} — flat fee`,
    flat: (label: string, span: string) => `${label} (${span})`,
    cap: (span: string, metered: string) => `Daily cap applied — ${span} (metered ${metered})`,
    rolling: (start: string) => `24 h from ${start}`,
    max: (m: string) => `Maximum per stay applied (${m})`,
    freeTime: (label: string, d: string, until: string) => `${label}: ${d} free (stay priced until ${until})`,
    lostAtLeast: (fee: string) => `Lost ticket: minimum charge ${fee}`,
    lostAdd: () => "Lost-ticket fee",
    lostReplace: (fee: string) => `Lost ticket: flat fee ${fee} replaces the price of the stay`,
    total: "Total",
    free: "free",
  },
  fr: {
    grace: (d: string) => `Période de grâce (${d}) : gratuit`,
    graceDeducted: (d: string) => `${d} offertes (période de grâce)`,
    steps: (label: string, n: number, step: string, unit: string) => `${label} — ${n} × ${step} à ${unit}`,
    elementFlat: (label: string) => `${label} — forfait`,
    flat: (label: string, span: string) => `${label} (${span})`,
    cap: (span: string, metered: string) => `Plafond journalier appliqué — ${span} (au compteur ${metered})`,
    rolling: (start: string) => `24 h à partir du ${start}`,
    max: (m: string) => `Montant maximum par séjour appliqué (${m})`,
    freeTime: (label: string, d: string, until: string) => `${label} : ${d} offertes (séjour compté jusqu'au ${until})`,
    lostAtLeast: (fee: string) => `Ticket perdu : minimum ${fee}`,
    lostAdd: () => "Frais de ticket perdu",
    lostReplace: (fee: string) => `Ticket perdu : forfait ${fee} au lieu du prix du séjour`,
    total: "Total",
    free: "gratuit",
  },
} as const;

/** The phrases of one locale. */
export type Labels = (typeof T)[Locale];
