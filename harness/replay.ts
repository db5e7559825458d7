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
