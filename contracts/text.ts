/**
 * The one rule for free-text fields of the MQTT contract (contracts/mqtt-topics.ts): no C0
 * control character (U+0000–U+001F) and no DEL (U+007F), tab and newline included — none of
 * these fields is multi-line, a display line is one line by definition, and a NUL byte is
 * refused by PostgreSQL ("unsupported Unicode escape sequence"), so a payload holding one could
 * never be stored: it is a contract violation, refused (and dropped by the cloud's consumer,
 * never retried) with an error naming the field. Letters outside ASCII stay allowed
 * (`Sortie fermée`, `€`).
 */
import { z } from "zod";

/** The characters a text field refuses. */
// eslint-disable-next-line no-control-regex
export const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS_ALL = /[\u0000-\u001f\u007f]/g;

/** The refusal for `s`, or undefined when it holds no control character. */
export function controlCharError(field: string, s: string): string | undefined {
  const m = CONTROL_CHARS.exec(s);
  if (!m) return undefined;
  const code = m[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, "0");
  return `${field} must not contain control characters (U+0000-U+001F, U+007F): U+${code} at position ${m.index}`;
}

/** Adds the no-control-character rule to a string schema. */
export function noControl<S extends z.ZodType<string>>(field: string, schema: S): S {
  return schema.superRefine((s, ctx) => {
    const error = controlCharError(field, s);
    if (error) ctx.addIssue({ code: "custom", message: error });
  }) as unknown as S;
}

/** A free-text field of the contract: `min`..`max` characters, no control character. */
export function text(field: string, bounds: { min?: number; max: number }): z.ZodString {
  let s = z.string();
  if (bounds.min !== undefined) s = s.min(bounds.min);
  return noControl(field, s.max(bounds.max));
}

/**
 * For the cloud's own messages whose text comes from elsewhere (a tariff's name, a provider's
 * message): each control character becomes a space, so a stray newline in a label does not make
 * the message break the contract.
 */
export function withoutControlChars(s: string): string {
  return s.replace(CONTROL_CHARS_ALL, " ");
}
