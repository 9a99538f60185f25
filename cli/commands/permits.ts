/**
 * `syspark permits plans|plan-set|list --site <id>`: the monthly / annual permit plans of a site
 * (sold as Stripe subscriptions, docs/cloud.md "Permits") and the permits bought, on the cloud
 * database as cli-support.ts resolves it, or through a cloud's API (--url, or the running cloud
 * that holds the PGlite directory: `/api/sites/:site/permit-plans`, `/api/sites/:site/permits`).
 * A plan's Stripe Price is created by the cloud at its next sale, never here.
 */
import type { Command } from "commander";
import { intOption } from "../main";
import { loginPrompt } from "../prompt";
import { dbOptions, siteId, type DbOpts } from "../site-options";

const FLAG: Record<string, string> = { plan_id: "--plan", name: "--name", period: "--period", amount: "--amount", currency: "--currency", benefit: "--free / --discount", discount_percent: "--discount", max_permits: "--max" };

type CloudApi = import("../../cloud/server/cli-support").CloudApi;
type Db = import("../../cloud/db/index").Database;

async function onCloud<T>(opts: DbOpts, run: { api(api: CloudApi): Promise<T>; db(db: Db): Promise<T> }): Promise<T> {
  const { withCloud } = await import("../../cloud/server/cli-support");
  return withCloud(opts, run, loginPrompt());
}

type PlanView = ReturnType<typeof import("../../cloud/flows/permits").planView>;
type PermitView = ReturnType<typeof import("../../cloud/flows/permits").permitView>;

export function register(program: Command): void {
  const permits = program.command("permits").description("monthly and annual permits (Stripe subscriptions): a site's plans and the permits bought");

  dbOptions(permits.command("plans").description("list a site's permit plans").requiredOption("--site <id>", "site id", siteId).option("--json", "JSON output")).action(async (opts: DbOpts & { site: string; json?: boolean }) => {
    const r = await onCloud<{ plans: PlanView[] }>(opts, {
      api: (api) => api.json("GET", `/api/sites/${opts.site}/permit-plans`, `listing the permit plans of ${opts.site}`),
      db: async (db) => {
        const { listPermitPlans, getSite } = await import("../../cloud/db/index");
        const { planView } = await import("../../cloud/flows/permits");
        await getSite(db.sql, opts.site);
        return { plans: (await listPermitPlans(db.sql, opts.site)).map(planView) };
      },
    });
    if (opts.json) return void console.log(JSON.stringify(r, null, 2));
    console.log(`site ${opts.site}: ${r.plans.length} permit plan(s)`);
    for (const p of r.plans) console.log([p.plan_id, p.name, `${p.amount} ${p.currency}/${p.period}`, p.benefit === "free" ? "free exits" : `${p.discount_percent}% off`, `max ${p.max_permits}`, p.active ? "" : "inactive"].filter(Boolean).join("\t"));
  });

  dbOptions(
    permits
      .command("plan-set")
      .description("create or replace a permit plan of a site (amount in minor units, e.g. 8900 = 89.00 EUR)")
      .requiredOption("--site <id>", "site id", siteId)
      .requiredOption("--plan <id>", "plan id (1-48 of a-z 0-9 -)")
      .requiredOption("--name <text>", "name shown to holders (1-80 characters)")
      .requiredOption("--period <month|year>", "billing period")
      .requiredOption("--amount <minor>", "price per period in minor units", intOption("--amount", 1, 99_999_999))
      .requiredOption("--currency <ISO>", "ISO 4217 code, e.g. EUR")
      .requiredOption("--max <n>", "permits the plan may sell", intOption("--max", 1, 100_000))
      .option("--free", "exits are free for the holder")
      .option("--discount <percent>", "exits are discounted by this percent (1-99)", intOption("--discount", 1, 99))
      .option("--inactive", "no longer sold (existing permits go on)"),
  ).action(async (opts: DbOpts & { site: string; plan: string; name: string; period: string; amount: number; currency: string; max: number; free?: boolean; discount?: number; inactive?: boolean }) => {
    if (Boolean(opts.free) === (opts.discount !== undefined)) throw new Error("give exactly one of --free or --discount <percent>");
    const raw = { plan_id: opts.plan, name: opts.name, period: opts.period, amount: opts.amount, currency: opts.currency, benefit: opts.free ? "free" : "discount", ...(opts.discount !== undefined ? { discount_percent: opts.discount } : {}), max_permits: opts.max, active: !opts.inactive };
    const { PlanBody, planView, setPermitPlan } = await import("../../cloud/flows/permits");
    const parsed = PlanBody.safeParse(raw);
    if (!parsed.success) throw new Error(parsed.error.issues.map((i) => `${FLAG[String(i.path[0])] ?? String(i.path[0] ?? "input")}: ${i.message}`).join("; "));
    const r = await onCloud<{ plan: PlanView }>(opts, {
      api: (api) => api.json("POST", `/api/sites/${opts.site}/permit-plans`, `setting plan ${opts.plan} of ${opts.site}`, raw),
      db: async (db) => {
        const { getSite } = await import("../../cloud/db/index");
        await getSite(db.sql, opts.site);
        return { plan: planView(await setPermitPlan(db, opts.site, parsed.data)) };
      },
    });
    console.log(`plan ${r.plan.plan_id} of ${opts.site}: ${r.plan.amount} ${r.plan.currency}/${r.plan.period}, ${r.plan.benefit === "free" ? "free exits" : `${r.plan.discount_percent}% off`}, max ${r.plan.max_permits}${r.plan.active ? "" : " (inactive)"}`);
  });

  dbOptions(permits.command("list").description("list a site's permits (newest first)").requiredOption("--site <id>", "site id", siteId).option("--json", "JSON output")).action(async (opts: DbOpts & { site: string; json?: boolean }) => {
    const r = await onCloud<{ permits: PermitView[] }>(opts, {
      api: (api) => api.json("GET", `/api/sites/${opts.site}/permits`, `listing the permits of ${opts.site}`),
      db: async (db) => {
        const { listPermitsOfSite, getSite } = await import("../../cloud/db/index");
        const { permitView } = await import("../../cloud/flows/permits");
        await getSite(db.sql, opts.site);
        return { permits: (await listPermitsOfSite(db.sql, opts.site)).map(permitView) };
      },
    });
    if (opts.json) return void console.log(JSON.stringify(r, null, 2));
    console.log(`site ${opts.site}: ${r.permits.length} permit(s)`);
    for (const p of r.permits) console.log([p.permit_id, p.plan_id, p.status, p.badge_uid ?? "", p.plate ?? "", p.current_period_end ?? ""].filter(Boolean).join("\t"));
  });
}
