/** The live site screen's own words (lane actions, feed categories), French and English. */
import type { Lang } from "../pages";
import type { FeedCategory } from "./feed-text";

const FR = {
  open: "Ouvrir la barrière",
  reset: "Réarmer le défaut",
  display: "Message sur l'afficheur",
  closeEntries: "Fermer les entrées",
  reopenEntries: "Rouvrir les entrées",
  explainOpen: "La barrière s'ouvre une fois, sous le contrôle du cœur de sécurité. L'ouverture est journalisée avec votre nom et le motif.",
  explainReset: "Demande au contrôleur de barrière de réarmer son défaut. Il refuse si le défaut est toujours présent.",
  explainDisplay: "Affiche jusqu'à deux lignes de 20 caractères sur l'afficheur de la voie.",
  explainClose: "Le parking refuse les nouvelles entrées (les sorties continuent). Les afficheurs d'entrée l'indiquent.",
  explainReopen: "Le parking accepte de nouveau les entrées.",
  clearAlarm: "Acquitter",
  explainClearAlarm: "L'alarme disparaît de la liste des alarmes actives (la voie ne l'a pas levée d'elle-même). L'acquittement est journalisé.",
  sent: "Commande envoyée, en attente de la voie…",
  ackDone: "Exécutée par la voie",
  ackRefused: "Refusée par la voie",
  ackFault: "Défaut de la voie",
  ackTimeout: "La voie n'a pas répondu à temps",
  lines: "Texte (2 lignes de 20 caractères)",
  exitLane: "sortie",
  entryLane: "entrée",
  updated: "Mis à jour",
  backlog: "file d'attente",
  kind: "Type",
  filter: "Filtrer",
  open_session: "voir la session",
  categories: { entry: "entrée", exit: "sortie", payment: "paiement", alarm: "alarme", override: "commande", action: "action opérateur", other: "autre" } as Record<FeedCategory, string>,
};

export type LiveTexts = typeof FR;

const EN: LiveTexts = {
  open: "Open the barrier",
  reset: "Reset the fault",
  display: "Message on the display",
  closeEntries: "Close to entries",
  reopenEntries: "Reopen to entries",
  explainOpen: "The barrier opens once, under the safety core. The opening is audited with your name and the reason.",
  explainReset: "Asks the barrier controller to reset its fault. It refuses while the fault is still there.",
  explainDisplay: "Shows up to two lines of 20 characters on the lane's display.",
  explainClose: "The car park refuses new entries (exits go on). The entry displays say so.",
  explainReopen: "The car park accepts entries again.",
  clearAlarm: "Clear",
  explainClearAlarm: "The alarm leaves the list of active alarms (the lane did not clear it by itself). Clearing it is audited.",
  sent: "Command sent, waiting for the lane…",
  ackDone: "Done by the lane",
  ackRefused: "Refused by the lane",
  ackFault: "Lane fault",
  ackTimeout: "The lane did not answer in time",
  lines: "Text (2 lines of 20 characters)",
  exitLane: "exit",
  entryLane: "entry",
  updated: "Updated",
  backlog: "backlog",
  kind: "Kind",
  filter: "Filter",
  open_session: "see the session",
  categories: { entry: "entry", exit: "exit", payment: "payment", alarm: "alarm", override: "command", action: "operator action", other: "other" },
};

export function laneActionTexts(lang: Lang): LiveTexts {
  return lang === "en" ? EN : FR;
}
