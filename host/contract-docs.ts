/**
 * The contract tables in docs/ are generated from the contract modules, so documentation and
 * code cannot drift: `syspark docs` rewrites the sections between GENERATED markers, and a
 * test fails when a committed doc is stale.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { MESSAGES, type FieldKind } from "../firmware/common/link/messages";
import { TOPICS, toCloudTopic, type TopicKey } from "../contracts/mqtt-topics";

function kindText(k: FieldKind): string {
  switch (k.kind) {
    case "uint": return `integer 0..${k.max}`;
    case "text": return `text ≤ ${k.max}`;
    case "enum": return k.values.map((v) => `\`${v}\``).join(" \\| ");
    case "hex": return `hex ${k.min}-${k.max}`;
    case "digits": return `digits ${k.min}-${k.max}`;
    case "id": return `id ≤ ${k.max}`;
  }
}

export function renderMessageCatalogue(): string {
  const out: string[] = [];
  for (const [type, spec] of Object.entries(MESSAGES)) {
    const dir = spec.dir === "up" ? "board → gateway" : spec.dir === "down" ? "gateway → board" : "both ways";
    out.push(`### \`${type}\``, "", `${spec.doc}`, "", `- direction: ${dir}; board: ${spec.board}; ${spec.reliable ? "reliable (seq ≥ 1, acknowledged, retransmitted, de-duplicated)" : "unreliable (seq 0, never acknowledged)"}`);
    const fields = Object.entries(spec.fields);
    if (fields.length) {
      out.push("", "| field | type | required | meaning |", "|---|---|---|---|");
      for (const [name, f] of fields) out.push(`| \`${name}\` | ${kindText(f.type)} | ${f.optional ? "no" : "yes"} | ${f.doc}${f.secret ? " (secret: masked in every log)" : ""} |`);
    }
    out.push("");
  }
  return out.join("\n");
}

export function renderTopicTable(): string {
  const rows = ["| topic | direction | QoS | retain | payload | origin |", "|---|---|---|---|---|---|"];
  for (const key of Object.keys(TOPICS) as TopicKey[]) {
    const t = TOPICS[key];
    const shape = (t.schema as unknown as { shape: Record<string, { safeParse: (v: unknown) => { success: boolean } }> }).shape;
    const fields = Object.keys(shape).map((k) => (shape[k].safeParse(undefined).success ? `${k}?` : k)).join(", ");
    const dir = t.direction === "cloud_to_site" ? "cloud → site" : t.direction === "site_to_cloud" ? "site → cloud" : "site LAN only";
    rows.push(`| \`${t.topic}\` | ${dir} | ${t.qos} | ${t.retain ? "yes" : "no"} | ${fields} | ${t.origin === "contract" ? "user contract" : "SysPark"} |`);
  }
  rows.push("", "Descriptions:", "");
  for (const key of Object.keys(TOPICS) as TopicKey[]) rows.push(`- \`${TOPICS[key].topic}\` — ${TOPICS[key].doc}`);
  rows.push("", `On the cloud broker every site topic is prefixed per site, e.g. \`${toCloudTopic("paris-centre", TOPICS.paymentReq.topic)}\`.`);
  return rows.join("\n");
}

const GENERATORS: Record<string, () => string> = { "link-catalogue": renderMessageCatalogue, "mqtt-topics": renderTopicTable };

/** Replace every `<!-- BEGIN GENERATED: name -->…<!-- END GENERATED: name -->` section. */
export function regenerate(markdown: string): string {
  return markdown.replace(/(<!-- BEGIN GENERATED: ([a-z-]+) -->\n)[\s\S]*?(<!-- END GENERATED: \2 -->)/g, (_m, begin: string, name: string, end: string) => {
    const generate = GENERATORS[name];
    if (!generate) throw new Error(`unknown generated section "${name}"`);
    return `${begin}${generate()}\n${end}`;
  });
}

export const GENERATED_DOCS = ["docs/protocol.md", "docs/mqtt-topics.md"];

/** Rewrite the docs in place; returns the files that changed. */
export function writeGeneratedDocs(root: string): string[] {
  const changed: string[] = [];
  for (const file of GENERATED_DOCS) {
    const path = `${root}/${file}`;
    const before = readFileSync(path, "utf8");
    const after = regenerate(before);
    if (after !== before) { writeFileSync(path, after); changed.push(file); }
  }
  return changed;
}
