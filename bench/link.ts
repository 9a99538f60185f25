/**
 * `npm run bench -- link`: serial-link codec throughput. Encodes and decodes a realistic mix of
 * frames, against JSON.stringify/JSON.parse of the same messages measured in the same run (the
 * anchor: what a naive JSON-lines link would cost), and checks the 115200-baud line budget.
 */
import { decodeFrame, encodeFrame, type Frame } from "../firmware/common/link/frame";

const frames: Frame[] = [
  { seq: 12, type: "PAY_REQ", fields: { session: "S-2026-0001", amount: "350", currency: "EUR", url: "https://pay.example/p/S-2026-0001?t=Zk3", label: "2h05" } },
  { seq: 0, type: "HB", fields: {} },
  { seq: 0, type: "ACK", fields: { ack: "12" } },
  { seq: 13, type: "STATE", fields: { state: "awaiting_payment", session: "S-2026-0001", why: "pay_req" } },
  { seq: 14, type: "PRESENCE", fields: { present: "1" } },
];

function measure(label: string, fn: () => void, seconds = 1.5): number {
  const end = performance.now() + seconds * 1000;
  let ops = 0;
  const start = performance.now();
  while (performance.now() < end) { for (let i = 0; i < 1000; i++) fn(); ops += 1000; }
  const rate = ops / ((performance.now() - start) / 1000);
  console.log(`${label.padEnd(32)} ${Math.round(rate).toLocaleString("en")} frames/s`);
  return rate;
}

export async function run(): Promise<void> {
  let i = 0;
  const lines = frames.map((f) => encodeFrame(f));
  const jsons = frames.map((f) => JSON.stringify(f));
  const encode = measure("codec encode", () => { encodeFrame(frames[i++ % frames.length]); });
  const decode = measure("codec decode (CRC + parse)", () => { decodeFrame(lines[i++ % lines.length]); });
  const jsonEncode = measure("anchor: JSON.stringify", () => { JSON.stringify(frames[i++ % frames.length]); });
  const jsonDecode = measure("anchor: JSON.parse", () => { JSON.parse(jsons[i++ % jsons.length]); });
  const avgBytes = lines.reduce((n, l) => n + l.length + 1, 0) / lines.length;
  const lineRate = 115200 / 10 / avgBytes;
  console.log(`average frame ${avgBytes.toFixed(1)} bytes → a 115200 8N1 line carries ${Math.round(lineRate)} frames/s; decode headroom ×${Math.round(decode / lineRate)}`);
  console.log(JSON.stringify({
    encode_frames_per_s: Math.round(encode), decode_frames_per_s: Math.round(decode),
    json_encode_per_s: Math.round(jsonEncode), json_decode_per_s: Math.round(jsonDecode),
    ratio_encode_vs_json: +(encode / jsonEncode).toFixed(3), ratio_decode_vs_json: +(decode / jsonDecode).toFixed(3),
    avg_frame_bytes: +avgBytes.toFixed(1), line_frames_per_s_115200: Math.round(lineRate),
  }));
}
