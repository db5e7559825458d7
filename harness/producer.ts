/**
 * Open-loop producer: publishes message i at schedule.intendedAt(i), round-robin over
 * streams, each stream with its own sequence from 1. Late messages go out late, never
 * skipped; their lateness is recorded as publish delay.
 */
import { topicName, type BrokerConnection } from "../brokers/broker.js";
import { nowNs } from "../core/clock.js";
import { encodeBinary } from "../core/envelope.js";
import { createHistogram, encodeHistogram } from "../core/histogram.js";
import { send, type ProducerPlan, type ProducerReport, type StartTimes, type Unacknowledged } from "./ipc.js";
import { PreciseTimer } from "../core/precise-timer.js";
import { OpenLoopSchedule } from "../core/schedule.js";

/** Most messages sent in one turn of the event loop, so a producer catching up still lets I/O run. */
const MAX_BATCH = 1000;
/** Longest turn a producer catching up takes (an in-process publish runs the relay's fan-out), so the coordinator's messages still get through. */
const MAX_TURN_NS = 5_000_000;

export interface ProducerOptions {
  /** The cell's topic namespace on the broker. */
  namespace: string;
  topics: number;
  size: number;
  /** Publish delay is recorded from this intended time on (the measured window), like latency. */
  measureFrom?: number;
}


export interface RunningProducer {
  done: Promise<ProducerReport>;
  /** Waits up to `timeoutMs` for publishes in flight to be answered, then says which never were acknowledged. */
  unacknowledged(timeoutMs: number): Promise<Unacknowledged>;
  stop(): void;
}

export function runProducer(conn: BrokerConnection, schedule: OpenLoopSchedule, options: ProducerOptions): RunningProducer {
  const publishDelay = createHistogram();
  const measureFrom = options.measureFrom ?? Number.NEGATIVE_INFINITY;
  const lastSeq = new Array<number>(options.topics).fill(0);
  const names = Array.from({ length: options.topics }, (_, i) => topicName(options.namespace, i));
  let next = 0;
  let firstSentAt = 0;
  let lastSentAt = 0;
  let publishErrors = 0;
  // The producer's own work (scheduling, encoding) in the measured window, apart from the
  // publish calls: with an in-process broker a publish runs the relay's fan-out, so this
  // tells a producer that could not keep up from a relay that held their shared loop.
  let ownNs = 0;
  // Per stream: sequences whose publish failed, and those still waiting for the broker.
  const refused = Array.from({ length: options.topics }, () => [] as number[]);
  const pending = Array.from({ length: options.topics }, () => new Set<number>());
  // Acknowledgements over time: the longest stretch with publishes waiting and none answered.
  let answered = false;
  let lastAckAt = 0;
  let ackStallNs = 0;
  const acknowledged = (): void => {
    const now = nowNs();
    // At the cells' rates a publish is in flight nearly always, so a gap between answers is a stall.
    if (answered && now >= measureFrom) ackStallNs = Math.max(ackStallNs, now - Math.max(lastAckAt, measureFrom));
    answered = true;
    lastAckAt = now;
  };
  const timer = new PreciseTimer();
  let stopped = false;
  let finish: (r: ProducerReport) => void = () => {};
  const done = new Promise<ProducerReport>((resolve) => (finish = resolve));

  const report = (): ProducerReport => ({
    published: next,
    lastSeq: [...lastSeq],
    firstSentAt,
    lastSentAt,
    lastIntendedAt: next > 0 ? schedule.intendedAt(next - 1) : schedule.startAt,
    publishErrors,
    publishDelayUs: encodeHistogram(publishDelay),
    ownBusyShare: lastSentAt > measureFrom ? ownNs / (lastSentAt - Math.max(measureFrom, firstSentAt)) : 0,
  });

  const tick = (): void => {
    if (stopped) return;
    const tickAt = nowNs();
    let publishingNs = 0;
    const due = Math.min(schedule.dueBy(tickAt), next + MAX_BATCH);
    while (next < due) {
      const stream = next % options.topics;
      // Whole nanoseconds: the unit every process reads, and what the text envelope carries.
      const intendedAt = Math.round(schedule.intendedAt(next));
      const seq = ++lastSeq[stream]!;
      const sentAt = Math.round(nowNs());
      const message = encodeBinary({ seq, stream, intendedAt, sentAt }, options.size);
      const publishAt = nowNs();
      const acked = conn.publish(names[stream]!, message, seq);
      const publishedAt = nowNs();
      publishingNs += publishedAt - publishAt;
      if (acked) {
        pending[stream]!.add(seq);
        acked.then(
          () => {
            pending[stream]!.delete(seq);
            acknowledged();
          },
          () => {
            pending[stream]!.delete(seq);
            refused[stream]!.push(seq);
            publishErrors++;
          },
        );
      }
      if (next === 0) firstSentAt = sentAt;
      lastSentAt = sentAt;
      // sentAt >= intendedAt: the schedule never sends early.
      if (intendedAt >= measureFrom) publishDelay.recordValue(Math.round((sentAt - intendedAt) / 1000));
      next++;
      if (publishedAt - tickAt > MAX_TURN_NS) break;
    }
    if (tickAt >= measureFrom) ownNs += nowNs() - tickAt - publishingNs;
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
    async unacknowledged(timeoutMs: number): Promise<Unacknowledged> {
      const deadline = Date.now() + timeoutMs;
      while (pending.some((p) => p.size > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      // Publishes after the last answer that failed or were never answered: the stall ran to the last of them (to now, for one still waiting).
      const openUntil = pending.some((p) => p.size > 0) ? nowNs() : lastSentAt;
      const stalledAtEnd = answered && openUntil > lastAckAt;
      if (stalledAtEnd) ackStallNs = Math.max(ackStallNs, openUntil - Math.max(lastAckAt, measureFrom));
      return {
        ackStallUs: answered ? Math.round(ackStallNs / 1000) : null,
        ...(answered ? { ackResumed: !stalledAtEnd } : {}),
        seqs: refused.map((r, stream) => [...r, ...pending[stream]!].sort((a, b) => a - b)),
        publishErrors,
      };
    },
    stop() {
      if (stopped) return;
      stopped = true;
      void timer.close();
      finish({ ...report(), ...(next < schedule.total ? { stoppedEarly: true } : {}) });
    },
  };
}

/** In a child process: runs a cell's producer from the coordinator's start times and reports "produced" when done. */
export function produceForCoordinator(conn: BrokerConnection, plan: ProducerPlan, times: StartTimes): RunningProducer {
  const schedule = new OpenLoopSchedule(times.startAt, plan.rate, plan.total);
  const producer = runProducer(conn, schedule, { namespace: plan.namespace, topics: plan.topics, size: plan.size, measureFrom: times.measureFrom });
  void producer.done.then((report) => send(process, { kind: "produced", report }));
  return producer;
}
