/**
 * The durability scenario's late subscriber: once the stream is over (and the broker
 * restarted in its middle), it subscribes to every topic of the cell from the oldest
 * message the broker kept and counts what it gets back. A broker without history is
 * asked from "latest", as any subscriber of it would be, and gets what it gives.
 */
import { topicName } from "../../brokers/broker.js";
import { decodeBinary } from "../../core/envelope.js";
import { getBroker } from "../registry.js";
import { SequenceTracker } from "../../core/tracker.js";
import type { CellResult } from "../../results/schema.js";

/** What the late subscriber got back: the cell's `durability` (results/schema.ts). */
export type HistoryRead = NonNullable<CellResult["durability"]>;

export interface HistoryQuery {
  broker: string;
  url?: string;
  partitions: number;
  namespace: string;
  /** The last sequence published per stream: the history a complete read returns. */
  lastSeq: readonly number[];
  /** Per stream, ascending: sequences the broker never acknowledged. */
  unacknowledged: readonly number[][];
  /** The read ends this long after the last arrival (or after subscribing, when nothing comes). */
  quietMs?: number;
  timeoutMs?: number;
}

export async function readHistory(q: HistoryQuery): Promise<HistoryRead> {
  const broker = getBroker(q.broker);
  const from = broker.capabilities.replay ? "earliest" : "latest";
  const quietMs = q.quietMs ?? 2_000;
  const deadline = Date.now() + (q.timeoutMs ?? 60_000);
  const total = q.lastSeq.reduce((a, b) => a + b, 0);
  const seen = q.lastSeq.map(() => new SequenceTracker());
  let kept = 0;
  const startedAt = Date.now();
  let lastArrival = startedAt;
  const conn = await broker.connect({ ...(q.url ? { url: q.url } : {}), partitions: q.partitions });
  try {
    const subs = await Promise.all(
      q.lastSeq.map((_, stream) =>
        conn.subscribe(
          topicName(q.namespace, stream),
          (raw) => {
            const { seq } = decodeBinary(raw);
            if (seq >= 1 && seq <= q.lastSeq[stream]! && seen[stream]!.record(seq)) {
              kept++;
              lastArrival = Date.now();
            }
          },
          { from },
        ),
      ),
    );
    // The quiet time counts from the subscriptions' start at the earliest: joining (a Kafka group) can take longer than it.
    const subscribedAt = Date.now();
    while (kept < total && Date.now() < deadline && Date.now() - Math.max(lastArrival, subscribedAt) < quietMs) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await Promise.all(subs.map((s) => s.close()));
  } finally {
    await conn.close();
  }
  const unacked = q.unacknowledged.reduce((n, s) => n + s.length, 0);
  const keptUnacked = q.unacknowledged.reduce((n, seqs, stream) => n + seqs.length - (seen[stream]?.missing(seqs) ?? seqs.length), 0);
  const acknowledged = total - unacked;
  return {
    from,
    published: total,
    acknowledged,
    kept,
    keptAcknowledged: kept - keptUnacked,
    keptShare: acknowledged > 0 ? (kept - keptUnacked) / acknowledged : 0,
    readS: (lastArrival - startedAt) / 1000,
  };
}
