/**
 * Roles on every route, read from the router table (issue 17): each route of the running cloud
 * either carries an auth guard (cloud/server/auth.ts `require`, which keeps its roles) or is on
 * the short list of public routes below — a new route without a guard fails here. Then, for
 * every guarded route, a request as nobody, as a viewer, an operator and an admin: nobody gets
 * 401 (or the login page), a role the guard does not allow gets 403, an allowed one is let
 * through (whatever the route then answers to the placeholder input).
 */
import { expect } from "chai";
import { createOperator, hashSecret, type OperatorRole } from "../../../cloud/db/index";
import { LOW_SCRYPT, startEmbedded, type TestCloud } from "../server/helpers";

/** Routes anyone may call: the drivers' pages and their APIs, the webhook, sign-in, health. Why each is public is its own module's story. */
const PUBLIC: RegExp[] = [
  /^\/health$/, /^\/metrics$/, /^\/$/, /^\/webhooks\/stripe$/, /^\/billing\/health$/,
  /^\/api\/login$/, /^\/api\/logout$/, /^\/login$/, /^\/logout$/, /^\/console\/assets\//,
  /^\/pay\//, /^\/api\/pay\//, /^\/pricing/, /^\/api\/sites\/:siteId\/quote$/, /^\/hold\//, /^\/api\/holds/,
  /^\/permits\//, /^\/renew-subscription/, /^\/receipts\//, /^\/permit-invoices\//,
  // A merchant's page: its token in the path is the credential (cloud/http/merchants.ts); booking a stay is a driver's page.
  /^\/merchant\/:token/, /^\/reservations\//,
];

interface RouteEntry {
  method: string;
  path: string;
  roles?: readonly OperatorRole[];
  html: boolean;
}

type Layer = { route?: { path: string; methods: Record<string, boolean>; stack: { handle: { allowedRoles?: readonly OperatorRole[] } & ((...a: unknown[]) => unknown) }[] }; handle: { stack?: Layer[] } };

function routesOf(stack: Layer[]): RouteEntry[] {
  const out: RouteEntry[] = [];
  for (const layer of stack) {
    if (layer.route) {
      const guard = layer.route.stack.map((s) => s.handle).find((h) => Array.isArray(h.allowedRoles));
      for (const method of Object.keys(layer.route.methods)) {
        out.push({ method: method.toUpperCase(), path: layer.route.path, ...(guard ? { roles: guard.allowedRoles } : {}), html: false });
      }
    } else if (layer.handle.stack) out.push(...routesOf(layer.handle.stack));
  }
  return out;
}

/** A concrete URL for a route pattern: placeholder ids that pass the id rules but name nothing. */
function concrete(path: string): string {
  return path
    .replace(/:site(Id)?\b/g, "paris-centre")
    .replace(/:lane(Id)?\b/g, "L1")
    .replace(/:(\w+)/g, (_m, name: string) => (/id$/i.test(name) ? "999999" : "x1"));
}

describe("route × role, from the router table", function () {
  this.timeout(120_000);
  let t: TestCloud;
  let routes: RouteEntry[];
  const tokens = {} as Record<OperatorRole, string>;

  before(async () => {
    t = await startEmbedded();
    routes = routesOf((t.cloud.app as unknown as { router: { stack: Layer[] } }).router.stack);
    const login = async (username: string, password: string) => ((await (await fetch(`${t.cloud.url}/api/login`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ username, password }) })).json()) as { token: string }).token;
    tokens.admin = await login(t.admin.username, t.admin.password);
    for (const role of ["operator", "viewer"] as const) {
      await createOperator(t.cloud.db.sql, { username: `${role}-routes`, passwordHash: await hashSecret("a password 123456", LOW_SCRYPT), role });
      tokens[role] = await login(`${role}-routes`, "a password 123456");
    }
  });
  after(() => t?.close());

  it("finds the console's routes in the table (the walk sees nested routers)", () => {
    const paths = routes.map((r) => `${r.method} ${r.path}`);
    for (const p of ["GET /console", "GET /console/sites/:site", "POST /api/console/sites/:site/lanes/:lane/commands", "GET /console/admin/sites", "GET /console/revenue", "POST /api/lanes/:laneId/override"]) expect(paths).to.include(p);
    expect(routes.length).to.be.greaterThan(60);
  });

  it("every route is either guarded by roles or on the public list", () => {
    const unguarded = routes.filter((r) => !r.roles && !PUBLIC.some((re) => re.test(r.path))).map((r) => `${r.method} ${r.path}`);
    expect(unguarded, "routes without an auth guard (add d.auth.require, or justify them in PUBLIC)").to.deep.equal([]);
  });

  it("nobody gets 401 or the login page; a role the route does not allow gets 403; an allowed role gets through", async () => {
    const failures: string[] = [];
    for (const r of routes.filter((x) => x.roles)) {
      const url = `${t.cloud.url}${concrete(r.path)}`;
      const send = async (role: OperatorRole | null) => {
        const ac = new AbortController();
        const res = await fetch(url, {
          method: r.method,
          redirect: "manual",
          signal: ac.signal,
          headers: { ...(role ? { Authorization: `Bearer ${tokens[role]}` } : {}), ...(r.method === "GET" ? {} : { "Content-Type": "application/json" }), Accept: "application/json" },
          ...(r.method === "GET" ? {} : { body: "{}" }),
        });
        const status = res.status;
        const location = res.headers.get("location") ?? "";
        ac.abort(); // an event stream would never end
        return { status, location };
      };
      const anon = await send(null);
      if (!(anon.status === 401 || (anon.status === 303 && anon.location.startsWith("/login")))) failures.push(`${r.method} ${r.path} as nobody: ${anon.status}`);
      for (const role of ["viewer", "operator", "admin"] as const) {
        const { status } = await send(role);
        const allowed = (r.roles ?? []).includes(role);
        if (allowed && (status === 401 || status === 403)) failures.push(`${r.method} ${r.path} as ${role} (allowed): ${status}`);
        if (!allowed && status !== 403) failures.push(`${r.method} ${r.path} as ${role} (not allowed): ${status}`);
        // 503 is a part this cloud runs without (access lists without SYSPARK_ACL_HMAC_KEY); any other 5xx is a bug.
        if (status >= 500 && status !== 503) failures.push(`${r.method} ${r.path} as ${role}: ${status} (placeholder input must get a 4xx, never a 5xx)`);
      }
    }
    expect(failures).to.deep.equal([]);
  });

  it("actions are not given to viewers: every guarded POST refuses the viewer role", () => {
    const viewerPosts = routes.filter((r) => r.method !== "GET" && r.roles?.includes("viewer")).map((r) => `${r.method} ${r.path}`);
    expect(viewerPosts).to.deep.equal([]);
  });
});
