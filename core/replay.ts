/**
 * Bounded replay buffer of encoded frames for one stream, so a reconnecting client
 * can resume (SSE Last-Event-ID, WebSocket ?from=). Holds the newest `capacity`
 * frames; older ones are gone and a client asking for them sees a gap.
 */
export class ReplayBuffer<F> {
  private readonly frames: Array<F | undefined>;
  private readonly seqs: Float64Array;
  private next = 0;
  private size = 0;
  /** Sequence of the newest frame pushed; 0 before the first. */
  newest = 0;

  constructor(readonly capacity: number) {
    if (!(capacity >= 1)) throw new RangeError(`replay capacity must be >= 1, got ${capacity}`);
    this.frames = new Array<F | undefined>(capacity);
    this.seqs = new Float64Array(capacity);
  }

  push(seq: number, frame: F): void {
    this.frames[this.next] = frame;
    this.seqs[this.next] = seq;
    this.newest = seq;
    this.next = (this.next + 1) % this.capacity;
    if (this.size < this.capacity) this.size++;
  }

  /** Frames with sequence >= fromSeq, oldest first. */
  since(fromSeq: number): F[] {
    const out: F[] = [];
    const first = (this.next - this.size + this.capacity) % this.capacity;
    for (let k = 0; k < this.size; k++) {
      const i = (first + k) % this.capacity;
      if (this.seqs[i]! >= fromSeq) out.push(this.frames[i]!);
    }
    return out;
  }

  get length(): number {
    return this.size;
  }
}

const NONE: readonly never[] = [];

/**
 * Clients of one stream resuming from further ahead than the relay has got: a relay
 * restarted after a crash refills its buffer from the broker's history while clients
 * are already back. Each waits until the stream reaches its cursor, so it is sent
 * neither what it has nor a frame out of order.
 */
export class CursorWaiters<C> {
  private readonly waiting = new Map<C, number>();

  /** Holds the client when the buffer has not reached `fromSeq - 1` yet; returns whether it did. */
  holdIfAhead(buffer: ReplayBuffer<unknown>, conn: C, fromSeq: number): boolean {
    if (buffer.newest >= fromSeq - 1) return false;
    this.waiting.set(conn, fromSeq);
    return true;
  }

  /** After frame `seq` is pushed: the clients it reaches, no longer held (no allocation when none wait). */
  release(seq: number): readonly C[] {
    if (this.waiting.size === 0) return NONE;
    const released: C[] = [];
    for (const [conn, fromSeq] of this.waiting) {
      if (seq < fromSeq) continue;
      this.waiting.delete(conn);
      released.push(conn);
    }
    return released;
  }

  delete(conn: C): void {
    this.waiting.delete(conn);
  }

  get size(): number {
    return this.waiting.size;
  }

  keys(): IterableIterator<C> {
    return this.waiting.keys();
  }
}
