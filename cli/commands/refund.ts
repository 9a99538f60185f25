/**
 * `syspark refund <session-or-payment-id> [--amount 980|9.80] --reason <text>` and
 * `syspark refund --late <session> --reason <text>` (issue 16): through the cloud's operator API
 * (`POST /api/operator/refunds`, `/api/operator/sessions/:id/refund-late`), resolved like every
 * cloud command (cli-support.ts: --url, SYSPARK_CLOUD_URL, or the running cloud that holds the
 * PGlite directory; the line naming it goes to stderr). A refund is made by the payment provider,
 * which only a running cloud is configured to reach: on a bare database the command refuses
 * rather than record a refund nobody sends. The Idempotency-Key is derived from the target,
 * amount and reason (or --idempotency-key): running the same command twice refunds once.
 */
import { createHash } from "node:crypto";
import type { Command } from "commander";
import { loginPrompt } from "../prompt";

interface RefundOpts {
  url?: string;
  dataDir?: string;
  schema?: string;
  amount?: string;
  reason: string;
  late?: boolean;
  prepayment?: string;
  idempotencyKey?: string;
}

interface RefundAnswer {
  refund: { refund_id: string; amount: number; currency: string; state: string; provider_ref: string | null; failure_reason: string | null };
  payment: { payment_id: string; amount: number; refunded_amount: number; refund_status: string };
  replayed: boolean;
  provider_unavailable?: boolean;
}

const ID_RE = /^[A-Za-z0-9_-]{1,64}$/;

function amountOption(v: string): string {
  if (!/^\d{1,9}(\.\d{1,3})?$/.test(v)) throw new Error(`--amount must be minor units (980) or a decimal amount (9.80), got "${v}"`);
  return v;
}

/** 980 → the number 980 (minor units); 9.80 → the string "9.80" (the cloud reads it in the payment's currency). */
const amountBody = (v: string): number | string => (v.includes(".") ? v : Number(v));

function line(r: RefundAnswer): string {
  const p = r.payment;
  const what = `refund ${r.refund.refund_id} of ${r.refund.amount} ${r.refund.currency} (minor units) on payment ${p.payment_id}: ${r.refund.state}`;
  const more = r.provider_unavailable ? " — the provider is unreachable: run the same command again" : r.refund.failure_reason ? ` — ${r.refund.failure_reason}` : "";
  return `${what}${r.replayed ? " (already requested: nothing new)" : ""}${more}; payment refunded ${p.refunded_amount}/${p.amount} (${p.refund_status})`;
}

export function register(program: Command): void {
  program
    .command("refund")
    .description("refund a paid session or payment (full by default, or --amount), or a session's late payments (--late); through the running cloud's API")
    .argument("[id]", "a session id, or a payment id (pay_…); none with --prepayment")
    .requiredOption("--reason <text>", "why (3-400 characters; audited with your identity)")
    .option("--amount <amount>", "minor units (980) or a decimal amount in the payment's currency (9.80); default: what is left", amountOption)
    .option("--late", "refund exactly the session's late payments (paid after an operator override), once")
    .option("--prepayment <id>", "refund an unused (paid, not consumed) prepayment pp_… in full")
    .option("--idempotency-key <key>", "8-200 of A-Z a-z 0-9 . _ : - (default: derived from the id, amount and reason)")
    .option("--url <url>", "the cloud's URL (env SYSPARK_CLOUD_URL; log in: SYSPARK_OPERATOR_TOKEN, SYSPARK_OPERATOR_USERNAME/_PASSWORD, or the terminal)")
    .option("--data-dir <dir>", "the site folder of `syspark up` or a cloud PGlite data directory: its running cloud is reached through its API")
    .option("--schema <name>", "PostgreSQL schema (with DATABASE_URL)")
    .action(async (argId: string | undefined, opts: RefundOpts) => {
      if (opts.prepayment !== undefined) return refundPrepaymentCli(argId, opts);
      if (argId === undefined) throw new Error("<id> is required (a session or payment id), or --prepayment <pp_…>");
      const id = argId;
      if (!ID_RE.test(id)) throw new Error(`<id> must be a session or payment id (1-64 of A-Z a-z 0-9 _ -), got "${id}"`);
      const reason = opts.reason.trim();
      if (reason.length < 3 || reason.length > 400) throw new Error("--reason must be 3-400 characters");
      if (opts.late && opts.amount !== undefined) throw new Error("--late refunds each late payment in full: no --amount");
      if (opts.late && id.startsWith("pay_")) throw new Error("--late takes a session id");
      if (opts.idempotencyKey !== undefined && !/^[A-Za-z0-9._:-]{8,200}$/.test(opts.idempotencyKey)) throw new Error("--idempotency-key must be 8-200 of A-Z a-z 0-9 . _ : -");
      const key = opts.idempotencyKey ?? `cli-${createHash("sha256").update(JSON.stringify([id, opts.late ?? false, opts.amount ?? null, reason])).digest("hex").slice(0, 40)}`;
      const { withCloud } = await import("../../cloud/server/cli-support");
      const answers = await withCloud<RefundAnswer[]>(
        opts,
        {
          api: async (api) => {
            const init = (body: unknown) => ({ method: "POST", headers: { "Content-Type": "application/json", "Idempotency-Key": key }, body: JSON.stringify(body) });
            const r = opts.late
              ? await api.fetch(`/api/operator/sessions/${id}/refund-late`, init({ reason }))
              : await api.fetch("/api/operator/refunds", init({ [id.startsWith("pay_") ? "payment_id" : "session_id"]: id, reason, ...(opts.amount !== undefined ? { amount: amountBody(opts.amount) } : {}) }));
            const text = await r.text();
            let body: { error?: string; refunds?: RefundAnswer[] } & Partial<RefundAnswer>;
            try {
              body = JSON.parse(text) as typeof body;
            } catch {
              throw new Error(`the refund failed (HTTP ${r.status}): ${text.slice(0, 300)}`);
            }
            if (r.status >= 400 && !body.refund && !body.refunds) throw new Error(`the refund failed (HTTP ${r.status}): ${body.error ?? text.slice(0, 300)}`);
            return body.refunds ?? [body as RefundAnswer];
          },
          db: () => {
            throw new Error("a refund is made by the payment provider, which only a running cloud reaches: start the cloud (`syspark cloud` / `syspark up`) and run this again, or give --url <cloud URL>");
          },
        },
        loginPrompt(),
      );
      for (const a of answers) console.log(line(a));
      if (answers.some((a) => a.refund.state === "failed" || a.refund.state === "canceled" || a.provider_unavailable)) process.exitCode = 1;
    });
}

interface PrepaymentAnswer {
  prepayment_id: string;
  state: string;
  amount: number;
  currency: string;
  refund: { state: string | null; provider_ref: string | null; failure_reason: string | null };
  replayed: boolean;
  provider_unavailable?: boolean;
  error?: string;
}

/** `syspark refund --prepayment <pp_…> --reason …`: POST /api/operator/prepayments/:id/refund (always the full amount). */
async function refundPrepaymentCli(argId: string | undefined, opts: RefundOpts): Promise<void> {
  const id = opts.prepayment as string;
  if (argId !== undefined) throw new Error("--prepayment takes the prepayment id itself: no <id> argument");
  if (!/^pp_[A-Za-z0-9_-]{16,64}$/.test(id)) throw new Error(`--prepayment must be a prepayment id (pp_ and 16-64 of A-Z a-z 0-9 _ -), got "${id}"`);
  if (opts.amount !== undefined || opts.late) throw new Error("--prepayment refunds the whole prepayment: no --amount, no --late");
  const reason = opts.reason.trim();
  if (reason.length < 3 || reason.length > 400) throw new Error("--reason must be 3-400 characters");
  if (opts.idempotencyKey !== undefined && !/^[A-Za-z0-9._:-]{8,200}$/.test(opts.idempotencyKey)) throw new Error("--idempotency-key must be 8-200 of A-Z a-z 0-9 . _ : -");
  const key = opts.idempotencyKey ?? `cli-pp-${createHash("sha256").update(JSON.stringify([id, reason])).digest("hex").slice(0, 40)}`;
  const { withCloud } = await import("../../cloud/server/cli-support");
  const a = await withCloud<PrepaymentAnswer>(
    opts,
    {
      api: async (api) => {
        const r = await api.fetch(`/api/operator/prepayments/${id}/refund`, { method: "POST", headers: { "Content-Type": "application/json", "Idempotency-Key": key }, body: JSON.stringify({ reason }) });
        const text = await r.text();
        let body: PrepaymentAnswer;
        try {
          body = JSON.parse(text) as PrepaymentAnswer;
        } catch {
          throw new Error(`the refund failed (HTTP ${r.status}): ${text.slice(0, 300)}`);
        }
        if (r.status >= 400) throw new Error(`the refund failed (HTTP ${r.status}): ${body.error ?? text.slice(0, 300)}`);
        return body;
      },
      db: () => {
        throw new Error("a refund is made by the payment provider, which only a running cloud reaches: start the cloud (`syspark cloud` / `syspark up`) and run this again, or give --url <cloud URL>");
      },
    },
    loginPrompt(),
  );
  const more = a.provider_unavailable ? " — the provider is unreachable: run the same command again" : a.refund.failure_reason ? ` — ${a.refund.failure_reason}` : "";
  console.log(`prepayment ${a.prepayment_id} of ${a.amount} ${a.currency} (minor units): ${a.state}, refund ${a.refund.provider_ref ?? "-"} ${a.refund.state ?? "-"}${a.replayed ? " (already requested: nothing new)" : ""}${more}`);
  if (a.provider_unavailable || a.refund.state === "failed" || a.refund.state === "canceled") process.exitCode = 1;
}
