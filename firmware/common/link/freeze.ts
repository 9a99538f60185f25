/**
 * Deep freeze for the firmware's constant tables. On XS, mcconfig preloads modules into flash:
 * a frozen object stays there, an unfrozen one needs a RAM alias slot in case it is written
 * (the linker's "not frozen" warnings). Objects and arrays only; returns its argument.
 */
export function deepFreeze<T>(value: T): T {
  if (typeof value !== "object" || value === null || Object.isFrozen(value)) return value;
  for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
  return Object.freeze(value);
}
