/** Reads a PDF back as text with pdfjs-dist (what a person or an accounting tool would read). */
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

const require = createRequire(import.meta.url);
const standardFontDataUrl = `${join(dirname(require.resolve("pdfjs-dist/package.json")), "standard_fonts")}/`;

export async function pdfText(bytes: Uint8Array): Promise<{ text: string; info: Record<string, unknown> }> {
  const pdfjs = await import("pdfjs-dist/legacy/build/pdf.mjs");
  const doc = await pdfjs.getDocument({ data: new Uint8Array(bytes), standardFontDataUrl, verbosity: 0 }).promise;
  try {
    const parts: string[] = [];
    for (let i = 1; i <= doc.numPages; i++) {
      const page = await doc.getPage(i);
      const tc = await page.getTextContent();
      // Items are glyph runs (kerning can split a word in two): joined as they come, with a
      // space at each end of line and between runs far apart on a line (table columns).
      let line = "";
      let lastEnd: number | undefined;
      for (const it of tc.items) {
        if (!("str" in it)) continue;
        const x = it.transform[4];
        if (lastEnd !== undefined && x - lastEnd > 12) line += " ";
        line += it.str;
        lastEnd = x + it.width;
        if (it.hasEOL) {
          line += " ";
          lastEnd = undefined;
        }
      }
      parts.push(line);
    }
    const meta = await doc.getMetadata();
    return { text: parts.join("\n").replace(/\s+/g, " "), info: meta.info as Record<string, unknown> };
  } finally {
    await doc.destroy();
  }
}

/** "9,80 €" as the PDF prints French amounts (plain spaces). */
export function frMoney(amount: number): string {
  return new Intl.NumberFormat("fr-FR", { style: "currency", currency: "EUR" }).format(amount / 100).replace(/[\u202f\u00a0]/g, " ");
}
