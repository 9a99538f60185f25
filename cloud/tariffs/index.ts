// Tariff engine: public surface. See docs/tariffs.md.
export { TariffShapeSchema, DiscountSchema, FlatRateSchema, TariffElementSchema, RestrictionsSchema, PriceComponentSchema, DAYS } from "./schema";
export type { Tariff, TariffInput, TariffElement, Restrictions, PriceComponent, FlatRate, FlatWindow, Discount, LocalizedText, DayOfWeek } from "./schema";
export { priceStay } from "./price";
export type { PriceStayInput, PriceResult, BreakdownLine, BreakdownKind, Instant } from "./price";
export { tariffInForce } from "./versions";
export { validateTariff, parseTariff, TariffSchema, TariffValidationError, PricingError } from "./validate";
export type { TariffValidation } from "./validate";
export { formatMoney, minorDigits, toDecimalString } from "./money";
export type { Locale } from "./money";
