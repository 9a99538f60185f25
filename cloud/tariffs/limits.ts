// Bounds of a tariff document, shared by its schema (./schema.ts) and its analysis (./analysis.ts).

/** Longest stay the engine will price (bounded work per quote). */
export const MAX_STAY_DAYS = 400;

/** Max elements per tariff: the pricing loop keeps one bit per element per week-minute. */
export const MAX_ELEMENTS = 32;
