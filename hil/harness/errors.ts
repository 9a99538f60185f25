/**
 * Infrastructure errors are the rig's fault, not the firmware's: a port that will not open,
 * socat missing, a power switch command that fails. The runner reports them apart from test
 * failures (JUnit `<error>`, their own section in the HTML report, exit code 2).
 */
export class InfrastructureError extends Error {
  override readonly name = "InfrastructureError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export function isInfrastructureError(err: unknown): err is InfrastructureError {
  return err instanceof InfrastructureError || (err instanceof Error && err.name === "InfrastructureError");
}

/** Run a setup step; any error it throws becomes an InfrastructureError naming the step. */
export async function infra<T>(step: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (isInfrastructureError(err)) throw err;
    throw new InfrastructureError(`${step}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}
