/**
 * Admin: operators (issue 17). `/console/admin/operators`: the list with each one's role and
 * state, a form per operator to change the role or disable / enable it, and the add form
 * (username, role, an initial password the admin types — or, left empty, one generated and shown
 * on this answer only, never stored in clear nor logged). Roles: viewer (read only), operator
 * (lane actions, refunds up to SYSPARK_OPERATOR_REFUND_LIMIT), admin (tariffs, sites, operators).
 * Creation is the operators flow's (audited `operator.added`); changes are audited too
 * (cloud/flows/site-admin.ts changeOperator, which keeps one enabled admin at least).
 */
import { randomBytes } from "node:crypto";
import type { Request, Response, Router } from "express";
import { z } from "zod";
import { ConflictError, OPERATOR_ROLES, UsernameSchema, listOperators } from "../../db/index";
import { HttpError } from "../../flows/errors";
import { addOperatorWithPassword } from "../../flows/operators";
import { FieldError, OperatorChange, changeOperator } from "../../flows/site-admin";
import { esc } from "../pages";
import { ct } from "./i18n";
import { actorOf, adminForm, adminGuard, adminPage, adminWrap, formError, input, redirectNotice, select, valuesOf, zodErrors, type AdminDeps, type Ctx, type Errors, type Values } from "./admin-forms";

const AddForm = z.object({
  username: UsernameSchema,
  role: z.enum(OPERATOR_ROLES, "viewer, operator or admin"),
  password: z.union([z.literal(""), z.string().min(12, "at least 12 characters (or empty: one is generated)").max(1024, "at most 1024 characters")]).optional().default(""),
});

export function registerPeople(router: Router, d: AdminDeps): void {
  const guard = adminGuard(d);
  const form = adminForm();

  async function page(req: Request, res: Response, c: Ctx, o: { e?: Errors; status?: number; failedId?: string; created?: { username: string; password: string } } = {}): Promise<void> {
    const t = c.t;
    const roles: [string, string][] = OPERATOR_ROLES.map((r) => [r, ct(c.lang).roleNames[r]]);
    const e = o.e ?? {};
    const rows = (await listOperators(d.db.sql))
      .map((op) => {
        const id = String(op.operatorId);
        const mine = o.failedId === id;
        const v: Values = { role: op.role };
        const action = `/console/admin/operators/${id}`;
        const toggle = op.disabled ? `<button class="btn" type="submit" name="action" value="enable">${esc(t.enable)}</button>` : `<button class="btn danger" type="submit" name="action" value="disable">${esc(t.disable)}</button>`;
        return `<tr data-operator="${esc(op.username)}"><td>${esc(op.username)}</td><td class="role">${esc(ct(c.lang).roleNames[op.role])}</td><td><span class="pill ${op.disabled ? "bad" : "ok"}">${esc(op.disabled ? t.disabled : t.enabled)}</span></td>
<td><form method="post" action="${action}" class="row"><input type="hidden" name="action" value="role">${select({ name: "role", label: t.role, v, e: mine ? e : {}, options: roles })}<button class="btn" type="submit">${esc(t.changeRole)}</button></form>${mine ? formError({ form: e.action ?? "" }) : ""}</td>
<td><form method="post" action="${action}" class="inline">${toggle}</form></td></tr>`;
      })
      .join("");
    const v: Values = o.failedId === undefined && o.status && o.status >= 400 ? valuesOf(req) : { role: "operator" };
    delete v.password; // never echoed back
    const ae = o.failedId === undefined ? e : {};
    const created = o.created ? `<div class="card note" role="status" id="created"><p>${esc(o.created.username)} — ${esc(t.passwordOnce)}</p><p><code id="initial-password">${esc(o.created.password)}</code></p></div>` : "";
    const body = `${created}<div class="card scroll"><table class="grid" id="operators"><thead><tr><th>${esc(t.username)}</th><th>${esc(t.role)}</th><th>${esc(t.status)}</th><th></th><th></th></tr></thead><tbody>${rows}</tbody></table></div>
<div class="card"><h2>${esc(t.addOperator)}</h2><form method="post" action="/console/admin/operators" id="add-operator">${formError(ae)}<div class="row">${input({ name: "username", label: t.username, v, e: ae, required: true, extra: 'autocomplete="off"' })}${select({ name: "role", label: t.role, v, e: ae, options: roles })}${input({ name: "password", label: t.password, v, e: ae, type: "password", extra: 'autocomplete="new-password"' })}</div><button class="btn" type="submit">${esc(t.add)}</button></form></div>`;
    adminPage(req, res, c, { title: t.operators, crumbs: [["/console/admin/operators", t.operators]], body, status: o.status ?? 200 });
  }

  router.get("/console/admin/operators", ...guard, adminWrap((req, res, c) => page(req, res, c)));

  router.post(
    "/console/admin/operators",
    ...guard,
    ...form,
    adminWrap(async (req, res, c) => {
      const f = AddForm.safeParse(req.body ?? {});
      if (!f.success) return page(req, res, c, { e: zodErrors(f.error), status: 400 });
      const generated = f.data.password === "";
      const password = generated ? randomBytes(15).toString("base64url") : f.data.password;
      const a = actorOf(req);
      try {
        await addOperatorWithPassword(d.db, d.auditMode, { username: f.data.username, password, role: f.data.role }, { operator: a.username, operator_id: a.operatorId, request_id: a.requestId });
      } catch (err) {
        if (err instanceof ConflictError) throw new FieldError("username", "this username is already taken", 409);
        throw err;
      }
      d.wake();
      // A generated password is shown on this answer only (a redirect would have to carry it in a URL).
      if (generated) return page(req, res, c, { created: { username: f.data.username, password }, status: 201 });
      redirectNotice(res, "/console/admin/operators", "operator_saved");
    }, (req, res, c, e, status) => page(req, res, c, { e, status })),
  );

  router.post(
    "/console/admin/operators/:id",
    ...guard,
    ...form,
    adminWrap(
      async (req, res, c) => {
        const id = String(req.params.id);
        if (!/^\d{1,9}$/.test(id)) throw new HttpError(404, `no operator ${id.slice(0, 32)}`, "not_found");
        const f = OperatorChange.safeParse(req.body ?? {});
        if (!f.success) return page(req, res, c, { e: zodErrors(f.error), status: 400, failedId: id });
        await changeOperator({ db: d.db, auditMode: d.auditMode }, Number(id), f.data, actorOf(req));
        d.wake();
        redirectNotice(res, "/console/admin/operators", "operator_saved");
      },
      (req, res, c, e, status) => page(req, res, c, { e, status, failedId: String(req.params.id) }),
    ),
  );
}
