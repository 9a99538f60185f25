/**
 * The weather poller's settings, from the environment (issue 17). Weather is optional: without
 * OPENWEATHERMAP_API_KEY it is off and nothing is fetched. A bad value stops the start with a
 * ConfigError naming the variable; the key itself never appears in a message.
 */
import { z } from "zod";
import { ConfigError } from "../server/config";

export interface WeatherConfig {
  apiKey: string;
  baseUrl: string;
  intervalMs: number;
  lang: "fr" | "en";
}

export const DEFAULT_OPENWEATHERMAP_BASE_URL = "https://api.openweathermap.org";
/** OpenWeatherMap refreshes its observations about every 10 minutes: polling faster buys nothing. */
export const DEFAULT_WEATHER_INTERVAL_S = 600;
/** The floor in production: one request per site per minute at most (the free plan allows 60/min in all). */
export const MIN_WEATHER_INTERVAL_S = 60;

const EnvSchema = z.object({
  OPENWEATHERMAP_API_KEY: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9_-]{8,128}$/, "OPENWEATHERMAP_API_KEY must be the API key from your OpenWeatherMap account (8-128 letters, digits, _ or -)")
    .optional(),
  OPENWEATHERMAP_BASE_URL: z
    .string()
    .trim()
    .refine((s) => {
      try {
        const u = new URL(s);
        return (u.protocol === "https:" || u.protocol === "http:") && !u.search && !u.hash && !u.username && !u.password;
      } catch {
        return false;
      }
    }, "OPENWEATHERMAP_BASE_URL must be an http(s) base URL without query, e.g. https://api.openweathermap.org")
    .default(DEFAULT_OPENWEATHERMAP_BASE_URL),
  WEATHER_INTERVAL_S: z
    .string()
    .trim()
    .regex(/^\d{1,7}$/, "WEATHER_INTERVAL_S must be a whole number of seconds")
    .transform(Number)
    .refine((n) => n >= MIN_WEATHER_INTERVAL_S, `WEATHER_INTERVAL_S must be at least ${MIN_WEATHER_INTERVAL_S} (seconds)`)
    .default(DEFAULT_WEATHER_INTERVAL_S),
  WEATHER_LANG: z.enum(["fr", "en"], "WEATHER_LANG must be fr or en").default("fr"),
});

/** The weather settings, or undefined when OPENWEATHERMAP_API_KEY is not set (weather off). */
export function weatherConfigFromEnv(env: NodeJS.ProcessEnv = process.env): WeatherConfig | undefined {
  // An empty variable counts as unset (a blank line in an env file).
  const pick = (k: string) => (env[k] === undefined || env[k] === "" ? undefined : env[k]);
  const r = EnvSchema.safeParse({
    OPENWEATHERMAP_API_KEY: pick("OPENWEATHERMAP_API_KEY"),
    OPENWEATHERMAP_BASE_URL: pick("OPENWEATHERMAP_BASE_URL"),
    WEATHER_INTERVAL_S: pick("WEATHER_INTERVAL_S"),
    WEATHER_LANG: pick("WEATHER_LANG"),
  });
  if (!r.success) {
    // zod's own message for a wrong type does not name the variable: the path does.
    const i = r.error.issues[0];
    const name = String(i.path[0] ?? "weather settings");
    throw new ConfigError(i.message.includes(name) ? i.message : `${name}: ${i.message}`);
  }
  const c = r.data;
  if (c.OPENWEATHERMAP_API_KEY === undefined) return undefined;
  return { apiKey: c.OPENWEATHERMAP_API_KEY, baseUrl: c.OPENWEATHERMAP_BASE_URL.replace(/\/+$/, ""), intervalMs: c.WEATHER_INTERVAL_S * 1000, lang: c.WEATHER_LANG };
}
