/**
 * The cloud broker the gateway benchmark runs against: by default a private Mosquitto with
 * SysPark's cloud-broker flow settings (deploy/cloud-broker/syspark-flow.conf), so that the
 * relay meets the Receive Maximum a SysPark cloud broker advertises, not stock Mosquitto's 20;
 * the direct anchor publishes to the same broker in the same run. `SYSPARK_BENCH_MQTT_URL`
 * points the benchmark at an existing broker instead (e.g. the machine's Mosquitto on 1883).
 */
import { CLOUD_BROKER_FLOW_CONF, receiveMaximumAt, startMosquitto, type PrivateMosquitto } from "../host/mosquitto";
import { pidNamed } from "./_cpu";

export interface CloudBroker extends PrivateMosquitto {
  /** What it is, for the report. */
  describe: string;
}

export async function startCloudBroker(): Promise<CloudBroker> {
  const external = process.env.SYSPARK_BENCH_MQTT_URL;
  if (external) {
    const u = new URL(external);
    const local = ["localhost", "127.0.0.1"].includes(u.hostname);
    return {
      url: external,
      host: u.hostname,
      port: Number(u.port || 1883),
      pid: local ? pidNamed("mosquitto") : undefined,
      receiveMaximum: await receiveMaximumAt(external, 3000),
      describe: `${external} (SYSPARK_BENCH_MQTT_URL)`,
      stop: async () => undefined,
    };
  }
  const broker = await startMosquitto([CLOUD_BROKER_FLOW_CONF]).catch((err: Error) => {
    throw new Error(`the gateway benchmark starts a Mosquitto as its cloud broker: ${err.message}; or point SYSPARK_BENCH_MQTT_URL at a broker`, { cause: err });
  });
  return { ...broker, describe: `private Mosquitto on ${broker.url} with deploy/cloud-broker/syspark-flow.conf` };
}
