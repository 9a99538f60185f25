/**
 * The operator's legal details printed on every document (issue 16; French invoices must name
 * the seller, its address, SIREN/SIRET and intra-EU VAT number). From the environment, with
 * demo values for the embedded demo site so a fresh install issues complete-looking documents —
 * marked as demo values so nobody mistakes them for a real company.
 */
export interface LegalDetails {
  company: string;
  address: string;
  siret: string;
  vatId: string;
}

export const DEMO_LEGAL: LegalDetails = {
  company: "SysPark Démo SAS (demo values)",
  address: "1 rue de la Démo, 75001 Paris, France",
  siret: "000 000 000 00000",
  vatId: "FR00000000000",
};

/** SYSPARK_BILLING_COMPANY, _ADDRESS, _SIRET, _VAT_ID; each missing one falls back to the demo value. */
export function legalDetailsFromEnv(env: NodeJS.ProcessEnv = process.env): LegalDetails {
  const pick = (name: string, fallback: string) => {
    const v = env[name]?.trim();
    return v && v.length <= 200 ? v : fallback;
  };
  return {
    company: pick("SYSPARK_BILLING_COMPANY", DEMO_LEGAL.company),
    address: pick("SYSPARK_BILLING_ADDRESS", DEMO_LEGAL.address),
    siret: pick("SYSPARK_BILLING_SIRET", DEMO_LEGAL.siret),
    vatId: pick("SYSPARK_BILLING_VAT_ID", DEMO_LEGAL.vatId),
  };
}
