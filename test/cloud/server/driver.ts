/**
 * A driver's phone without a browser: follows the payment pages' forms and redirects with plain
 * HTTP (fetch, redirects by hand), so a test sees every status and content type on the way —
 * the cloud's pay page, "Pay by card", the emulator's card page, the return page.
 */
import { expect } from "chai";

export interface Hop {
  method: string;
  url: string;
  status: number;
  contentType: string;
  body: string;
}

/** The action and hidden inputs of the first form (whose action matches `want`, when given). */
function formOf(html: string, base: string, want?: RegExp): { action: string; fields: Record<string, string> } {
  const m = [...html.matchAll(/<form method="post" action="([^"]+)">([\s\S]*?)<\/form>/g)].find((f) => !want || want.test(f[1]));
  if (!m) throw new Error(`no form${want ? ` posting to ${want}` : ""} on the page: ${html.slice(0, 300)}`);
  const unescape = (s: string) => s.replace(/&amp;/g, "&").replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, "<").replace(/&gt;/g, ">");
  const fields: Record<string, string> = {};
  for (const h of m[2].matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) fields[unescape(h[1])] = unescape(h[2]);
  return { action: new URL(unescape(m[1]), base).toString(), fields };
}

export class Phone {
  readonly hops: Hop[] = [];
  constructor(private readonly lang = "fr-FR") {}

  /** One request and the redirects after it (303/302 → GET), each recorded. */
  async go(url: string, init: { method?: string; form?: Record<string, string> } = {}): Promise<Hop> {
    let method = init.method ?? (init.form ? "POST" : "GET");
    let body: string | undefined = init.form ? new URLSearchParams(init.form).toString() : undefined;
    for (let i = 0; i < 10; i++) {
      const r = await fetch(url, { method, redirect: "manual", headers: { "Accept-Language": this.lang, Accept: "text/html,application/xhtml+xml", ...(body !== undefined ? { "Content-Type": "application/x-www-form-urlencoded" } : {}) }, ...(body !== undefined ? { body } : {}) });
      const hop: Hop = { method, url, status: r.status, contentType: r.headers.get("content-type") ?? "", body: await r.text() };
      this.hops.push(hop);
      const loc = r.headers.get("location");
      if (r.status >= 300 && r.status < 400 && loc) {
        url = new URL(loc, url).toString();
        method = "GET";
        body = undefined;
        continue;
      }
      return hop;
    }
    throw new Error(`too many redirects from ${url}`);
  }

  /** The pay link → "Pay by card" → the card page, where a card is typed. */
  async openCardPage(payUrl: string): Promise<Hop> {
    const page = await this.go(payUrl);
    expect(page.status, page.body.slice(0, 300)).to.equal(200);
    const start = formOf(page.body, payUrl);
    expect(start.action).to.match(/\/pay\/[^/]+\/start\?/);
    const card = await this.go(start.action, { form: start.fields });
    expect(card.status, `${card.url}: ${card.body.slice(0, 300)}`).to.equal(200);
    expect(card.body).to.contain('id="card_number"');
    return card;
  }

  /** The pay link → "Pay on Stripe's secure page" → the (emulator's) Checkout page. */
  async openCheckoutPage(payUrl: string): Promise<Hop> {
    const page = await this.go(payUrl);
    expect(page.status, page.body.slice(0, 300)).to.equal(200);
    const start = formOf(page.body, payUrl, /\/checkout\?/);
    const checkout = await this.go(start.action, { form: start.fields });
    expect(checkout.status, `${checkout.url}: ${checkout.body.slice(0, 300)}`).to.equal(200);
    expect(checkout.body).to.contain('id="card_number"');
    return checkout;
  }

  /** Types a card on the card page shown; answers the page the driver ends on. */
  async payOnCardPage(cardPage: Hop, number = "4242 4242 4242 4242"): Promise<Hop> {
    const form = formOf(cardPage.body, cardPage.url);
    return this.go(form.action, { form: { ...form.fields, card_number: number, exp: "12/34", cvc: "123" } });
  }
}
