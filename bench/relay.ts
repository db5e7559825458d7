/**
 * bench:relay — is an rtbench relay as lean as an ordinary hand-written server of its
 * protocol? The relays are the systems under test, so one slower than a plain server
 * would make its protocol look worse than it is.
 *
 * Per transport with a minimal server (bench/relay-server.ts: ws `wss.clients.forEach
 * (send)`, SSE `res.write` on each response, long polling answering each held request)
 * and per connection count, both servers get the same clients (rtbench's own, in
 * processes of at most 5,000 connections on source addresses 127.0.0.x) and broadcast
 * the same messages one at a time. Printed: the server's CPU per delivery and the
 * fan-out time of one message (its send → the last connection has it), and the ratios
 * rtbench / minimal (aim ≤ 1.2).
 *
 * Env: BENCH_CONNECTIONS (1000,10000), BENCH_TRANSPORTS (ws,ws-preframed,sse,longpoll), BENCH_MESSAGES (20).
 */
import { fork, type ChildProcess } from "node:child_process";
import { next, runBench } from "./ipc.js";

const CONNECTIONS = (process.env.BENCH_CONNECTIONS ?? "1000,10000").split(",").map(Number);
const TRANSPORTS = (process.env.BENCH_TRANSPORTS ?? "ws,ws-preframed,sse,longpoll").split(",");
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 20);
/** Far apart enough that one fan-out ends before the next begins, even to 10,000. */
const INTERVAL_MS = 250;
const SIZE = 256;
const PER_PROCESS = 5000;

interface Figures {
  cpuUsPerDelivery: number;
  fanoutMsMedian: number;
  fanoutMsMax: number;
  delivered: number;
  expected: number;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function measure(impl: "rtbench" | "minimal", transport: string, connections: number): Promise<Figures> {
  const what = `${impl} ${transport} × ${connections}`;
  const server = fork(new URL("./relay-server.js", import.meta.url), [impl, transport], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const clients: ChildProcess[] = [];
  try {
    const { port } = await next<{ port: number }>(server, "ready", 30_000, what);
    for (let i = 0, left = connections; left > 0; i++, left -= PER_PROCESS) {
      const n = Math.min(PER_PROCESS, left);
      clients.push(fork(new URL("./relay-clients.js", import.meta.url), [transport, `http://127.0.0.1:${port}`, String(n), `127.0.0.${2 + i}`], { stdio: ["ignore", "inherit", "inherit", "ipc"] }));
    }
    await Promise.all(clients.map((c) => next(c, "connected", 120_000, `${what} clients`)));
    server.send({ kind: "broadcast", messages: MESSAGES, intervalMs: INTERVAL_MS, size: SIZE });
    const done = await next<{ sentAt: number[]; cpuUs: number }>(server, "broadcast-done", 120_000, what);
    const reports = await Promise.all(
      clients.map((c) => {
        const r = next<{ got: Array<[number, { n: number; lastNs: number }]> }>(c, "report", 30_000, `${what} clients`);
        c.send({ kind: "report" });
        return r;
      }),
    );
    const last = new Map<number, number>();
    let delivered = 0;
    for (const r of reports) {
      for (const [seq, { n, lastNs }] of r.got) {
        delivered += n;
        last.set(seq, Math.max(last.get(seq) ?? 0, lastNs));
      }
    }
    const fanouts = done.sentAt.map((t, i) => ((last.get(i + 1) ?? Number.NaN) - t) / 1e6).filter(Number.isFinite);
    return {
      cpuUsPerDelivery: delivered > 0 ? done.cpuUs / delivered : Number.NaN,
      fanoutMsMedian: fanouts.length ? median(fanouts) : Number.NaN,
      fanoutMsMax: fanouts.length ? Math.max(...fanouts) : Number.NaN,
      delivered,
      expected: MESSAGES * connections,
    };
  } finally {
    for (const c of clients) c.kill();
    server.kill();
    await new Promise((r) => setTimeout(r, 1000));
  }
}

async function main(): Promise<void> {
  process.stdout.write(`bench:relay — ${MESSAGES} messages of ${SIZE} B, one every ${INTERVAL_MS} ms, to ${CONNECTIONS.join(" and ")} connections\n\n`);
  const lines = [
    "| transport | connections | minimal µs/delivery | rtbench µs/delivery | ratio (aim ≤ 1.2) | minimal fan-out median / max | rtbench fan-out median / max | ratio of medians |",
    "|---|---|---|---|---|---|---|---|",
  ];
  for (const transport of TRANSPORTS) {
    for (const n of CONNECTIONS) {
      const minimal = await measure("minimal", transport, n);
      const ours = await measure("rtbench", transport, n);
      const incomplete = [minimal, ours].some((f) => f.delivered < f.expected) ? ` (delivered ${minimal.delivered}/${minimal.expected} and ${ours.delivered}/${ours.expected})` : "";
      const ms = (f: Figures): string => `${f.fanoutMsMedian.toFixed(1)} / ${f.fanoutMsMax.toFixed(1)} ms`;
      lines.push(
        `| ${transport} | ${n.toLocaleString("en")} | ${minimal.cpuUsPerDelivery.toFixed(2)} | ${ours.cpuUsPerDelivery.toFixed(2)} | ${(ours.cpuUsPerDelivery / minimal.cpuUsPerDelivery).toFixed(2)}${incomplete} | ${ms(minimal)} | ${ms(ours)} | ${(ours.fanoutMsMedian / minimal.fanoutMsMedian).toFixed(2)} |`,
      );
      process.stderr.write(`bench:relay: ${transport} × ${n} done\n`);
    }
  }
  process.stdout.write(`${lines.join("\n")}\n`);
}

runBench("bench:relay", main);
