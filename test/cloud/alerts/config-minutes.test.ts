/**
 * ALERT_GATEWAY_OFFLINE_MIN takes decimal minutes (issue 17): the whole-site alert test needs a
 * gateway outage alerted within seconds, not a minute. Whole numbers read as before; anything
 * else is refused naming the variable.
 */
import { expect } from "chai";
import { AlertConfigError, alertConfigFromEnv } from "../../../cloud/alerts/config";

const PAIR = { TELEGRAM_BOT_TOKEN: "123456789:AAtest-secret_token_0123456789abcdefXYZ", TELEGRAM_CHAT_ID: "-1001234567890" };

function offlineMin(value: string): number | undefined {
  return alertConfigFromEnv({ ...PAIR, ALERT_GATEWAY_OFFLINE_MIN: value })?.thresholds.gatewayOfflineMin;
}

function refusal(value: string): string {
  try {
    alertConfigFromEnv({ ...PAIR, ALERT_GATEWAY_OFFLINE_MIN: value });
  } catch (err) {
    expect(err).to.be.instanceOf(AlertConfigError);
    return (err as Error).message;
  }
  throw new Error(`ALERT_GATEWAY_OFFLINE_MIN=${value} was accepted`);
}

describe("alerts: ALERT_GATEWAY_OFFLINE_MIN in decimal minutes", () => {
  it("reads whole and decimal minutes", () => {
    expect(offlineMin("5")).to.equal(5);
    expect(offlineMin("0.05")).to.equal(0.05);
    expect(offlineMin("1.5")).to.equal(1.5);
    expect(offlineMin("10080")).to.equal(10_080);
  });

  it("refuses what is not a number of minutes, or out of range, naming the variable", () => {
    for (const bad of ["five", "1.", ".5", "-1", "1e2", "0.0001", "1,5"]) expect(refusal(bad), bad).to.match(/^ALERT_GATEWAY_OFFLINE_MIN must be a whole number or a decimal/);
    expect(refusal("0.01")).to.match(/^ALERT_GATEWAY_OFFLINE_MIN must be between 0.05 and 10080/);
    expect(refusal("0")).to.match(/^ALERT_GATEWAY_OFFLINE_MIN must be between/);
    expect(refusal("10080.5")).to.match(/^ALERT_GATEWAY_OFFLINE_MIN must be between/);
  });

  it("keeps the other counts whole", () => {
    expect(() => alertConfigFromEnv({ ...PAIR, ALERT_OUTBOX_BACKLOG: "1.5" })).to.throw(AlertConfigError, /^ALERT_OUTBOX_BACKLOG must be a whole number/);
  });
});
