/**
 * `syspark hil run` end to end, as CI runs it: a few scenarios on `sim` (real firmware on socat
 * ptys, gateway, cloud, Stripe emulator), JUnit XML and the HTML report with its timing
 * diagrams, checked in headless Chromium; and a rig whose port is missing, reported as an
 * infrastructure error apart from test failures.
 */
import { expect } from "chai";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startSimRig } from "../../hil/rig/sim-rig";
import { requireToolOrSkip, spawnOwned } from "../../host/tools";

function syspark(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // Owned: a test that times out does not leave the run (and its socat pty pairs) going.
    const p = spawnOwned(process.execPath, ["bin/syspark.js", ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
    let stdout = "", stderr = "";
    p.stdout!.on("data", (d: Buffer) => { stdout += d.toString(); });
    p.stderr!.on("data", (d: Buffer) => { stderr += d.toString(); });
    p.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("syspark hil run", function () {
  this.timeout(120_000);
  let dir: string;
  before(() => { dir = mkdtempSync(join(tmpdir(), "syspark-hil-")); });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("runs scenarios on sim and writes JUnit XML, the HTML report with timing diagrams, and one log per DUT", async function () {
    requireToolOrSkip(this, "socat");
    const junit = join(dir, "out.xml"), html = join(dir, "out.html");
    const r = await syspark(["hil", "run", "--target", "sim", "--grep", "leaves before paying|heartbeat loss|emergency input", "--junit", junit, "--html", html]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.match(/hil: 3 scenario\(s\) on sim/);
    expect(r.stderr).to.match(/\[ 3\/3\] ok/);
    const xml = readFileSync(junit, "utf8");
    expect(xml).to.match(/<testsuite name="syspark hil \(sim\)" tests="3" failures="0" errors="0" skipped="0"/);
    expect(xml).to.include('name="vehicle leaves before paying"');
    const page = readFileSync(html, "utf8");
    expect((page.match(/<svg /g) ?? []).length, "one diagram per scenario").to.equal(3);
    expect(page).to.include('data-row="barrier"').and.include('data-row="motor up"').and.include('data-row="mqtt"');
    expect(page, "the diagrams are on the virtual lane-time axis").to.include("virtual site clock");
    expect(page, "no script, no external resource").to.not.match(/<script|\b(src|href)="https?:|url\(https?:/);
    const logLinks = [...page.matchAll(/href="([^"]+\.log)"/g)].map((m) => m[1]);
    expect(logLinks).to.have.length(6);
    for (const l of logLinks) expect(statSync(join(dir, l)).size, l).to.be.greaterThan(100);
    const vcd = [...page.matchAll(/href="([^"]+\.vcd)"/g)].map((m) => m[1]);
    expect(vcd, "one safety-core VCD per scenario").to.have.length(3);
    expect(readFileSync(join(dir, vcd[0]), "utf8")).to.match(/exact to the 50000000 Hz cycle/).and.match(/\$timescale 1ns \$end/).and.match(/\$var wire 1 \S+ motor_up \$end/).and.match(/#\d+/);
    const exitLog = readFileSync(join(dir, logLinks.find((l) => l.includes("leaves-before-paying") && l.endsWith("L1-exit.log"))!), "utf8");
    expect(exitLog).to.match(/rx \d+ PAY_REQ session=/).and.match(/tx \d+ HELLO kind="exit-controller"/);

    requireToolOrSkip(this, "chromium");
    const { chromium } = await import("playwright-core");
    const browser = await chromium.launch({
      executablePath: "/usr/bin/chromium",
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
    });
    try {
      const ctx = await browser.newContext({ viewport: { width: 1200, height: 900 } });
      const requests: string[] = [];
      ctx.on("request", (req) => { if (!req.url().startsWith("file:")) requests.push(req.url()); });
      const p = await ctx.newPage();
      await p.goto(`file://${html}`);
      expect(await p.locator("#summary").innerText()).to.match(/virtual site clock[\s\S]*3 passed · 0 failed · 0 infrastructure errors/);
      const svg = p.locator("section.scenario svg.timeline").first();
      const box = await svg.boundingBox();
      expect(box && box.width > 600 && box.height > 150, `diagram drawn: ${JSON.stringify(box)}`).to.equal(true);
      expect(await p.locator('section.scenario polyline[data-row="barrier"]').count()).to.equal(3);
      const shot = join(dir, "report.png");
      await p.screenshot({ path: shot, fullPage: true });
      expect(statSync(shot).size).to.be.greaterThan(20_000);
      expect(requests, "the report loads nothing from the network").to.deep.equal([]);
    } finally {
      await browser.close();
    }
  });

  it("runs the same scenario on --target rig: a rig file pointing at socat ptys with simulated boards and an I/O emulator on the other ends", async function () {
    requireToolOrSkip(this, "socat");
    const rig = await startSimRig(join(dir, "sim-rig"), ["L1"]);
    try {
      const junit = join(dir, "rig-ok.xml"), html = join(dir, "rig-ok.html");
      const r = await syspark(["hil", "run", "--target", "rig", "--rig", rig.rigPath, "--grep", "leaves before paying", "--junit", junit, "--html", html]);
      expect(r.code, r.stderr).to.equal(0);
      expect(readFileSync(junit, "utf8")).to.match(/tests="1" failures="0" errors="0"/);
      const log = [...readFileSync(html, "utf8").matchAll(/href="([^"]+L1-exit\.log)"/g)][0][1];
      // the harness opened the rig's port for the gateway and logged both directions
      expect(readFileSync(join(dir, log), "utf8")).to.match(/tx \d+ PRESENCE present="1"/).and.match(/rx \d+ PAY_REQ session=/);
      expect(rig.lanes.get("L1")!.exit.state, "the board went back to idle after the car left").to.match(/idle|done/);
    } finally {
      await rig.close();
    }
  });

  it("reports a rig port that does not exist as an infrastructure error (exit 2), apart from failures", async () => {
    const rig = join(dir, "rig.json");
    writeFileSync(rig, JSON.stringify({ name: "missing", boards: [
      { kind: "exit-controller", lane: "L1", port: join(dir, "no-such-tty-1") },
      { kind: "barrier-executor", lane: "L1", port: join(dir, "no-such-tty-2"), reset: { method: "rts" } },
    ] }));
    const junit = join(dir, "rig.xml"), html = join(dir, "rig.html");
    const r = await syspark(["hil", "run", "--target", "rig", "--rig", rig, "--junit", junit, "--html", html]);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/INFR exit-controller of lane L1: serial port .*no-such-tty-1 does not exist/);
    expect(readFileSync(junit, "utf8")).to.match(/errors="2"/).and.match(/<error message="[^"]*no-such-tty-1[^"]*" type="InfrastructureError">/).and.not.match(/<failure/);
    expect(readFileSync(html, "utf8")).to.include('id="infrastructure"');
  });

  it("--target xs without the Moddable SDK refuses before starting anything, saying what to install", async () => {
    const r = await syspark(["hil", "run", "--target", "xs"], { MODDABLE: "" });
    expect(r.code, r.stderr).to.equal(2);
    expect(r.stderr).to.match(/--target xs runs the firmware on XS and needs the Moddable SDK/).and.match(/\$MODDABLE is not set: install the Moddable SDK/);
    expect(r.stderr, "nothing started").not.to.match(/starting the cloud/);
    const wrong = await syspark(["hil", "run", "--target", "xs"], { MODDABLE: dir });
    expect(wrong.code).to.equal(2);
    expect(wrong.stderr).to.include(`${join(dir, "build/bin/lin/release/mcconfig")} does not exist`);
  });

  it("refuses bad options and rig files with precise messages", async () => {
    const noRig = await syspark(["hil", "run", "--target", "rig"]);
    expect(noRig.code).to.not.equal(0);
    expect(noRig.stderr).to.match(/--target rig needs --rig <rig.json>/);
    const badTarget = await syspark(["hil", "run", "--target", "lab"]);
    expect(badTarget.stderr).to.match(/--target must be sim, xs or rig, got "lab"/);
    const xsVirtual = await syspark(["hil", "run", "--target", "xs", "--clock", "virtual"]);
    expect(xsVirtual.stderr).to.match(/--clock virtual applies to --target sim only: XS runs in real time/);
    const none = await syspark(["hil", "run", "--grep", "^no such scenario$"]);
    expect(none.code, "zero scenarios run is not a pass").to.equal(1);
    expect(none.stderr).to.match(/no scenario matches --grep \^no such scenario\$/);
    const badClock = await syspark(["hil", "run", "--clock", "fast"]);
    expect(badClock.stderr).to.match(/--clock must be virtual or wall, got "fast"/);
    const bad = join(dir, "bad-rig.json");
    writeFileSync(bad, JSON.stringify({ name: "b", boards: [{ kind: "exit-controller", lane: "L1", port: "/dev/x", baud: 7 }] }));
    const badRig = await syspark(["hil", "run", "--target", "rig", "--rig", bad]);
    expect(badRig.code).to.equal(1);
    expect(badRig.stderr).to.match(/boards\[0\]\.baud: baud must be a standard rate/);
  });
});
