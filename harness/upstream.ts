/**
 * The chat scenario's senders, in a fleet process: its clients' share of one open-loop
 * upstream schedule (harness/ipc.ts ChatPlan), each message sent through its client's
 * connection at its intended time, late ones late and never skipped; their lateness is
 * recorded as publish delay, as the producer's is.
 */
import { nowNs } from "../core/clock.js";
import { createHistogram, encodeHistogram } from "../core/histogram.js";
import { PreciseTimer } from "../core/precise-timer.js";
import { OpenLoopSchedule } from "../core/schedule.js";
import type { ClientConnection } from "../transports/transport.js";
import type { ChatPlan, StartTimes, UpstreamSent } from "./ipc.js";

/** Longest turn of sends before I/O gets a go. */
const MAX_TURN_NS = 5_000_000;

export interface Sender {
  /** The client's connection while it is open, else undefined. */
  connection(): ClientConnection | undefined;
}

export class UpstreamSender {
  readonly ackLatency = createHistogram();
  acks = 0;
  sendErrors = 0;
  firstSendError: string | undefined;
  private readonly publishDelay = createHistogram();
  /** Local index of each global client, -1 for another process's. */
  private readonly local: Int32Array;
  private readonly lastSeq: number[];
  private readonly timer = new PreciseTimer();
  private next = 0;
  private notSent = 0;
  private published = 0;
  private firstSentAt = 0;
  private lastSentAt = 0;
  private ownNs = 0;
  private stopped = false;

  constructor(
    private readonly plan: ChatPlan,
    private readonly senders: readonly Sender[],
  ) {
    this.local = new Int32Array(plan.clients).fill(-1);
    plan.ids.forEach((id, i) => (this.local[id] = i));
    this.lastSeq = new Array<number>(plan.ids.length).fill(0);
  }

  /** Runs the schedule from `times.startAt`; resolves with what was sent once every message is due and handed over. */
  run(times: StartTimes): Promise<UpstreamSent> {
    const schedule = new OpenLoopSchedule(times.startAt, this.plan.rate, this.plan.total);
    const { clients, size } = this.plan;
    return new Promise((resolve) => {
      const tick = (): void => {
        if (this.stopped) return;
        const tickAt = nowNs();
        const due = schedule.dueBy(tickAt);
        while (this.next < due) {
          const j = this.next++;
          const i = this.local[j % clients]!;
          if (i < 0) continue;
          const seq = Math.floor(j / clients) + 1;
          this.lastSeq[i] = seq;
          const intendedAt = Math.round(schedule.intendedAt(j));
          const conn = this.senders[i]!.connection();
          if (!conn?.send) {
            this.notSent++;
            continue;
          }
          const sentAt = Math.round(nowNs());
          const header = { stream: this.plan.ids[i]!, seq, intendedAt, sentAt };
          const measured = intendedAt >= times.measureFrom;
          conn.send(header, size, (error) => this.answered(error, measured ? intendedAt : -1));
          if (this.published === 0) this.firstSentAt = sentAt;
          this.lastSentAt = sentAt;
          this.published++;
          if (measured) this.publishDelay.recordValue(Math.round((sentAt - intendedAt) / 1000));
          if (nowNs() - tickAt > MAX_TURN_NS) break;
        }
        if (tickAt >= times.measureFrom) this.ownNs += nowNs() - tickAt;
        if (this.next >= schedule.total) {
          this.stopped = true;
          void this.timer.close();
          const window = this.lastSentAt - Math.max(times.measureFrom, this.firstSentAt);
          resolve({
            senders: [...this.plan.ids],
            lastSeq: [...this.lastSeq],
            published: this.published,
            notSent: this.notSent,
            publishDelayUs: encodeHistogram(this.publishDelay),
            firstSentAt: this.firstSentAt,
            lastSentAt: this.lastSentAt,
            lastIntendedAt: schedule.total > 0 ? schedule.intendedAt(schedule.total - 1) : schedule.startAt,
            ownBusyShare: window > 0 ? this.ownNs / window : 0,
          });
          return;
        }
        const nextAt = schedule.intendedAt(this.next);
        if (nextAt <= nowNs()) setImmediate(tick);
        else this.timer.at(nextAt, tick);
      };
      this.timer.at(schedule.startAt, tick);
    });
  }

  /** A transport's answer to a send: its round trip from the intended time, or the error. */
  private answered(error: string | undefined, intendedAt: number): void {
    if (error !== undefined) {
      this.sendErrors++;
      this.firstSendError ??= error;
      return;
    }
    this.acks++;
    if (intendedAt < 0) return;
    const us = Math.round((nowNs() - intendedAt) / 1000);
    if (us >= 0) this.ackLatency.recordValue(us);
  }

  stop(): void {
    this.stopped = true;
    void this.timer.close();
  }
}
