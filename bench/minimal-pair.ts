/**
 * The baseline for bench:harness: the smallest honest ws broadcast pair one would
 * write by hand. Run as `minimal-pair.js server` or `minimal-pair.js client`; driven
 * over IPC by bench/harness.ts.
 */
import { WebSocket, WebSocketServer } from "ws";
import { nowNs } from "../core/clock.js";
import { createHistogram, encodeHistogram } from "../core/histogram.js";

type Command =
  | { kind: "listen" }
  | { kind: "broadcast"; rate: number; seconds: number; size: number }
  | { kind: "connect"; url: string; clients: number }
  | { kind: "report" };

const role = process.argv[2];
process.on("disconnect", () => process.exit(0));

if (role === "server") {
  const wss = new WebSocketServer({ port: 0, host: "127.0.0.1", perMessageDeflate: false });
  process.on("message", (m: Command) => {
    if (m.kind === "listen") {
      wss.once("listening", () => {});
      const port = (wss.address() as { port: number }).port;
      process.send!({ kind: "listening", port });
    } else if (m.kind === "broadcast") {
      // Open loop at 1 ms ticks: send everything due, stamped with its intended time.
      const start = nowNs();
      const interval = 1e9 / m.rate;
      const total = Math.round(m.rate * m.seconds);
      let sent = 0;
      const tick = (): void => {
        const due = Math.min(total, Math.floor((nowNs() - start) / interval) + 1);
        for (; sent < due; sent++) {
          const buf = Buffer.alloc(m.size);
          buf.writeDoubleLE(start + sent * interval, 0);
          for (const client of wss.clients) client.send(buf, { binary: true });
        }
        if (sent < total) setTimeout(tick, 1);
        else process.send!({ kind: "broadcast-done", sent });
      };
      tick();
    }
  });
  wss.on("listening", () => process.send!({ kind: "ready" }));
} else if (role === "client") {
  const latency = createHistogram();
  let received = 0;
  let cpuAtStart = process.cpuUsage();
  process.on("message", (m: Command) => {
    if (m.kind === "connect") {
      let open = 0;
      for (let i = 0; i < m.clients; i++) {
        const ws = new WebSocket(m.url, { perMessageDeflate: false });
        ws.on("open", () => {
          if (++open === m.clients) {
            cpuAtStart = process.cpuUsage();
            process.send!({ kind: "connected" });
          }
        });
        ws.on("message", (data: Buffer) => {
          latency.recordValue(Math.round((nowNs() - data.readDoubleLE(0)) / 1000));
          received++;
        });
      }
    } else if (m.kind === "report") {
      const cpu = process.cpuUsage(cpuAtStart);
      process.send!({ kind: "report", received, cpuUs: cpu.user + cpu.system, latencyUs: encodeHistogram(latency) });
      latency.reset();
      received = 0;
      cpuAtStart = process.cpuUsage();
    }
  });
  process.send!({ kind: "ready" });
}
