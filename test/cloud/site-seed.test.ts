/**
 * The site file of `syspark seed` (cloud/flows/site-file.ts) and the tariff plan shared by
 * `tariff publish` and the seed (cloud/flows/tariff-publish.ts), without a database: the example
 * file is valid; every problem is listed with its path in the file and its line; a tariff file
 * is read relative to the site file; the API form refuses `tariff.file`; a document equal to
 * the latest version is "unchanged" whatever its age, and going back to an older document is a
 * new publication (its publish key names the version it follows).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { expect } from "chai";
import type { Json, TariffRow } from "../../cloud/db/index";
import { checkSiteFile, issueLine, readSiteFile } from "../../cloud/flows/site-file";
import { planTariff, publishKey } from "../../cloud/flows/tariff-publish";
import { parisCentreDocument } from "../../cloud/tariffs/examples/paris-centre";

const lines = (r: ReturnType<typeof readSiteFile>) => (r.ok ? [] : r.issues.map(issueLine));

describe("site file (syspark seed): format and validation", () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "syspark-site-file-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };

  it("the example site file is valid, its tariff read from the file beside it", () => {
    const r = readSiteFile(resolve("deploy/sites/example-site.yaml"));
    expect(lines(r)).to.deep.equal([]);
    if (!r.ok) return;
    expect(r.file.site).to.include({ id: "lyon-part-dieu", currency: "EUR", capacity: 420 });
    expect(r.file.lanes.map((l) => `${l.id}:${l.kind}`)).to.deep.equal(["E1:entry", "E2:entry", "L1:exit", "L2:exit"]);
    expect(r.file.tariff?.document).to.include({ id: "lyon-part-dieu", time_zone: "Europe/Paris" });
    expect(r.file.plans.map((p) => [p.plan_id, p.currency])).to.deep.equal([["lyon-part-dieu-monthly", "EUR"], ["lyon-part-dieu-nights", "EUR"]]);
    // What the API takes: the tariff inline, no file.
    expect((r.body.tariff as Record<string, unknown>).file).to.equal(undefined);
    expect(checkSiteFile(JSON.parse(JSON.stringify(r.body))).ok).to.equal(true);
  });

  it("lists every problem with its path and line: shape, unknown fields, duplicates, spaces, plans, the tariff", () => {
    const p = file(
      "bad.yaml",
      [
        "site:",
        "  id: Bad_Id",
        "  name: X",
        "  time_zone: Europe/Paris",
        "  currency: EUR",
        "  colour: red",
        "lanes:",
        "  - { id: E1, kind: entry }",
        "  - { id: L1, kind: sortie }",
        "",
      ].join("\n"),
    );
    expect(lines(readSiteFile(p))).to.deep.equal(["site.id (line 2): 1–32 of a-z 0-9 -, starting with a letter or digit", 'site (line 6): unknown field "colour"', "lanes[1].kind (line 9): entry or exit"]);

    const q = file(
      "bad2.yaml",
      [
        "site: { id: ok-site, name: X, time_zone: Europe/Paris, currency: EUR, capacity: 10, permit_spots: 8, reservation_spots: 5 }",
        "lanes:",
        "  - { id: E1, kind: entry }",
        "  - { id: e1, kind: exit }",
        "permit_plans:",
        "  - { plan_id: p1, name: P, period: month, amount: 100, benefit: discount, max_permits: 1 }",
        "  - { plan_id: p1, name: P, period: month, amount: 100, benefit: free, max_permits: 1, currency: USD }",
        "tariff:",
        "  document:",
        "    id: t",
        "    name: { en: T }",
        "    currency: EUR",
        "    time_zone: Europe/Berlin",
        "    elements: [{ label: x, price_components: [{ type: PARKING_TIME, price_per_step: 100, step_size: 900 }] }]",
        "",
      ].join("\n"),
    );
    expect(lines(readSiteFile(q))).to.deep.equal([
      "lanes[1].id (line 4): the same lane id as lanes[0].id",
      "permit_plans[1].plan_id (line 7): the same plan_id as permit_plans[0].plan_id",
      "site.reservation_spots (line 1): the permit spaces (8) and the reservation spaces (5) together exceed the capacity (10)",
      'permit_plans[0].discount_percent (line 6): is required with benefit "discount" and only then',
      "permit_plans[1].currency (line 7): must be the site's currency EUR",
      "tariff.document.time_zone (line 13): must be the site's time zone Europe/Paris (change the site first to move it)",
    ]);
  });

  it("a YAML syntax error names its line; a tariff file is read relative to the site file, its problems named in it", () => {
    expect(lines(readSiteFile(file("syntax.yaml", "site:\n  id: a\n  id: b\n")))).to.deep.equal(["(file) (line 3): Map keys must be unique"]);
    expect(lines(readSiteFile(resolve("test/fixtures/site-seed/site-with-tariff-file.yaml")))).to.deep.equal([
      "tariff.file bad-tariff.yaml: elements[0].label (line 8): must be a non-empty string or { en, fr? }",
      "tariff.file bad-tariff.yaml: elements[0].price_components[0].price_per_step (line 9): price_per_step must not be negative",
      "tariff.file bad-tariff.yaml: currency (line 5): must be the site's currency EUR",
    ]);
    expect(lines(readSiteFile(file("missing.yaml", "site: { id: a, name: A, time_zone: Europe/Paris, currency: EUR }\ntariff: { file: nowhere.json }\n")))).to.deep.equal(["tariff.file nowhere.json: cannot read " + join(dir, "nowhere.json") + ": ENOENT"]);
    // JSON is YAML: a site file may be JSON.
    const json = file("site.json", JSON.stringify({ site: { id: "j", name: "J", time_zone: "Europe/Paris", currency: "EUR" }, lanes: [{ id: "L1", kind: "exit" }] }));
    expect(readSiteFile(json).ok).to.equal(true);
  });

  it("the API form (no file system) refuses tariff.file and a tariff given both ways", () => {
    const site = { id: "a", name: "A", time_zone: "Europe/Paris", currency: "EUR" };
    const r = checkSiteFile({ site, tariff: { file: "t.yaml" } });
    expect(r.ok ? [] : r.issues.map(issueLine)).to.deep.equal(["tariff.file: not accepted here: give the tariff inline as tariff.document"]);
    const both = checkSiteFile({ site, tariff: { file: "t.yaml", document: {} } });
    expect(both.ok ? [] : both.issues.map(issueLine)).to.deep.equal(["tariff: give either file (a path relative to the site file) or document (the tariff inline), not both"]);
  });
});

describe("tariff plan: unchanged, publish, the publish key", () => {
  const site = { timeZone: "Europe/Paris", currency: "EUR" };
  const { version: _v, effective_from: _e, ...doc } = parisCentreDocument;
  void _v;
  void _e;
  const stored = (version: number, document: object, effectiveFrom = new Date("2025-01-01T00:00:00Z")): TariffRow => ({ tariffId: version, siteId: "s", version, effectiveFrom, document: { ...document, version, effective_from: effectiveFrom.toISOString() } as unknown as Json, createdAt: effectiveFrom });
  const dearer = { ...doc, daily_cap: { price: 4000, window: "rolling_24h" as const } };

  it("the latest version's document is unchanged, however long ago it was published", () => {
    const p = planTariff({ site, versions: [stored(1, doc)] }, doc, undefined);
    expect(p.ok && p.action).to.equal("unchanged");
    expect(p.ok && p.version).to.equal(1);
    // …unless another effective time is asked for.
    const later = planTariff({ site, versions: [stored(1, doc)] }, doc, new Date(Date.now() + 86_400_000));
    expect(later.ok && later.action).to.equal("publish");
  });

  it("a new document is version n + 1; going back to an older one is a new version with another key", () => {
    const v2 = planTariff({ site, versions: [stored(1, doc)] }, dearer, undefined);
    expect(v2.ok && [v2.action, v2.version]).to.deep.equal(["publish", 2]);
    const back = planTariff({ site, versions: [stored(1, doc), stored(2, dearer)] }, doc, undefined);
    expect(back.ok && [back.action, back.version]).to.deep.equal(["publish", 3]);
    expect(publishKey(doc, undefined, 2)).to.not.equal(publishKey(doc, undefined, 0));
    expect(publishKey(doc, undefined, 2)).to.equal(publishKey({ ...doc }, undefined, 2));
  });

  it("an invalid document lists its problems by path; nothing to preview", () => {
    const p = planTariff({ site, versions: [] }, { ...doc, currency: "USD", max_per_stay: -5 }, undefined);
    expect(p.ok).to.equal(false);
    if (p.ok) return;
    expect(p.errors.map((e) => e.path)).to.include.members(["max_per_stay", "currency"]);
  });
});
