/**
 * The console's words in French and English (the user's operators are French; the default
 * follows pages.ts pickLang: ?lang=, then the language cookie, then Accept-Language, then
 * French). Screens with many words of their own keep them beside their code the same way.
 */
import type { Lang } from "../pages";
import type { OperatorRole } from "../../db/index";

const FR = {
  navLive: "En direct",
  navSearch: "Recherche",
  navRevenue: "Recettes",
  navAdmin: "Administration",
  logout: "Se déconnecter",
  roleNames: { viewer: "lecture seule", operator: "opérateur", admin: "administrateur" } as Record<OperatorRole, string>,
  sites: "Parkings",
  occupancy: "Occupation",
  capacity: "capacité",
  full: "complet",
  open: "ouvert",
  closedToEntries: "fermé aux entrées",
  gateway: "Passerelle",
  online: "en ligne",
  offline: "hors ligne",
  unknown: "inconnu",
  since: "depuis",
  lastHeartbeat: "dernier battement",
  lanes: "Voies",
  lane: "Voie",
  state: "État",
  barrier: "Barrière",
  presence: "Présence",
  vehiclePresent: "véhicule présent",
  noVehicle: "libre",
  display: "Afficheur",
  alarms: "Alarmes actives",
  noAlarm: "Aucune alarme",
  feed: "Fil d'événements",
  allKinds: "Tous les types",
  allLanes: "Toutes les voies",
  weather: "Météo",
  when: "Quand",
  what: "Quoi",
  detail: "Détail",
  session: "Session",
  actions: "Actions",
  reason: "Motif (obligatoire, journalisé)",
  confirm: "Confirmer",
  cancel: "Annuler",
  live: "en direct",
  reconnecting: "reconnexion…",
  timeZone: "Fuseau horaire",
  back: "Retour",
};

export type ConsoleTexts = typeof FR;

const EN: ConsoleTexts = {
  navLive: "Live",
  navSearch: "Search",
  navRevenue: "Revenue",
  navAdmin: "Admin",
  logout: "Log out",
  roleNames: { viewer: "viewer", operator: "operator", admin: "admin" },
  sites: "Car parks",
  occupancy: "Occupancy",
  capacity: "capacity",
  full: "full",
  open: "open",
  closedToEntries: "closed to entries",
  gateway: "Gateway",
  online: "online",
  offline: "offline",
  unknown: "unknown",
  since: "since",
  lastHeartbeat: "last heartbeat",
  lanes: "Lanes",
  lane: "Lane",
  state: "State",
  barrier: "Barrier",
  presence: "Presence",
  vehiclePresent: "vehicle present",
  noVehicle: "clear",
  display: "Display",
  alarms: "Active alarms",
  noAlarm: "No alarm",
  feed: "Live feed",
  allKinds: "All kinds",
  allLanes: "All lanes",
  weather: "Weather",
  when: "When",
  what: "What",
  detail: "Detail",
  session: "Session",
  actions: "Actions",
  reason: "Reason (required, audited)",
  confirm: "Confirm",
  cancel: "Cancel",
  live: "live",
  reconnecting: "reconnecting…",
  timeZone: "Time zone",
  back: "Back",
};

export function ct(lang: Lang): ConsoleTexts {
  return lang === "en" ? EN : FR;
}

/** One formatter per language and zone: building an Intl.DateTimeFormat costs ~70 times a format. */
const formats = new Map<string, Intl.DateTimeFormat>();

/** A date in the site's time zone, in the operator's language ("7 déc. 2026, 08:15:03"). */
export function siteTime(d: Date | null | undefined, timeZone: string, lang: Lang): string {
  if (!d) return "";
  const key = `${lang}|${timeZone}`;
  let f = formats.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat(lang === "fr" ? "fr-FR" : "en-GB", { timeZone, dateStyle: "medium", timeStyle: "medium" });
    if (formats.size > 200) formats.clear(); // bounded: zones come from the sites table
    formats.set(key, f);
  }
  return f.format(d);
}
