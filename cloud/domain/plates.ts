/**
 * The one form a plate is stored and compared in, everywhere (sessions, permits, prepayments,
 * holds): upper case, without the separators people and cameras put in it — spaces, dots, dashes,
 * underscores ("ab-123 cd", "AB.123.CD" and "AB 123 CD" are all "AB123CD"). One rule, because a
 * permit or a prepayment bought for a plate written one way must match the entry the camera read
 * another way. What is left must then be letters and digits (PLATE_FORM) to be stored by an entry.
 */
export function canonicalPlate(plate: string): string {
  return plate.toUpperCase().replace(/[\s.\-_]/g, "");
}

/** A canonical plate an entry session accepts. */
export const PLATE_FORM = /^[A-Z0-9]{1,16}$/;
