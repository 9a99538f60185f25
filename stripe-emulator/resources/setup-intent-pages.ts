/**
 * The 3-D Secure page of a SetupIntent (/emulator/3ds/<seti>?client_secret=…): the bank's
 * challenge when a card is saved. Passing it saves the card; then back to the return_url
 * (Checkout's /return for a setup-mode session) with `setup_intent` and its client secret.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { localeOf, pageForm, redirect, sendHtml, type HttpEnv } from "../http";
import { escapeHtml, layout, messagePage, texts } from "../pages";
import { authenticateSetup } from "./setup-intents";

export async function handleSetupThreeDsPage({ state, log, commit }: HttpEnv, req: IncomingMessage, res: ServerResponse, url: URL, setiId: string): Promise<void> {
  const form = await pageForm(req, url);
  const locale = localeOf(req, form.get("locale") ?? url.searchParams.get("locale"));
  const rec = state.setupIntents.get(setiId);
  if (!rec || url.searchParams.get("client_secret") !== rec.si.client_secret) {
    sendHtml(res, 404, messagePage("Not found", "No such SetupIntent.", locale));
    return;
  }
  const back = (): string | null => {
    if (!rec.returnUrl) return null;
    const u = new URL(rec.returnUrl);
    u.searchParams.set("setup_intent", rec.si.id);
    u.searchParams.set("setup_intent_client_secret", rec.si.client_secret as string);
    u.searchParams.set("redirect_status", rec.si.status === "succeeded" ? "succeeded" : "failed");
    return u.toString();
  };
  const t = texts(locale);
  if (rec.si.status !== "requires_action") {
    const to = back();
    if (to) redirect(res, to);
    else sendHtml(res, 409, messagePage("Nothing to authenticate", `This SetupIntent has a status of ${rec.si.status}.`, locale));
    return;
  }
  if (req.method === "GET") {
    const action = escapeHtml(`/emulator/3ds/${rec.si.id}?client_secret=${encodeURIComponent(rec.si.client_secret as string)}`);
    const button = (outcome: string, label: string, cls = "") =>
      `<form method="post" action="${action}"><input type="hidden" name="locale" value="${locale}"><input type="hidden" name="outcome" value="${outcome}"><button type="submit"${cls} id="${outcome === "complete" ? "complete" : "fail"}">${escapeHtml(label)}</button></form>`;
    sendHtml(res, 200, layout(t.authTitle, locale, `<div class="card"><h1>${escapeHtml(t.authTitle)}</h1><p>${escapeHtml(t.authText)}</p>${button("complete", t.complete)}${button("fail", t.fail, ' class="secondary"')}</div>`));
    return;
  }
  const si = authenticateSetup(state, rec.si.id, form.get("outcome") === "complete");
  await commit();
  log.info({ setupIntent: si.id, status: si.status }, "test emulator: 3-D Secure page (setup)");
  const to = back();
  if (to) redirect(res, to);
  else sendHtml(res, si.status === "succeeded" ? 200 : 402, messagePage(t.done, si.status === "succeeded" ? t.done : t.fail, locale));
}
