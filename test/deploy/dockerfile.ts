/**
 * Just enough of a Dockerfile reader for the container tests: instructions (continuation lines
 * joined, comments and parser directives dropped) grouped by build stage, and the JSON (exec)
 * form of CMD / HEALTHCHECK CMD. dockerfile-utils (the VS Code Docker linter) judges syntax; this
 * only lets the tests ask structural questions (which stage runs what, as which user).
 */
export interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

export interface Stage {
  /** The image the stage starts FROM. */
  from: string;
  /** Its `AS` name, if any. */
  name?: string;
  instructions: Instruction[];
}

export function parseDockerfile(text: string): Stage[] {
  const lines = text.split(/\r?\n/);
  const instructions: Instruction[] = [];
  let pending: { text: string; line: number } | undefined;
  lines.forEach((raw, i) => {
    const trimmed = raw.trim();
    if (pending === undefined && (trimmed === "" || trimmed.startsWith("#"))) return;
    if (pending !== undefined && trimmed.startsWith("#")) return; // a comment inside a continued instruction
    const continued = /\\\s*$/.test(raw);
    const part = continued ? raw.replace(/\\\s*$/, "") : raw;
    pending = pending === undefined ? { text: part.trim(), line: i + 1 } : { text: `${pending.text} ${part.trim()}`, line: pending.line };
    if (continued) return;
    const m = /^(\S+)\s*(.*)$/s.exec(pending.text);
    if (m) instructions.push({ keyword: m[1].toUpperCase(), args: m[2].trim(), line: pending.line });
    pending = undefined;
  });
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.keyword === "FROM") {
      const m = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      stages.push({ from: m?.[1] ?? ins.args, ...(m?.[2] ? { name: m[2] } : {}), instructions: [] });
    } else if (stages.length > 0) stages[stages.length - 1].instructions.push(ins);
  }
  return stages;
}

/** An instruction's exec (JSON array) form, or undefined when it is written in shell form. */
export function execForm(args: string): string[] | undefined {
  if (!args.startsWith("[")) return undefined;
  try {
    const v = JSON.parse(args) as unknown;
    return Array.isArray(v) && v.every((x) => typeof x === "string") ? (v as string[]) : undefined;
  } catch {
    return undefined;
  }
}

/** HEALTHCHECK's options (`--interval=30s` → interval: "30s") and its command in exec form. */
export function healthcheck(args: string): { options: Record<string, string>; command?: string[] } {
  const options: Record<string, string> = {};
  let rest = args;
  for (let m = /^--([a-z-]+)=(\S+)\s+/.exec(rest); m; m = /^--([a-z-]+)=(\S+)\s+/.exec(rest)) {
    options[m[1]] = m[2];
    rest = rest.slice(m[0].length);
  }
  const cmd = /^CMD\s+(.*)$/s.exec(rest);
  const command = cmd ? execForm(cmd[1].trim()) : undefined;
  return { options, ...(command ? { command } : {}) };
}
