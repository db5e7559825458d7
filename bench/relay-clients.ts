/**
 * Client side of bench:relay: `relay-clients.js <transport> <baseUrl> <count> <source address>`
 * opens `count` connections with rtbench's own client of the transport and reports,
 * per message, how many connections got it and when the last one did.
 */
import { nowNs } from "../core/clock.js";
import { getTransport } from "../harness/registry.js";

const [name, baseUrl, count, localAddress] = [process.argv[2]!, process.argv[3]!, Number(process.argv[4]), process.argv[5]];
process.on("disconnect", () => process.exit(0));

const transport = getTransport(name);
await transport.load?.();
const got = new Map<number, { n: number; lastNs: number }>();
let open = 0;
let closed = 0;
for (let i = 0; i < count; i++) {
  transport.connect(
    { baseUrl, topic: 0, ...(localAddress ? { localAddress } : {}) },
    {
      onOpen: () => {
        if (++open === count) process.send!({ kind: "connected" });
      },
      onMessage: (_stream, seq) => {
        const t = nowNs();
        const e = got.get(seq);
        if (e) {
          e.n++;
          e.lastNs = t;
        } else got.set(seq, { n: 1, lastNs: t });
      },
      onClose: () => void closed++,
    },
  );
}
process.on("message", (m: { kind: string }) => {
  if (m.kind === "report") process.send!({ kind: "report", got: [...got.entries()], closed });
});
