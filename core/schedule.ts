/**
 * Open-loop schedule: message i is meant to leave at startAt + i / rate, whatever
 * happened to message i-1. A producer that falls behind sends late (and the lateness
 * is counted in every latency, since latency runs from intendedAt) but never skips.
 */
export class OpenLoopSchedule {
  readonly intervalNs: number;

  constructor(
    readonly startAt: number,
    readonly ratePerSec: number,
    readonly total: number,
  ) {
    if (!(ratePerSec > 0)) throw new RangeError(`rate must be > 0, got ${ratePerSec}`);
    this.intervalNs = 1e9 / ratePerSec;
  }

  /** Intended send time of message index i (0-based), in monotonic ns. */
  intendedAt(i: number): number {
    return this.startAt + i * this.intervalNs;
  }

  /** How many messages are due at time `now` (all with intendedAt <= now). */
  dueBy(now: number): number {
    if (now < this.startAt) return 0;
    return Math.min(this.total, Math.floor((now - this.startAt) / this.intervalNs) + 1);
  }

  /** Total messages for a run of `seconds` at `ratePerSec`. */
  static countFor(ratePerSec: number, seconds: number): number {
    return Math.max(1, Math.round(ratePerSec * seconds));
  }
}
