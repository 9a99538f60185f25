/**
 * The operators' console in a real browser (issue 17): a cloud on embedded defaults (PGlite,
 * in-process broker, the Stripe test emulator), the site side played over MQTT exactly as the
 * gateway publishes, headless Chromium logging in through /login like an operator, and one PNG
 * per scenario at two sizes (a phone, 390×844, and a wall screen, 1920×1080) kept under
 * reports/console/ (SYSPARK_CONSOLE_SHOTS overrides the directory) for CI to keep as artefacts.
 * Every page the browser opens is watched for CSP violations and script errors.
 */
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { encodePayload, siteTopic, toCloudTopic, type Payload, type TopicKey } from "../../contracts/mqtt-topics";
import { createOperator, hashSecret } from "../../cloud/db/index";
import { requireToolOrSkip } from "../../host/tools";
import { LOW_SCRYPT, SiteClient, startEmbedded, type TestCloud } from "../cloud/server/helpers";

export const SHOTS_DIR = resolve(process.env.SYSPARK_CONSOLE_SHOTS ?? "reports/console");
export const PHONE = { width: 390, height: 844 } as const;
export const WALL = { width: 1920, height: 1080 } as const;
export const SITE = "paris-centre";
export const SRC = "gw-console-test";
const PASSWORD = "a console password 123";

export type Role = "admin" | "operator" | "viewer";

export interface ConsoleWorld {
  t: TestCloud;
  base: string;
  site: SiteClient;
  browser: Browser;
  users: Record<Role, { username: string; password: string }>;
  /** Every CSP violation, page error and console error seen on any page, with the page's URL. */
  problems: string[];
  /** Publishes as the gateway does (lane-scoped topics get the lane in their topic). */
  publish<K extends TopicKey>(key: K, payload: Omit<Payload<K>, "src">, lane?: string): Promise<void>;
  /** A browser context logged in through the /login form as `role`, at `viewport`, on /console. */
  login(role: Role, viewport?: { width: number; height: number }, opts?: { lang?: "fr" | "en" }): Promise<{ ctx: BrowserContext; page: Page }>;
  close(): Promise<void>;
}

export async function launchChromium(ctx: Mocha.Context): Promise<Browser> {
  requireToolOrSkip(ctx, "chromium");
  const { chromium } = await import("playwright-core");
  return chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"] });
}

/** Records what a page reports that an operator would never see but a broken page shows. */
function watch(page: Page, problems: string[]): void {
  page.on("console", (m) => {
    const text = m.text();
    // A refused request (the viewer's forged fetch: 403) logs "Failed to load resource": expected, not a defect.
    if (/Content Security Policy|Content-Security-Policy/i.test(text) || (m.type() === "error" && !/Failed to load resource/.test(text))) problems.push(`${page.url()}: console ${m.type()}: ${text}`);
  });
  page.on("pageerror", (err) => problems.push(`${page.url()}: pageerror: ${err.message}`));
}

export async function startConsoleWorld(mocha: Mocha.Context): Promise<ConsoleWorld> {
  const browser = await launchChromium(mocha);
  const t = await startEmbedded();
  const base = t.cloud.url;
  const users: ConsoleWorld["users"] = { admin: t.admin, operator: { username: "lea.operator", password: PASSWORD }, viewer: { username: "victor.viewer", password: PASSWORD } };
  for (const role of ["operator", "viewer"] as const) await createOperator(t.cloud.db.sql, { username: users[role].username, passwordHash: await hashSecret(PASSWORD, LOW_SCRYPT), role });
  const site = await SiteClient.connect(t.cloud.mqttUrl, SITE);
  const problems: string[] = [];
  mkdirSync(SHOTS_DIR, { recursive: true });
  const contexts: BrowserContext[] = [];
  return {
    t,
    base,
    site,
    browser,
    users,
    problems,
    async publish(key, payload, lane) {
      await site.client.publishAsync(toCloudTopic(SITE, siteTopic(key, lane)), encodePayload(key, { src: SRC, ...payload } as Payload<typeof key>), { qos: 1 });
    },
    async login(role, viewport = WALL, opts = {}) {
      // The browser's own zone is UTC: any time shown in Paris time comes from the server's rendering.
      const ctx = await browser.newContext({ viewport, locale: opts.lang === "en" ? "en-GB" : "fr-FR", timezoneId: "UTC" });
      contexts.push(ctx);
      ctx.on("page", (p) => watch(p, problems));
      const page = await ctx.newPage();
      watch(page, problems);
      await page.goto(`${base}/console${opts.lang ? `?lang=${opts.lang}` : ""}`);
      // Not logged in: the console sends the browser to the login form, which brings it back.
      if (!new URL(page.url()).pathname.startsWith("/login")) throw new Error(`expected the login form, got ${page.url()}`);
      await page.fill("#username", users[role].username);
      await page.fill("#password", users[role].password);
      await Promise.all([page.waitForURL((u) => u.pathname === "/console"), page.click("button[type=submit]")]);
      return { ctx, page };
    },
    async close() {
      for (const c of contexts) await c.close().catch(() => undefined);
      await browser.close();
      await site.close();
      await t.close();
    },
  };
}

/**
 * One screenshot per size: the page as it is (full page), then the same page at the other size.
 * Files: <SHOTS_DIR>/<name>-wall.png and <name>-phone.png. Answers the two paths.
 */
export async function shoot(page: Page, name: string): Promise<{ wall: string; phone: string }> {
  const was = page.viewportSize() ?? WALL;
  const files = { wall: join(SHOTS_DIR, `${name}-wall.png`), phone: join(SHOTS_DIR, `${name}-phone.png`) };
  await page.setViewportSize(WALL);
  await page.screenshot({ path: files.wall, fullPage: true });
  await page.setViewportSize(PHONE);
  await page.screenshot({ path: files.phone, fullPage: true });
  await page.setViewportSize(was);
  return files;
}

/** How far the page scrolls sideways: the document's width beyond the viewport (0: none). */
export async function sidewaysOverflow(page: Page): Promise<{ scrollWidth: number; widest: string }> {
  // A string, not a function: the project's TypeScript has no DOM library (this runs in the page).
  return page.evaluate(`(() => {
    const w = document.documentElement.clientWidth;
    let widest = "";
    for (const el of Array.from(document.querySelectorAll("body *"))) {
      const r = el.getBoundingClientRect();
      if (r.right > w + 0.5 && !el.closest(".scroll") && !widest) widest = el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + "." + el.className + " right=" + Math.round(r.right);
    }
    return { scrollWidth: document.documentElement.scrollWidth, widest };
  })()`);
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

export const eventId = (): string => `ev${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;

/** The instant as the console shows it: the site's zone (Europe/Paris), French or English. */
export function parisTime(ts: number, lang: "fr" | "en" = "fr", timeZone = "Europe/Paris"): string {
  return new Intl.DateTimeFormat(lang === "fr" ? "fr-FR" : "en-GB", { timeZone, dateStyle: "medium", timeStyle: "medium" }).format(new Date(ts));
}
