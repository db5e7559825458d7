/**
 * Subscribers and replay frames per stream, shared by every transport's server side.
 * The transport encodes a frame once and hands it here; the per-connection work is
 * only the write.
 *
 * A client can resume from further ahead than the relay has got: a relay restarted
 * after a crash refills its buffer from the broker's history while clients are
 * already back. Such a client waits, and is attached when the stream reaches its
 * cursor, so it is sent neither what it has nor a frame out of order.
 */
import { ReplayBuffer } from "../harness/replay.js";

export class StreamFanout<C, F> {
  private readonly subscribers: Array<Set<C>>;
  private readonly replays: Array<ReplayBuffer<F>>;
  /** Per stream: clients ahead of the relay, with the seq each waits for. */
  private readonly waiting: Array<Map<C, number>>;
  replayed = 0;

  constructor(topics: number, replayCapacity: number) {
    this.subscribers = Array.from({ length: topics }, () => new Set<C>());
    this.waiting = Array.from({ length: topics }, () => new Map<C, number>());
    this.replays = Array.from({ length: topics }, () => new ReplayBuffer<F>(replayCapacity));
  }

  /** Adds a subscriber and returns the frames it missed since fromSeq (if resuming). */
  subscribe(topic: number, conn: C, fromSeq: number | null): F[] {
    if (fromSeq !== null && this.replays[topic]!.newest < fromSeq - 1) {
      this.waiting[topic]!.set(conn, fromSeq);
      return [];
    }
    this.subscribers[topic]!.add(conn);
    if (fromSeq === null) return [];
    const missed = this.replays[topic]!.since(fromSeq);
    this.replayed += missed.length;
    return missed;
  }

  /** The frames kept for a stream with seq >= fromSeq, without subscribing (polling). */
  since(topic: number, fromSeq: number): F[] {
    return this.replays[topic]!.since(fromSeq);
  }

  unsubscribe(topic: number, conn: C): void {
    this.subscribers[topic]?.delete(conn);
    this.waiting[topic]?.delete(conn);
  }

  /** Stores the frame for replay and returns the stream's current subscribers. */
  publish(topic: number, seq: number, frame: F): Set<C> {
    this.replays[topic]!.push(seq, frame);
    const subscribers = this.subscribers[topic]!;
    const waiting = this.waiting[topic]!;
    if (waiting.size > 0) {
      for (const [conn, fromSeq] of waiting) {
        if (seq < fromSeq) continue;
        waiting.delete(conn);
        subscribers.add(conn);
      }
    }
    return subscribers;
  }

  all(): IterableIterator<C> {
    return (function* (subscribers, waiting) {
      for (const set of subscribers) yield* set;
      for (const map of waiting) yield* map.keys();
    })(this.subscribers, this.waiting);
  }

  count(): number {
    let n = 0;
    for (const set of this.subscribers) n += set.size;
    for (const map of this.waiting) n += map.size;
    return n;
  }
}
