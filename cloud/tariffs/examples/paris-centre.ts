// The demo site's tariff: a city-centre car park in Paris (prices incl. VAT, EUR cents).
// Quarter-hour billing for the first 12 hours (French consumer code, art. L224-65 / "loi
// Hamon" 2015), a night flat rate, a 24 h cap, a lost-ticket fee, subscriber and shop
// validation discounts. Hand-computed prices for it are in test/cloud/tariffs/paris-centre.test.ts
// and docs/tariffs.md.
import type { Tariff, TariffInput } from "../schema";
import { parseTariff } from "../validate";

export const parisCentreDocument = {
  id: "paris-centre",
  version: 1,
  name: { en: "Paris Centre — public tariff", fr: "Paris Centre — tarif public" },
  currency: "EUR",
  time_zone: "Europe/Paris",
  effective_from: "2025-01-01T00:00:00+01:00",
  grace_period: { duration: 15 * 60, mode: "free_if_within" },
  elements: [
    {
      label: { en: "1st hour", fr: "1re heure" },
      price_components: [{ type: "PARKING_TIME", price_per_step: 120, step_size: 900 }],
      restrictions: { max_duration: 3600 },
    },
    {
      label: { en: "Hours 2 to 12", fr: "De la 2e à la 12e heure" },
      price_components: [{ type: "PARKING_TIME", price_per_step: 100, step_size: 900 }],
      restrictions: { min_duration: 3600, max_duration: 12 * 3600 },
    },
    {
      label: { en: "Beyond 12 h", fr: "Au-delà de 12 h" },
      price_components: [{ type: "PARKING_TIME", price_per_step: 300, step_size: 3600 }],
      restrictions: { min_duration: 12 * 3600 },
    },
  ],
  flat_rates: [
    {
      label: { en: "Night flat rate 20:00–08:00", fr: "Forfait nuit 20 h–8 h" },
      price: 600,
      mode: "cap",
      window: { kind: "daily", start_time: "20:00", end_time: "08:00" },
    },
    {
      label: { en: "Fête de la musique event rate", fr: "Forfait Fête de la musique" },
      price: 1000,
      mode: "fixed",
      window: { kind: "dates", from: "2025-06-21T18:00", to: "2025-06-22T06:00" },
    },
  ],
  daily_cap: { price: 3800, window: "rolling_24h" },
  max_per_stay: 30000,
  lost_ticket: { price: 4000, mode: "at_least" },
  discounts: {
    subscriber: { kind: "percent", percent: 100, label: { en: "Subscriber: included in the subscription", fr: "Abonné : inclus dans l'abonnement" } },
    validations: {
      "SHOP-1H": { kind: "free_time", duration: 3600, label: { en: "Shop validation", fr: "Validation commerçant" } },
      "CINEMA-3H": { kind: "free_time", duration: 3 * 3600, label: { en: "Cinema validation", fr: "Validation cinéma" } },
      "HOTEL-20": { kind: "percent", percent: 20, label: { en: "Hotel guest −20 %", fr: "Client de l'hôtel −20 %" } },
      "RESTO-2E": { kind: "fixed", amount: 200, label: { en: "Restaurant validation −2 €", fr: "Validation restaurant −2 €" } },
    },
  },
} satisfies TariffInput;

export const parisCentre: Tariff = parseTariff(parisCentreDocument);
