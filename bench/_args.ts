/** The benches' one flag reader: `--name N`, a positive whole number, else the default. */
export function intArg(args: string[], name: string, def: number): number {
  const i = args.indexOf(name);
  if (i === -1) return def;
  const v = Number(args[i + 1]);
  if (!Number.isInteger(v) || v <= 0) throw new Error(`${name} must be a positive whole number, got "${args[i + 1] ?? ""}"`);
  return v;
}
