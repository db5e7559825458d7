/**
 * Open-loop producer: publishes message i at schedule.intendedAt(i), round-robin over
 * streams, each stream with its own sequence from 1. Late messages go out late, never
 * skipped; their lateness is recorded as publish delay.
 */
import { topicName, type BrokerConnection } from "../brokers/broker.js";
import { nowNs } from "./clock.js";
import { encodeBinary } from "./envelope.js";
import { createHistogram, encodeHistogram } from "./histogram.js";
import type { ProducerReport } from "./ipc.js";
import { PreciseTimer } from "./precise-timer.js";
import type { OpenLoopSchedule } from "./schedule.js";

/** Most messages sent in one turn of the event loop, so a producer catching up still lets I/O run. */
const MAX_BATCH = 1000;

export interface ProducerOptions {
  topics: number;
  size: number;
  /** Publish delay is recorded from this intended time on (the measured window), like latency. */
  measureFrom?: number;
}

export function runProducer(
  conn: BrokerConnection,
  schedule: OpenLoopSchedule,
  options: ProducerOptions,
): { done: Promise<ProducerReport>; stop(): void } {
  const publishDelay = createHistogram();
  const measureFrom = options.measureFrom ?? Number.NEGATIVE_INFINITY;
  const lastSeq = new Array<number>(options.topics).fill(0);
  const names = Array.from({ length: options.topics }, (_, i) => topicName(i));
  let next = 0;
  let firstSentAt = 0;
  let lastSentAt = 0;
  let publishErrors = 0;
  const timer = new PreciseTimer();
  let stopped = false;
  let finish: (r: ProducerReport) => void = () => {};
  const done = new Promise<ProducerReport>((resolve) => (finish = resolve));

  const onPublishError = (): void => {
    publishErrors++;
  };

  const report = (): ProducerReport => ({
    published: next,
    lastSeq: [...lastSeq],
    firstSentAt,
    lastSentAt,
    lastIntendedAt: next > 0 ? schedule.intendedAt(next - 1) : schedule.startAt,
    publishErrors,
    publishDelayUs: encodeHistogram(publishDelay),
  });

  const tick = (): void => {
    if (stopped) return;
    const due = Math.min(schedule.dueBy(nowNs()), next + MAX_BATCH);
    while (next < due) {
      const stream = next % options.topics;
      // Whole nanoseconds: the unit every process reads, and what the text envelope carries.
      const intendedAt = Math.round(schedule.intendedAt(next));
      const seq = ++lastSeq[stream]!;
      const sentAt = Math.round(nowNs());
      const pending = conn.publish(names[stream]!, encodeBinary({ seq, stream, intendedAt, sentAt }, options.size));
      if (pending) pending.catch(onPublishError);
      if (next === 0) firstSentAt = sentAt;
      lastSentAt = sentAt;
      // sentAt >= intendedAt: the schedule never sends early.
      if (intendedAt >= measureFrom) publishDelay.recordValue(Math.round((sentAt - intendedAt) / 1000));
      next++;
    }
    if (next >= schedule.total) {
      stopped = true;
      void timer.close();
      finish(report());
      return;
    }
    const nextAt = schedule.intendedAt(next);
    if (nextAt <= nowNs()) setImmediate(tick);
    else timer.at(nextAt, tick);
  };

  timer.at(schedule.startAt, tick);
  return {
    done,
    stop() {
      if (stopped) return;
      stopped = true;
      void timer.close();
      finish(report());
    },
  };
}
