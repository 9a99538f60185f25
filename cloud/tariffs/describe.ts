// A tariff in words, for the public /pricing page (issue 16 item 2): one sentence per rule of
// the document (grace period, each element, flat rates, caps, maximum, lost ticket, discounts),
// in French or English. Pure; the figures a driver pays still come only from priceStay.
import { textOf } from "./analysis";
import { fmtLocalDateTimeString, fmtStep } from "./labels";
import { formatMoney, type Locale } from "./money";
import type { DayOfWeek, Restrictions, Tariff } from "./schema";

const DAY_NAMES: Record<Locale, Record<DayOfWeek, string>> = {
  en: { MONDAY: "Monday", TUESDAY: "Tuesday", WEDNESDAY: "Wednesday", THURSDAY: "Thursday", FRIDAY: "Friday", SATURDAY: "Saturday", SUNDAY: "Sunday" },
  fr: { MONDAY: "lundi", TUESDAY: "mardi", WEDNESDAY: "mercredi", THURSDAY: "jeudi", FRIDAY: "vendredi", SATURDAY: "samedi", SUNDAY: "dimanche" },
};

const W = {
  en: {
    graceFree: (d: string) => `Stays of ${d} or less are free.`,
    graceDeducted: (d: string) => `The first ${d} of every stay are free.`,
    step: (label: string, price: string, step: string) => `${label}: ${price} per ${step} started`,
    flatFee: (price: string) => ` plus a ${price} flat fee`,
    days: (d: string) => ` on ${d}`,
    hours: (a: string, b: string) => ` from ${a} to ${b}`,
    capRate: (label: string, price: string, span: string) => `${label}: at most ${price} ${span}.`,
    fixedRate: (label: string, price: string, span: string) => `${label}: ${price} flat ${span}.`,
    daily: (a: string, b: string, days: string) => `from ${a} to ${b}${days}`,
    dates: (a: string, b: string) => `from ${a} to ${b}`,
    rolling: (p: string) => `At most ${p} per 24 hours of parking.`,
    calendar: (p: string) => `At most ${p} per calendar day.`,
    max: (p: string) => `At most ${p} per stay.`,
    lostAtLeast: (p: string) => `Lost ticket: at least ${p}.`,
    lostAdd: (p: string) => `Lost ticket: ${p} added to the price of the stay.`,
    lostReplace: (p: string) => `Lost ticket: ${p} instead of the price of the stay.`,
    percent: (n: number) => `−${n} %`,
    fixed: (p: string) => `−${p}`,
    freeTime: (d: string) => `${d} free`,
    every: "Every started step is due.",
  },
  fr: {
    graceFree: (d: string) => `Un stationnement de ${d} ou moins est gratuit.`,
    graceDeducted: (d: string) => `Les premières ${d} de chaque stationnement sont offertes.`,
    step: (label: string, price: string, step: string) => `${label} : ${price} par tranche de ${step} commencée`,
    flatFee: (price: string) => `, plus un forfait de ${price}`,
    days: (d: string) => ` le ${d}`,
    hours: (a: string, b: string) => ` de ${a} à ${b}`,
    capRate: (label: string, price: string, span: string) => `${label} : au plus ${price} ${span}.`,
    fixedRate: (label: string, price: string, span: string) => `${label} : forfait de ${price} ${span}.`,
    daily: (a: string, b: string, days: string) => `de ${a} à ${b}${days}`,
    dates: (a: string, b: string) => `du ${a} au ${b}`,
    rolling: (p: string) => `Au plus ${p} par tranche de 24 heures de stationnement.`,
    calendar: (p: string) => `Au plus ${p} par jour calendaire.`,
    max: (p: string) => `Au plus ${p} par stationnement.`,
    lostAtLeast: (p: string) => `Ticket perdu : au moins ${p}.`,
    lostAdd: (p: string) => `Ticket perdu : ${p} ajoutés au prix du stationnement.`,
    lostReplace: (p: string) => `Ticket perdu : ${p} au lieu du prix du stationnement.`,
    percent: (n: number) => `−${n} %`,
    fixed: (p: string) => `−${p}`,
    freeTime: (d: string) => `${d} offertes`,
    every: "Toute tranche commencée est due.",
  },
} as const;

function restrictionText(r: Restrictions | undefined, locale: Locale): string {
  const w = W[locale];
  let s = "";
  if (r?.day_of_week?.length) s += w.days(r.day_of_week.map((d) => DAY_NAMES[locale][d]).join(", "));
  if (r?.start_time !== undefined && r.end_time !== undefined) s += w.hours(r.start_time, r.end_time);
  return s;
}

/** The tariff's rules as sentences, in the asked language. */
export function describeTariff(t: Tariff, locale: Locale): string[] {
  const w = W[locale];
  const money = (n: number) => formatMoney(n, t.currency, locale);
  const out: string[] = [];
  const grace = t.grace_period;
  if (grace && grace.duration > 0) out.push(grace.mode === "free_if_within" ? w.graceFree(fmtStep(grace.duration, locale)) : w.graceDeducted(fmtStep(grace.duration, locale)));
  for (const el of t.elements) {
    const meter = el.price_components.find((c) => c.type === "PARKING_TIME");
    const flat = el.price_components.find((c) => c.type === "FLAT");
    if (!meter || meter.type !== "PARKING_TIME") continue;
    let s = w.step(textOf(el.label, locale), money(meter.price_per_step), fmtStep(meter.step_size, locale)) + restrictionText(el.restrictions, locale);
    if (flat && flat.type === "FLAT") s += w.flatFee(money(flat.price));
    out.push(`${s}.`);
  }
  out.push(w.every);
  for (const f of t.flat_rates ?? []) {
    const span = f.window.kind === "daily"
      ? w.daily(f.window.start_time, f.window.end_time, f.window.day_of_week?.length ? w.days(f.window.day_of_week.map((d) => DAY_NAMES[locale][d]).join(", ")) : "")
      : w.dates(fmtLocalDateTimeString(f.window.from, locale), fmtLocalDateTimeString(f.window.to, locale));
    out.push(f.mode === "cap" ? w.capRate(textOf(f.label, locale), money(f.price), span) : w.fixedRate(textOf(f.label, locale), money(f.price), span));
  }
  if (t.daily_cap) out.push(t.daily_cap.window === "rolling_24h" ? w.rolling(money(t.daily_cap.price)) : w.calendar(money(t.daily_cap.price)));
  if (t.max_per_stay !== undefined) out.push(w.max(money(t.max_per_stay)));
  if (t.lost_ticket) {
    const p = money(t.lost_ticket.price);
    out.push(t.lost_ticket.mode === "at_least" ? w.lostAtLeast(p) : t.lost_ticket.mode === "add" ? w.lostAdd(p) : w.lostReplace(p));
  }
  const discountText = (d: NonNullable<NonNullable<Tariff["discounts"]>["subscriber"]>): string => {
    const what = d.kind === "percent" ? w.percent(d.percent) : d.kind === "fixed" ? w.fixed(money(d.amount)) : w.freeTime(fmtStep(d.duration, locale));
    return `${textOf(d.label, locale)} (${what})`;
  };
  // Discount labels already say what they are ("Subscriber: …", "Shop validation"): no prefix.
  if (t.discounts?.subscriber) out.push(`${discountText(t.discounts.subscriber)}.`);
  for (const d of Object.values(t.discounts?.validations ?? {})) out.push(`${discountText(d)}.`);
  return out;
}
