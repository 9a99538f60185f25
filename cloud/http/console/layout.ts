/**
 * The operators' console page shell: one layout for every console screen (live site, search,
 * session, actions, admin, revenue), phone-first and wall-screen wide, French and English, with
 * the operator's name, the language switch and a real logout button. No inline script or style:
 * the CSS and the page script are files (public/), the Content-Security-Policy (csp.ts) allows
 * only them and the page's nonce.
 */
import { esc, type Lang } from "../pages";
import type { OperatorRole } from "../../db/index";
import { ct } from "./i18n";

export type ConsoleNav = "live" | "search" | "revenue" | "admin" | "none";

export interface ConsoleShell {
  lang: Lang;
  title: string;
  operator: { username: string; role: OperatorRole };
  /** The request's CSP nonce (res.locals.cspNonce): the only way a page may carry a <script> of its own. */
  nonce: string;
  body: string;
  nav: ConsoleNav;
  /** The path of this page, for the language switch (query string included). */
  path: string;
}

function langSwitch(path: string, lang: Lang): string {
  const other: Lang = lang === "fr" ? "en" : "fr";
  const u = new URL(path, "http://x");
  u.searchParams.set("lang", other);
  return `<a class="lang" href="${esc(u.pathname + u.search)}" hreflang="${other}" lang="${other}">${other === "fr" ? "Français" : "English"}</a>`;
}

export function consolePage(v: ConsoleShell): string {
  const t = ct(v.lang);
  const link = (key: ConsoleNav, href: string, label: string) => `<a href="${href}"${v.nav === key ? ' aria-current="page"' : ""}>${esc(label)}</a>`;
  const nav = [link("live", "/console", t.navLive), link("search", "/console/search", t.navSearch), link("revenue", "/console/revenue", t.navRevenue), v.operator.role === "admin" ? link("admin", "/console/admin", t.navAdmin) : ""].join("");
  return `<!doctype html>
<html lang="${v.lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${esc(v.title)} — SysPark</title>
<link rel="stylesheet" href="/console/assets/console.css">
<script src="/console/assets/console.js" defer nonce="${esc(v.nonce)}"></script>
</head>
<body data-lang="${v.lang}" data-role="${esc(v.operator.role)}">
<header class="top"><a class="brand" href="/console">SysPark</a><nav>${nav}</nav>
<div class="who"><span id="operator" title="${esc(t.roleNames[v.operator.role])}">${esc(v.operator.username)} · ${esc(t.roleNames[v.operator.role])}</span>${langSwitch(v.path, v.lang)}
<form method="post" action="/logout" class="inline"><button type="submit" id="logout">${esc(t.logout)}</button></form></div></header>
<main>
${v.body}
</main>
</body>
</html>`;
}
