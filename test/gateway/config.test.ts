import { expect } from "chai";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError, loadSiteConfig, parseSiteConfig, resolveSecrets } from "../../gateway/config/load";
import { DEFAULT_SITE_BROKER_PORT } from "../../gateway/config/schema";
import { tempDir } from "./helpers";

const example = new URL("../../gateway/config/examples/site.json", import.meta.url);

function base(): Record<string, unknown> {
  return JSON.parse(readFileSync(example, "utf8")) as Record<string, unknown>;
}

function problems(raw: unknown): string[] {
  try {
    parseSiteConfig(raw);
  } catch (err) {
    expect(err).to.be.instanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error("config was accepted");
}

describe("gateway/config: site configuration", () => {
  it("accepts the example file and fills the defaults", () => {
    const c = loadSiteConfig(example.pathname);
    expect(c.site_id).to.equal("lyon-part-dieu");
    expect(c.lanes).to.have.length(2);
    expect(c.site_broker.port).to.equal(18830);
    expect(c.site_broker.allow_anonymous).to.equal(false);
    expect(c.offline_policy.trusted_badges).to.equal(true);
  });

  it("defaults the site broker to a port that is not 1883, and anonymous off", () => {
    const raw = base();
    delete raw.site_broker;
    const c = parseSiteConfig(raw);
    expect(c.site_broker.port).to.equal(DEFAULT_SITE_BROKER_PORT).and.not.equal(1883);
    expect(c.site_broker.allow_anonymous).to.equal(false);
    expect(c.site_broker.users).to.deep.equal([]);
  });

  it("refuses a bad baud rate with the exact field path and the value", () => {
    const raw = base() as { lanes: { exit_controller: { baud: number } }[] };
    raw.lanes[1].exit_controller.baud = 12;
    expect(problems(raw)).to.deep.equal(["lanes[1].exit_controller.baud: expected one of 9600|19200|38400|57600|115200|230400|460800|921600, got 12"]);
  });

  it("names unknown fields, missing fields, wrong types and every problem at once", () => {
    const raw = base() as Record<string, unknown> & { lanes: Record<string, unknown>[]; cloud: Record<string, unknown> };
    raw.lanes[0].exit_controler = { port: "/dev/x" };
    delete raw.cloud.url;
    raw.site_id = "Lyon!";
    raw.bridge = { inflight: "20" };
    const p = problems(raw);
    expect(p).to.include('lanes[0]: unknown field "exit_controler"');
    expect(p).to.include("cloud.url: expected string, got nothing (field missing)");
    expect(p).to.include("bridge.inflight: expected number, got \"20\"");
    expect(p.some((l) => l.startsWith("site_id: must be 1-32 of a-z 0-9 -"))).to.equal(true);
  });

  it("refuses duplicate lane ids, shared serial ports and duplicate users", () => {
    const raw = base() as { lanes: { id: string; barrier_executor: { port: string } }[]; site_broker: { users: { username: string }[] } };
    raw.lanes[1].id = "exit-1";
    raw.lanes[1].barrier_executor.port = "/dev/ttyUSB2";
    raw.site_broker.users[1].username = "lane-services";
    const p = problems(raw);
    expect(p).to.include('lanes[1].id: duplicate lane id "exit-1" (also lanes[0].id)');
    expect(p).to.include("lanes[1].barrier_executor.port: serial port /dev/ttyUSB2 is already used by lanes[1].exit_controller");
    expect(p).to.include('site_broker.users[1].username: duplicate username "lane-services" (also site_broker.users[0])');
  });

  it("needs exactly one password source per broker user, and grants for a custom role", () => {
    const raw = base() as { site_broker: { users: Record<string, unknown>[] } };
    raw.site_broker.users[0].password_scrypt = "scrypt$16384$8$1$AAAA$BBBB";
    delete raw.site_broker.users[3].subscribe;
    const p = problems(raw);
    expect(p).to.include("site_broker.users[0].password_env: give exactly one of password_env or password_scrypt");
    expect(p).to.include("site_broker.users[3].publish: role custom needs publish and/or subscribe topic filters");
  });

  it("refuses topic filters outside parking/ or with misplaced wildcards", () => {
    const raw = base() as { site_broker: { users: Record<string, unknown>[] } };
    raw.site_broker.users[3].subscribe = ["parking/#/x", "other/topic"];
    const p = problems(raw);
    expect(p.filter((l) => l.includes("must be an MQTT topic filter under parking/"))).to.have.length(2);
    expect(p[0]).to.match(/^site_broker\.users\[3\]\.subscribe\[0\]: /);
  });

  it("refuses cloud TLS settings on a plaintext URL (never an unencrypted link with the CA unused) and half a client certificate", () => {
    const raw = base() as { cloud: Record<string, unknown> };
    raw.cloud.url = "mqtt://mqtt.syspark.example:1883";
    expect(problems(raw)).to.deep.equal(["cloud.tls: is set but cloud.url (mqtt://) is not encrypted: use mqtts:// or wss://"]);
    raw.cloud.url = "mqtts://mqtt.syspark.example:8883";
    raw.cloud.tls = { ca_file: "/etc/syspark/ca.pem", cert_file: "/etc/syspark/client.pem" };
    expect(problems(raw)).to.deep.equal(["cloud.tls.key_file: a client certificate needs both cert_file and key_file"]);
  });

  it("reports a file that is not JSON or cannot be read", () => {
    const t = tempDir("cfg");
    try {
      const f = join(t.dir, "site.json");
      writeFileSync(f, "{ nope");
      expect(() => loadSiteConfig(f)).to.throw(ConfigError, /not valid JSON/);
      expect(() => loadSiteConfig(join(t.dir, "missing.json"))).to.throw(ConfigError, /cannot read the file/);
    } finally {
      t.cleanup();
    }
  });

  it("resolves secrets from the environment and names every missing variable", () => {
    const c = loadSiteConfig(example.pathname);
    try {
      resolveSecrets(c, { SYSPARK_CLOUD_MQTT_USERNAME: "u" });
      expect.fail("accepted missing secrets");
    } catch (err) {
      const p = (err as ConfigError).problems;
      expect(p).to.include("cloud.password_env: environment variable SYSPARK_CLOUD_MQTT_PASSWORD is not set (secrets come from the environment, e.g. an EnvironmentFile)");
      expect(p.some((l) => l.startsWith("site_broker.users[1].password_env: environment variable SYSPARK_SITE_MQTT_LPR_PASSWORD"))).to.equal(true);
      expect(JSON.stringify(p)).to.not.include('"u"');
    }
    const s = resolveSecrets(c, {
      SYSPARK_CLOUD_MQTT_USERNAME: "site-user", SYSPARK_CLOUD_MQTT_PASSWORD: "pw",
      SYSPARK_SITE_MQTT_GATEWAY_PASSWORD: "g", SYSPARK_SITE_MQTT_LPR_PASSWORD: "l", SYSPARK_SITE_MQTT_MAINT_PASSWORD: "m",
    });
    expect(s.cloud).to.deep.equal({ username: "site-user", password: "pw" });
    expect([...s.brokerPasswords.keys()]).to.deep.equal(["lane-services", "lpr-exit-1", "maintenance"]);
  });
});
