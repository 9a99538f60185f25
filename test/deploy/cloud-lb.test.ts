/**
 * The cloud's load balancer (issue 20): deploy/cloud-lb/haproxy.cfg, the file an operator deploys,
 * as host/haproxy.ts runs it in front of N instances for the chaos campaign and the cloud bench.
 * The configuration it writes keeps what SysPark needs of the balancer (health checks on
 * GET /health, a refused connection retried on another instance) with the given servers in; and
 * a real haproxy started with it spreads requests over two servers and, one of them gone, serves
 * every request from the other.
 */
import { expect } from "chai";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { balancerConfig, CLOUD_LB_CONF, haproxyBinary, startHaproxy, type PrivateHaproxy } from "../../host/haproxy";

/** The configuration's sections: header line → its indented lines, trimmed. */
function sections(conf: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of conf.split("\n")) {
    if (/^\s*(#|$)/.test(line)) continue;
    if (/^\S/.test(line)) out.set(line.trim(), (current = []));
    else current?.push(line.trim());
  }
  return out;
}

describe("deploy: the cloud's load balancer, haproxy.cfg (unit)", () => {
  const template = readFileSync(CLOUD_LB_CONF, "utf8");
  const backends = ["127.0.0.1:4101", "127.0.0.1:4102", "10.0.0.7:3000"];
  const conf = sections(balancerConfig(template, 18080, backends));

  it("keeps the deployed settings: HTTP mode, round robin, health checks on GET /health every 500 ms, retries with redispatch", () => {
    const defaults = conf.get("defaults") ?? [];
    expect(defaults).to.include.members(["mode http", "retries 3", "option redispatch 1", "option forwardfor", "timeout connect 2s"]);
    const backend = conf.get("backend syspark_cloud_instances") ?? [];
    expect(backend).to.include.members(["balance roundrobin", "option httpchk GET /health", "http-check expect status 200", "default-server inter 500ms fall 2 rise 1"]);
  });

  it("listens on the given port and puts exactly the given servers in the backend, the template's own gone", () => {
    expect(conf.get("frontend syspark_cloud")).to.include("bind 127.0.0.1:18080");
    expect(conf.get("frontend syspark_cloud")).to.include("default_backend syspark_cloud_instances");
    const servers = [...conf.values()].flat().filter((l) => l.startsWith("server "));
    expect(servers).to.deep.equal(["server cloud1 127.0.0.1:4101 check", "server cloud2 127.0.0.1:4102 check", "server cloud3 10.0.0.7:3000 check"]);
    expect((conf.get("backend syspark_cloud_instances") ?? []).filter((l) => l.startsWith("server "))).to.have.length(3);
  });

  it("refuses a template without a backend section", () => {
    expect(() => balancerConfig("defaults\n    mode http\n", 1, ["127.0.0.1:1"])).to.throw(/no backend section/);
  });
});

/** A tiny backend: GET /health → 200 (counted), anything else → its name. */
function namedServer(name: string): Promise<{ server: Server; port: number; checks: () => number }> {
  let checks = 0;
  const server = createServer((req, res) => {
    if (req.url === "/health") checks++;
    res.writeHead(200, { "content-type": "text/plain" }).end(req.url === "/health" ? "ok" : name);
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({ server, port: (server.address() as { port: number }).port, checks: () => checks })));
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

async function get(url: string): Promise<{ status: number; body: string }> {
  const r = await fetch(url);
  return { status: r.status, body: await r.text() };
}

describe("deploy: the cloud's load balancer in front of two servers (haproxy)", function () {
  this.timeout(20_000);
  let lb: PrivateHaproxy | undefined;
  const servers: Server[] = [];

  before(function () {
    if (haproxyBinary()) return;
    if (process.env.SYSPARK_REQUIRE_TOOLS === "1") throw new Error("haproxy is required (SYSPARK_REQUIRE_TOOLS=1): apt-get install -y haproxy");
    console.warn("      skipped: haproxy not installed (apt-get install -y haproxy)");
    this.skip();
  });

  afterEach(async () => {
    await lb?.stop();
    lb = undefined;
    await Promise.all(servers.splice(0).map(closeServer));
  });

  it("alternates requests between the two, and with one closed serves every request from the other", async () => {
    const a = await namedServer("a");
    const b = await namedServer("b");
    servers.push(a.server, b.server);
    lb = await startHaproxy([`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`]);
    // Both seen healthy by at least one check each, so that round robin has both to choose from.
    for (const deadline = Date.now() + 5000; a.checks() === 0 || b.checks() === 0; await new Promise((r) => setTimeout(r, 50))) {
      if (Date.now() > deadline) throw new Error(`no health check reached both servers within 5 s (a ${a.checks()}, b ${b.checks()})`);
    }

    const spread: string[] = [];
    for (let i = 0; i < 8; i++) {
      const r = await get(`${lb.url}/who`);
      expect(r.status).to.equal(200);
      spread.push(r.body);
    }
    for (let i = 1; i < spread.length; i++) expect(spread[i], spread.join(" ")).to.not.equal(spread[i - 1]);
    expect(spread.filter((s) => s === "a")).to.have.length(4);

    // Closed: its port refuses connections. Before the checks mark it down (2 × 500 ms), the
    // balancer retries refused connections on the other server (retries + redispatch); after, it
    // sends none there. Either way, every request succeeds.
    await closeServer(a.server);
    servers.splice(servers.indexOf(a.server), 1);
    const after: { status: number; body: string }[] = [];
    for (let i = 0; i < 10; i++) after.push(await get(`${lb.url}/who`));
    await new Promise((r) => setTimeout(r, 1500));
    for (let i = 0; i < 10; i++) after.push(await get(`${lb.url}/who`));
    expect(after.map((r) => `${r.status} ${r.body}`)).to.deep.equal(Array(20).fill("200 b"));
  });
});
