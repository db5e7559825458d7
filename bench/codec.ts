/**
 * bench:codec: each transport's encode (server) and decode (client) cost per message,
 * in ns, with tinybench. The baseline, run in the same process, is a plain copy of the
 * envelope buffer: the least any transport can do per message. Ratios are to it.
 */
import { Bench } from "tinybench";
import { encodeBinary, type EnvelopeHeader } from "../core/envelope.js";
import { transports } from "../harness/registry.js";

const SIZE = Number(process.env.BENCH_SIZE ?? 256);
const TIME_MS = Number(process.env.BENCH_TIME_MS ?? 300);

const header: EnvelopeHeader = { seq: 123_456, stream: 0, intendedAt: 4_411_375_093_375, sentAt: 4_411_375_394_946 };
const raw = encodeBinary(header, SIZE);
let sink = 0;
const onMessage = (_stream: number, seq: number): void => {
  sink += seq;
};

const bench = new Bench({ time: TIME_MS });
bench.add("baseline: copy the envelope", () => {
  sink += Buffer.from(raw).length;
});
for (const t of transports.values()) {
  const frame = t.codec.encode(header, raw);
  let seen = sink;
  t.codec.decode(frame, onMessage);
  if (sink === seen) throw new Error(`${t.name}: its codec's decode did not deliver the message it encoded`);
  seen = sink;
  bench.add(`${t.name} encode`, () => {
    sink += t.codec.encode(header, raw).length;
  });
  bench.add(`${t.name} decode`, () => t.codec.decode(frame, onMessage));
}
await bench.run();

const ns = (name: string): number => (bench.getTask(name)?.result as { latency?: { mean: number } } | undefined)?.latency?.mean ?? Number.NaN;
const base = ns("baseline: copy the envelope") * 1e6;
const rows = [["transport", "encode ns", "× copy", "decode ns", "× copy", "frame bytes"]];
for (const t of transports.values()) {
  const enc = ns(`${t.name} encode`) * 1e6;
  const dec = ns(`${t.name} decode`) * 1e6;
  const bytes = Buffer.byteLength(t.codec.encode(header, raw));
  rows.push([t.name, enc.toFixed(0), (enc / base).toFixed(1), dec.toFixed(0), (dec / base).toFixed(1), String(bytes)]);
}
const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
process.stdout.write(`bench:codec, ${SIZE}-byte messages; baseline (a copy of the envelope): ${base.toFixed(0)} ns\n\n`);
for (const r of rows) process.stdout.write(`${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ")}\n`);
if (sink === 0) process.stdout.write("\n");
