/**
 * Subscribers and replay frames per stream, shared by every transport's server side.
 * The transport encodes a frame once and hands it here; the per-connection work is
 * only the write. A client resuming from further ahead than the relay has got waits
 * for the stream to reach its cursor (CursorWaiters).
 */
import { CursorWaiters, ReplayBuffer } from "../core/replay.js";

export class StreamFanout<C, F> {
  private readonly subscribers: Array<Set<C>>;
  private readonly replays: Array<ReplayBuffer<F>>;
  private readonly waiting: Array<CursorWaiters<C>>;
  replayed = 0;

  constructor(topics: number, replayCapacity: number) {
    this.subscribers = Array.from({ length: topics }, () => new Set<C>());
    this.waiting = Array.from({ length: topics }, () => new CursorWaiters<C>());
    this.replays = Array.from({ length: topics }, () => new ReplayBuffer<F>(replayCapacity));
  }

  /** Adds a subscriber and returns the frames it missed since fromSeq (if resuming). */
  subscribe(topic: number, conn: C, fromSeq: number | null): F[] {
    if (fromSeq !== null && this.waiting[topic]!.holdIfAhead(this.replays[topic]!, conn, fromSeq)) return [];
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
    for (const conn of this.waiting[topic]!.release(seq)) subscribers.add(conn);
    return subscribers;
  }

  all(): IterableIterator<C> {
    return (function* (subscribers, waiting) {
      for (const set of subscribers) yield* set;
      for (const held of waiting) yield* held.keys();
    })(this.subscribers, this.waiting);
  }

  count(): number {
    let n = 0;
    for (const set of this.subscribers) n += set.size;
    for (const held of this.waiting) n += held.size;
    return n;
  }
}
