/**
 * Every broker adapter against its real server, started by this file on private ports
 * in a temp dir (never the machine's own services), and held to the capabilities it
 * declares: publish and subscribe in order, replay from the earliest message where
 * declared (and a clear refusal where not), durability across a server restart where
 * declared, and a close that leaves no handle open.
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, test } from "node:test";
import type { Broker, BrokerConnection } from "../brokers/broker.js";
import type { Launched } from "../brokers/servers.js";
import { restartServer, startServer, stopServer } from "../harness/broker-servers.js";
import { decodeBinary, encodeBinary } from "../core/envelope.js";
import { brokers } from "../harness/registry.js";
import { clusters } from "../brokers/clusters.js";
import { listeningAddresses, tempDir, waitFor } from "./helpers.js";

const dir = tempDir("rtbench-brokers-test-");
const launched = new Map<string, Launched>();
const failures = new Map<string, string>();

// Cluster variants have their own test (clusters.test.ts): three nodes each are too many to start here.
const singles = [...brokers.values()].filter((b) => !b.server || !clusters.has(b.server));
// Started before the tests are declared, so each broker gets the tests its server allows.
const needed = new Set(singles.flatMap((b) => (b.server ? [b.server] : [])));
await Promise.all(
  [...needed].map(async (name) => {
    try {
      launched.set(name, await startServer(name, dir));
    } catch (err) {
      failures.set(name, (err as Error).message.split("\n")[0]!);
    }
  }),
);

after(async () => {
  await Promise.all([...launched.values()].map((l) => stopServer(l)));
  rmSync(dir, { recursive: true, force: true });
});

test("every server rtbench starts listens on loopback only (no anonymous broker reachable from the network)", () => {
  assert.ok(launched.size > 0, "no server started here");
  for (const [name, l] of launched) {
    const addresses = listeningAddresses(l.pid);
    assert.ok(addresses.length > 0, `${name}: no listening socket found for pid ${l.pid}`);
    for (const a of addresses) assert.match(a, /^((::ffff:)?127\.\d+\.\d+\.\d+|::1):\d+$/, `${name} listens on ${a}`);
  }
});

function urlOf(b: Broker): string | undefined {
  if (!b.server) return undefined;
  const l = launched.get(b.server);
  if (!l) throw new Error(`${b.server} did not start: ${failures.get(b.server)}`);
  return l.url;
}

let topicCount = 0;
const freshTopic = (b: Broker): string => `rtbench.test-${b.name}-${process.pid}-${++topicCount}`;

function envelope(seq: number): Buffer {
  return encodeBinary({ seq, stream: 0, intendedAt: 1, sentAt: 1 }, 64);
}

async function publishAll(conn: BrokerConnection, topic: string, from: number, to: number): Promise<void> {
  const pending: Array<Promise<void>> = [];
  for (let seq = from; seq <= to; seq++) {
    const p = conn.publish(topic, envelope(seq));
    if (p) pending.push(p);
  }
  await Promise.all(pending);
}

function collect(): { seqs: number[]; onMessage: (m: Buffer) => void } {
  const seqs: number[] = [];
  return { seqs, onMessage: (m) => seqs.push(decodeBinary(m).seq) };
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** Handles and requests of this process, counted by kind. */
function openResources(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of process.getActiveResourcesInfo()) counts.set(r, (counts.get(r) ?? 0) + 1);
  return counts;
}

/** Kinds with more open now than in `before`: what a connection left behind. */
function leftOpen(before: Map<string, number>): string[] {
  return [...openResources()].filter(([kind, n]) => n > (before.get(kind) ?? 0)).map(([kind, n]) => `${kind} ×${n - (before.get(kind) ?? 0)}`);
}

for (const b of singles) {
  test(`${b.name}: every message published after subscribe arrives, in order`, async () => {
    const conn = await b.connect({ url: urlOf(b) });
    try {
      const topic = freshTopic(b);
      const got = collect();
      await conn.subscribe(topic, got.onMessage);
      await publishAll(conn, topic, 1, 300);
      await waitFor(() => got.seqs.length >= 300, 15_000, `300 messages on ${b.name}`);
      assert.deepEqual(got.seqs, range(1, 300));
    } finally {
      await conn.close();
    }
  });

  test(`${b.name}: replay from the earliest message is ${b.capabilities.replay ? "served" : "refused"}, as declared`, async () => {
    const conn = await b.connect({ url: urlOf(b) });
    try {
      const topic = freshTopic(b);
      if (!b.capabilities.replay) {
        await assert.rejects(conn.subscribe(topic, () => {}, { from: "earliest" }), /keeps no history|cannot start from the earliest/);
        return;
      }
      await publishAll(conn, topic, 1, 50);
      const got = collect();
      await conn.subscribe(topic, got.onMessage, { from: "earliest" });
      await waitFor(() => got.seqs.length >= 50, 15_000, `50 kept messages on ${b.name}`);
      assert.deepEqual(got.seqs, range(1, 50), "the late subscriber gets the history, in order");
    } finally {
      await conn.close();
    }
  });

  test(`${b.name}: closing leaves no handle open`, async () => {
    const before = openResources();
    const conn = await b.connect({ url: urlOf(b) });
    const topic = freshTopic(b);
    await conn.subscribe(topic, () => {});
    await publishAll(conn, topic, 1, 5);
    await conn.close();
    // Sockets finish closing on the next turns of the event loop.
    await waitFor(() => leftOpen(before).length === 0, 5_000, `${b.name}'s handles to close`).catch(() => {});
    assert.deepEqual(leftOpen(before), []);
  });

  if (b.capabilities.durable) {
    test(`${b.name}: what was published survives a restart of the server, as declared`, async () => {
      const conn = await b.connect({ url: urlOf(b) });
      const topic = freshTopic(b);
      await publishAll(conn, topic, 1, 20);
      await conn.close();
      const restarted = await restartServer(launched.get(b.server!)!);
      launched.set(b.server!, restarted);
      const again = await b.connect({ url: restarted.url });
      try {
        const got = collect();
        // A queue's waiting jobs go to the next worker that comes; other brokers replay their history.
        await again.subscribe(topic, got.onMessage, b.capabilities.delivery === "queue" ? {} : { from: "earliest" });
        await waitFor(() => got.seqs.length >= 20, 30_000, `20 messages after ${b.server} restarted`);
        assert.deepEqual(got.seqs, range(1, 20));
      } finally {
        await again.close();
      }
    });
  }
}
