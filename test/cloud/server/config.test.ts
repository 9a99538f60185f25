/** Configuration rules (ARCHITECTURE §7): refuse unsafe Stripe setups, never log a secret. */
import { Writable } from "node:stream";
import { expect } from "chai";
import { ConfigError, resolveOptions } from "../../../cloud/server/config";
import { cloudLogger } from "../../../cloud/server/index";
import { pickLang } from "../../../cloud/http/pages";
import { csvLine, parseCsvLine, CSV_HEADER } from "../../../cloud/server/audit-export";

describe("cloud configuration", () => {
  it("uses the local Stripe test emulator when neither STRIPE_* is set", () => {
    expect(resolveOptions({}, {}).stripeMode).to.equal("emulator");
  });

  it("refuses a live key without a webhook secret, naming what to set", () => {
    expect(() => resolveOptions({}, { STRIPE_SECRET_KEY: "sk_live_abc" })).to.throw(ConfigError, /LIVE key but STRIPE_WEBHOOK_SECRET is not set/);
  });

  it("refuses half a Stripe configuration instead of falling back silently", () => {
    expect(() => resolveOptions({}, { STRIPE_SECRET_KEY: "sk_test_abc" })).to.throw(ConfigError, /STRIPE_WEBHOOK_SECRET is not/);
    expect(() => resolveOptions({}, { STRIPE_WEBHOOK_SECRET: "whsec_abc" })).to.throw(ConfigError, /STRIPE_SECRET_KEY is not/);
    expect(() => resolveOptions({}, { STRIPE_SECRET_KEY: "pk_test_abc", STRIPE_WEBHOOK_SECRET: "whsec_x" })).to.throw(ConfigError, /must start with sk_test_/);
  });

  it("reads live and test modes from the key", () => {
    expect(resolveOptions({}, { STRIPE_SECRET_KEY: "sk_live_a", STRIPE_WEBHOOK_SECRET: "whsec_b" }).stripeMode).to.equal("live");
    expect(resolveOptions({}, { STRIPE_SECRET_KEY: "sk_test_a", STRIPE_WEBHOOK_SECRET: "whsec_b" }).stripeMode).to.equal("test");
  });

  it("uses a Stripe test emulator in its own process with STRIPE_API_BASE and test values only", () => {
    const ok = resolveOptions({}, { STRIPE_API_BASE: "http://127.0.0.1:12111/", STRIPE_SECRET_KEY: "sk_test_emu", STRIPE_WEBHOOK_SECRET: "whsec_emu" });
    expect(ok.stripeMode).to.equal("emulator");
    expect(ok.stripe?.apiBase).to.equal("http://127.0.0.1:12111");
    const base = { STRIPE_SECRET_KEY: "sk_test_emu", STRIPE_WEBHOOK_SECRET: "whsec_emu" };
    expect(() => resolveOptions({}, { ...base, STRIPE_SECRET_KEY: "sk_live_abc", STRIPE_API_BASE: "http://127.0.0.1:12111" })).to.throw(ConfigError, /STRIPE_API_BASE .*LIVE key/);
    expect(() => resolveOptions({}, { ...base, STRIPE_SECRET_KEY: "rk_live_abc", STRIPE_API_BASE: "http://127.0.0.1:12111" })).to.throw(ConfigError, /LIVE key/);
    expect(() => resolveOptions({}, { ...base, STRIPE_API_BASE: "ftp://127.0.0.1:12111" })).to.throw(ConfigError, /STRIPE_API_BASE must be a URL starting with http:\/\/ or https:\/\//);
    expect(() => resolveOptions({}, { ...base, STRIPE_API_BASE: "127.0.0.1:12111" })).to.throw(ConfigError, /STRIPE_API_BASE must be a URL/);
    expect(() => resolveOptions({}, { ...base, STRIPE_API_BASE: "http://127.0.0.1:12111/v1" })).to.throw(ConfigError, /STRIPE_API_BASE must be the emulator's base URL only/);
    expect(() => resolveOptions({}, { STRIPE_API_BASE: "http://127.0.0.1:12111" })).to.throw(ConfigError, /also set STRIPE_SECRET_KEY .* and STRIPE_WEBHOOK_SECRET/);
    expect(() => resolveOptions({}, { ...base, STRIPE_WEBHOOK_SECRET: "nope", STRIPE_API_BASE: "http://127.0.0.1:12111" })).to.throw(ConfigError, /STRIPE_WEBHOOK_SECRET must start with whsec_/);
  });

  it("DATABASE_POOL_MAX sizes each instance's pool, and a bad value is refused by name", () => {
    expect(resolveOptions({}, { DATABASE_POOL_MAX: "4" }).dbPoolMax).to.equal(4);
    expect(resolveOptions({}, {}).dbPoolMax).to.equal(undefined);
    for (const bad of ["0", "201", "ten", "4.5", "-1"]) expect(() => resolveOptions({}, { DATABASE_POOL_MAX: bad }), bad).to.throw(ConfigError, new RegExp(`DATABASE_POOL_MAX must be a whole number.*got "${bad.replace(".", "\\.")}"`));
  });

  it("validates PORT, MQTT_URL and PUBLIC_BASE_URL with precise messages", () => {
    expect(() => resolveOptions({}, { PORT: "80a" })).to.throw(/PORT must be a TCP port/);
    expect(() => resolveOptions({}, { MQTT_URL: "http://x" })).to.throw(/MQTT_URL must be a URL starting with mqtt:/);
    expect(() => resolveOptions({}, { PUBLIC_BASE_URL: "ftp://x" })).to.throw(/PUBLIC_BASE_URL/);
    expect(resolveOptions({}, { PUBLIC_BASE_URL: "https://pay.example.com/" }).publicBaseUrl).to.equal("https://pay.example.com");
    expect(resolveOptions({}, {}).port).to.equal(18090);
  });

  it("never writes a secret to the log", () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (c: Buffer, _e, cb) => (lines.push(c.toString()), cb()) });
    const capture = cloudLogger("info", sink);
    capture.info({ stripe: { secretKey: "sk_live_SECRET1", webhookSecret: "whsec_SECRET2" }, password: "SECRET3", headers: { cookie: "syspark_session=SECRET4", authorization: "Bearer SECRET5" }, pi: { client_secret: "pi_x_secret_SECRET6" } }, "start");
    const out = lines.join("");
    for (const s of ["SECRET1", "SECRET2", "SECRET3", "SECRET4", "SECRET5", "SECRET6"]) expect(out).not.to.contain(s);
  });

  it("picks the page language from ?lang= then Accept-Language", () => {
    expect(pickLang("en", "fr-FR")).to.equal("en");
    expect(pickLang(undefined, "en-GB,en;q=0.9,fr;q=0.8")).to.equal("en");
    expect(pickLang(undefined, "fr-FR,fr;q=0.9,en;q=0.8")).to.equal("fr");
    expect(pickLang(undefined, undefined)).to.equal("fr");
  });

  it("writes CSV that round-trips, quoting separators and guarding spreadsheet formulas", () => {
    const line = csvLine({ seq: 7, ts: new Date("2025-03-01T08:00:00Z"), kind: "override.open", sessionId: null, payload: { reason: 'said "open", then =SUM(A1)', amount: 450, operator: "=cmd" }, prevHash: "a".repeat(64), hash: "b".repeat(64) });
    const cells = parseCsvLine(line);
    expect(cells).to.have.length(CSV_HEADER.length);
    expect(cells[CSV_HEADER.indexOf("reason")]).to.equal('said "open", then =SUM(A1)');
    expect(cells[CSV_HEADER.indexOf("operator")]).to.equal("'=cmd");
    expect(cells[CSV_HEADER.indexOf("amount")]).to.equal("450");
  });
});
