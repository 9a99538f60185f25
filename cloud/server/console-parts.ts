/**
 * The parts of a cloud instance that serve the operators beside the HTTP routes (issue 17): the
 * live fan-out with its two sources (the site watch on the broker, the audit tail), the Telegram
 * alerter and the weather poller. Alerts and weather are configured from the environment
 * (cloud/alerts/config.ts, cloud/weather/config.ts) unless the caller hands their config; both
 * are off when their keys are absent.
 */
import type { Logger } from "../../host/log";
import { Alerter } from "../alerts/alerter";
import { AlertConfigError, alertConfigFromEnv, type AlertConfig } from "../alerts/config";
import { TelegramClient } from "../alerts/telegram";
import type { Database } from "../db/index";
import { AuditTail } from "../live/feed";
import { LiveHub } from "../live/hub";
import { SiteWatch } from "../live/watch";
import type { MqttConnectOptions, ProtocolVersion } from "../mqtt/client";
import { weatherConfigFromEnv, type WeatherConfig } from "../weather/config";
import { WeatherPoller } from "../weather/poller";
import { ConfigError } from "./config";

export interface ConsolePartsOptions {
  /** Telegram alerts: undefined → from the environment; null → off. */
  alerts?: AlertConfig | null;
  /** OpenWeatherMap: undefined → from the environment; null → off. */
  weather?: WeatherConfig | null;
  /** The audit tail's period (ms). */
  feedPeriodMs?: number;
}

/** Reads the alerts' and the weather's configuration before anything opens (a bad variable stops the start). */
export function resolveConsoleConfig(o: ConsolePartsOptions, env: NodeJS.ProcessEnv = process.env): { alerts: AlertConfig | undefined; weather: WeatherConfig | undefined } {
  try {
    return {
      alerts: o.alerts === null ? undefined : (o.alerts ?? alertConfigFromEnv(env)),
      weather: o.weather === null ? undefined : (o.weather ?? weatherConfigFromEnv(env)),
    };
  } catch (err) {
    if (err instanceof AlertConfigError) throw new ConfigError(err.message);
    throw err;
  }
}

export interface ConsoleParts {
  hub: LiveHub;
  alerter?: Alerter;
  /** Stops everything started here (call before the database closes). */
  stop(): Promise<void>;
}

export async function startConsoleParts(p: {
  db: Database;
  logger: Logger;
  mqtt: MqttConnectOptions;
  version: ProtocolVersion;
  instanceId: string;
  src: string;
  wake: () => void;
  config: ReturnType<typeof resolveConsoleConfig>;
  feedPeriodMs?: number;
}): Promise<ConsoleParts> {
  const hub = new LiveHub();
  const stops: (() => Promise<void> | void)[] = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s();
    stops.length = 0;
  };
  try {
    const watch = new SiteWatch({ mqtt: p.mqtt, version: p.version, clientId: `syspark-${p.instanceId}-watch`.slice(0, 64), hub, logger: p.logger });
    await watch.start();
    stops.push(() => watch.stop());
    const tail = new AuditTail({ db: p.db, hub, logger: p.logger, ...(p.feedPeriodMs ? { periodMs: p.feedPeriodMs } : {}) });
    tail.start();
    stops.push(() => tail.stop());
    let alerter: Alerter | undefined;
    const a = p.config.alerts;
    if (a) {
      alerter = new Alerter({ db: p.db, logger: p.logger, chatId: a.chatId, thresholds: a.thresholds, periodMs: a.periodMs, telegram: new TelegramClient({ token: a.token, apiBase: a.apiBase, logger: p.logger }) });
      alerter.start();
      stops.push(() => alerter?.stop());
    } else p.logger.info("Telegram alerts off: TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID are not set");
    const w = p.config.weather;
    if (w) {
      const poller = new WeatherPoller({ db: p.db, logger: p.logger, apiKey: w.apiKey, baseUrl: w.baseUrl, intervalMs: w.intervalMs, lang: w.lang, src: p.src, wake: p.wake });
      poller.start();
      stops.push(() => poller.stop());
    } else p.logger.info("weather off: OPENWEATHERMAP_API_KEY is not set");
    return { hub, ...(alerter ? { alerter } : {}), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
