/**
 * `syspark lane add <site-id> <lane-id> --kind entry|exit` (issue 19): a lane as the site's
 * gateway names it (`L1`, `Sortie.2`: its database id is the lowercase form, its name keeps the
 * case), on the cloud database as cli-support.ts resolves it or through a running cloud's
 * operator API (`POST /api/admin/sites/:site/lanes`, admin). Added by the console's flow
 * (audited `lane.added`).
 */
import type { Command } from "commander";
import { dbOptions, type DbOpts } from "../site-options";
import { cliActor, cliContext, onCloud } from "../site-admin";

const FLAG: Record<string, string> = { site_id: "<site-id>", lane_id: "<lane-id>", kind: "--kind" };

interface LaneView {
  site_id: string;
  lane_id: string;
  name: string;
  kind: "entry" | "exit";
}

export function register(program: Command): void {
  const lane = program.command("lane").description("the lanes of a site, without SQL");
  dbOptions(
    lane
      .command("add <site-id> <lane-id>")
      .description("add an entry or exit lane to a site (lane id: 1–63 of A-Z a-z 0-9 . _ : -, the id its gateway uses)")
      .requiredOption("--kind <kind>", "entry or exit"),
  ).action(async (siteId: string, laneId: string, opts: DbOpts & { kind: string }) => {
    const { z } = await import("zod");
    const { LaneKind, LaneWireId, SiteIdField } = await import("../../cloud/flows/site-file");
    const parsed = z.strictObject({ site_id: SiteIdField, lane_id: LaneWireId, kind: LaneKind }).safeParse({ site_id: siteId, lane_id: laneId, kind: opts.kind });
    if (!parsed.success) throw new Error(parsed.error.issues.map((i) => `${FLAG[String(i.path[0])] ?? String(i.path[0])}: ${i.message}`).join("; "));
    const { kind } = parsed.data;
    const added = await onCloud<LaneView>(opts, {
      api: (api) => api.json("POST", `/api/admin/sites/${encodeURIComponent(siteId)}/lanes`, `adding lane ${laneId} to ${siteId}`, { lane_id: laneId, kind }),
      db: async (db) => {
        const { getSiteAdmin } = await import("../../cloud/db/site-admin");
        const { FieldError, addLane } = await import("../../cloud/flows/site-admin");
        await getSiteAdmin(db.sql, siteId);
        try {
          const row = await addLane(cliContext(db), siteId, { wireId: laneId, kind }, cliActor());
          return { site_id: siteId, lane_id: row.laneId, name: row.name, kind: row.kind };
        } catch (err) {
          if (err instanceof FieldError) throw new Error(`${FLAG[err.field] ?? err.field}: ${err.fieldMessage}`, { cause: err });
          throw err;
        }
      },
    });
    console.log(`lane ${added.name} (${added.kind}) added to site ${added.site_id}${added.lane_id !== added.name ? ` (database id ${added.lane_id})` : ""}`);
  });
}
