/**
 * `syspark site add <site-id> --name … --time-zone … --currency … [--capacity n] [--permit-spots n]
 * [--reservation-spots n] [--broker-dir DIR]` and `syspark site list` (issue 19): sites without
 * SQL, on the cloud database as cli-support.ts resolves it or through a running cloud's operator
 * API (`POST|GET /api/admin/sites`, admin). The site is added by the console's flow (audited
 * `site.added`, `via: "cli"` or `"api"`). The site's account on the cloud broker is issued with
 * it (cloud/mqtt/broker-accounts.ts): its Mosquitto password-file and ACL lines printed, or
 * written into --broker-dir, and its password shown once.
 */
import type { Command } from "commander";
import { issueAndShow } from "./broker";
import { intOption } from "../main";
import { dbOptions, type DbOpts } from "../site-options";
import { cliActor, cliContext, onCloud, table } from "../site-admin";

type SiteView = import("../../cloud/http/admin-api").SiteView;

/** The flag a body field comes from. */
const flagOf = (field: string) => (field === "site_id" ? "<site-id>" : `--${field.replace(/_/g, "-")}`);

function decimal(name: string, min: number, max: number): (v: string) => number {
  return (v: string) => {
    const n = Number(v);
    if (v.trim() === "" || !Number.isFinite(n) || n < min || n > max) throw new Error(`${name} must be a number from ${min} to ${max}, got "${v}"`);
    return n;
  };
}

interface AddOpts extends DbOpts {
  name: string;
  timeZone: string;
  currency: string;
  capacity?: number;
  permitSpots?: number;
  reservationSpots?: number;
  latitude?: number;
  longitude?: number;
  brokerDir?: string;
}

function siteLine(s: SiteView): string {
  const spaces = [s.capacity !== null ? `capacity ${s.capacity}` : "no capacity", s.permit_spots ? `${s.permit_spots} for permits` : "", s.reservation_spots ? `${s.reservation_spots} for reservations` : ""].filter(Boolean).join(", ");
  return `site ${s.site_id} added: ${s.name}, ${s.time_zone}, ${s.currency}, ${spaces}`;
}

export function register(program: Command): void {
  const site = program.command("site").description("car parks (sites) of the cloud, without SQL: add one, list them");

  dbOptions(
    site
      .command("add <site-id>")
      .description("add a site (1–32 of a-z 0-9 -); then its lanes (`syspark lane add`) and its tariff (`syspark tariff publish`), or all at once with `syspark seed --file`")
      .requiredOption("--name <text>", "the name shown to drivers and operators (1–100 characters)")
      .requiredOption("--time-zone <zone>", "IANA time zone of the site, e.g. Europe/Paris")
      .requiredOption("--currency <ISO>", "ISO 4217 code, e.g. EUR (cannot change later)")
      .option("--capacity <n>", "spaces in the car park (default: not bounded)", intOption("--capacity", 0, 1_000_000))
      .option("--permit-spots <n>", "spaces held back from tickets for permit holders", intOption("--permit-spots", 0, 1_000_000))
      .option("--reservation-spots <n>", "spaces held back from tickets for reservations", intOption("--reservation-spots", 0, 1_000_000))
      .option("--latitude <deg>", "the car park's latitude (the console's weather)", decimal("--latitude", -90, 90))
      .option("--longitude <deg>", "the car park's longitude", decimal("--longitude", -180, 180))
      .option("--broker-dir <dir>", "write the site's cloud-broker account into DIR/passwd and DIR/acl (the broker's /mosquitto/auth) instead of printing its lines; its password is printed once either way"),
  ).action(async (siteId: string, opts: AddOpts) => {
    const { SiteBodySchema, newSiteOf } = await import("../../cloud/flows/site-file");
    const raw = {
      site_id: siteId,
      name: opts.name,
      time_zone: opts.timeZone,
      currency: opts.currency.trim().toUpperCase(),
      ...(opts.capacity !== undefined ? { capacity: opts.capacity } : {}),
      ...(opts.permitSpots !== undefined ? { permit_spots: opts.permitSpots } : {}),
      ...(opts.reservationSpots !== undefined ? { reservation_spots: opts.reservationSpots } : {}),
      ...(opts.latitude !== undefined ? { latitude: opts.latitude } : {}),
      ...(opts.longitude !== undefined ? { longitude: opts.longitude } : {}),
    };
    const parsed = SiteBodySchema.safeParse(raw);
    if (!parsed.success) throw new Error(parsed.error.issues.map((i) => `${flagOf(String(i.path[0] ?? "site"))}: ${i.message}`).join("; "));
    const created = await onCloud<SiteView>(opts, {
      api: (api) => api.json("POST", "/api/admin/sites", `adding site ${siteId}`, raw),
      db: async (db) => {
        const { FieldError, addSite } = await import("../../cloud/flows/site-admin");
        const { siteView } = await import("../../cloud/http/admin-api");
        try {
          return await siteView(db.sql, await addSite(cliContext(db), newSiteOf(parsed.data), cliActor()));
        } catch (err) {
          if (err instanceof FieldError) throw new Error(`${flagOf(err.field)}: ${err.fieldMessage}`, { cause: err });
          throw err;
        }
      },
    });
    console.log(siteLine(created));
    // The site's account on the cloud broker, issued with the site: written to --broker-dir, or its lines printed.
    console.log(`\nits account on the cloud broker (user site-${siteId}, topics syspark/${siteId}/# only; issue it again with \`syspark broker site-account ${siteId}\`):`);
    await issueAndShow("site", siteId, opts.brokerDir !== undefined ? { dir: opts.brokerDir } : {});
    console.log(`next: \`syspark lane add ${siteId} <lane-id> --kind entry|exit\`, \`syspark tariff publish ${siteId} <tariff.json|yaml>\``);
  });

  dbOptions(site.command("list").description("list the sites: zone, currency, spaces, lanes, tariff version in force").option("--json", "JSON output")).action(async (opts: DbOpts & { json?: boolean }) => {
    const r = await onCloud<{ sites: SiteView[] }>(opts, {
      api: (api) => api.json("GET", "/api/admin/sites", "listing the sites"),
      db: async (db) => {
        const { listSitesAdmin } = await import("../../cloud/db/site-admin");
        const { siteView } = await import("../../cloud/http/admin-api");
        return { sites: await Promise.all((await listSitesAdmin(db.sql)).map((s) => siteView(db.sql, s))) };
      },
    });
    if (opts.json) return void console.log(JSON.stringify(r, null, 2));
    if (r.sites.length === 0) return void console.log("no site yet: `syspark site add <site-id> …` or `syspark seed --file site.yaml`");
    const tariff = (s: SiteView) => {
      const t = s.tariff;
      if (t.latest_version === null) return "none";
      const inForce = t.in_force_version !== null ? `v${t.in_force_version}` : "none in force";
      return t.latest_version !== t.in_force_version ? `${inForce} (v${t.latest_version} scheduled)` : inForce;
    };
    const rows = r.sites.map((s) => [s.site_id, s.name, s.time_zone, s.currency, s.capacity === null ? "—" : String(s.capacity), String(s.permit_spots), String(s.reservation_spots), s.lanes.map((l) => `${l.name || l.lane_id} (${l.kind})`).join(", ") || "none", tariff(s)]);
    console.log(table([["SITE", "NAME", "TIME ZONE", "CURRENCY", "CAPACITY", "PERMITS", "RESERVATIONS", "LANES", "TARIFF"], ...rows], [4, 5, 6]));
  });
}
