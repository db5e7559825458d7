/**
 * Per-subscriber delivery accounting for one stream whose sequence starts at 1.
 *
 * The in-order path (seq === highest + 1) is one comparison. Gaps are kept as a short
 * list of missing ranges so that a late arrival can be told apart from a duplicate
 * without keeping a bit per message.
 */
export interface DeliveryCounts {
  expected: number;
  delivered: number;
  lost: number;
  duplicated: number;
  reordered: number;
}

export class SequenceTracker {
  /** Highest sequence seen so far. */
  highest = 0;
  /** Distinct sequences delivered. */
  delivered = 0;
  duplicated = 0;
  reordered = 0;
  /** Missing ranges below `highest`, as [from, to] inclusive, in ascending order. */
  private readonly gaps: Array<[number, number]> = [];

  /** Records one delivery; returns false when it was a duplicate. */
  record(seq: number): boolean {
    if (seq === this.highest + 1) {
      this.highest = seq;
      this.delivered++;
      return true;
    }
    if (seq > this.highest) {
      this.gaps.push([this.highest + 1, seq - 1]);
      this.highest = seq;
      this.delivered++;
      return true;
    }
    if (this.fillGap(seq)) {
      this.reordered++;
      this.delivered++;
      return true;
    }
    this.duplicated++;
    return false;
  }

  /** How many of `seqs` (ascending) were never delivered. */
  missing(seqs: readonly number[]): number {
    let n = 0;
    let g = 0;
    for (const seq of seqs) {
      if (seq > this.highest) {
        n++;
        continue;
      }
      while (g < this.gaps.length && this.gaps[g]![1] < seq) g++;
      const gap = this.gaps[g];
      if (gap && gap[0] <= seq) n++;
    }
    return n;
  }

  /** Whether every sequence 1..lastSeq has been delivered. */
  isComplete(lastSeq: number): boolean {
    return this.highest >= lastSeq && this.gaps.length === 0;
  }

  /** Counts against the sequences 1..lastSeq that were published. */
  counts(lastSeq: number): DeliveryCounts {
    // Deliveries above lastSeq cannot happen for a correct producer; count them
    // as delivered anyway so that nothing received is hidden.
    return {
      expected: lastSeq,
      delivered: this.delivered,
      lost: Math.max(0, lastSeq - this.delivered),
      duplicated: this.duplicated,
      reordered: this.reordered,
    };
  }

  private fillGap(seq: number): boolean {
    const gaps = this.gaps;
    for (let i = 0; i < gaps.length; i++) {
      const gap = gaps[i]!;
      if (seq < gap[0]) return false;
      if (seq > gap[1]) continue;
      if (gap[0] === gap[1]) gaps.splice(i, 1);
      else if (seq === gap[0]) gap[0]++;
      else if (seq === gap[1]) gap[1]--;
      else gaps.splice(i, 1, [gap[0], seq - 1], [seq + 1, gap[1]]);
      return true;
    }
    return false;
  }
}

export function addCounts(into: DeliveryCounts, add: DeliveryCounts): DeliveryCounts {
  into.expected += add.expected;
  into.delivered += add.delivered;
  into.lost += add.lost;
  into.duplicated += add.duplicated;
  into.reordered += add.reordered;
  return into;
}

export function zeroCounts(): DeliveryCounts {
  return { expected: 0, delivered: 0, lost: 0, duplicated: 0, reordered: 0 };
}
