/**
 * A client fleet process: opens its share of connections, records every delivery
 * (latency from intendedAt into HDR, sequence accounting per subscriber) and reports
 * histograms and counts when the coordinator says the producer is done.
 */
import { brokerErrorsReport } from "../brokers/errors.js";
import { nowNs, NS_PER_S } from "../core/clock.js";
import { createHistogram, encodeHistogram, type Histogram } from "../core/histogram.js";
import { countOutgoingSockets, type WireCounter } from "./wire.js";
import { send, sendFinal, serveCoordinator, type FleetPlan, type FleetReport, type ReconnectPolicy, type StartTimes } from "./ipc.js";
import { getBroker, getTransport } from "./registry.js";
import type { ResolvedDirectBroker, Transport } from "../transports/transport.js";
import { Sampler } from "../core/sampler.js";
import { addCounts, SequenceTracker, zeroCounts } from "../core/tracker.js";
import type { ClientConnection, ClientHandlers, ClientOptions } from "../transports/transport.js";
import type { DeliveryCounts } from "../core/tracker.js";
import { UpstreamSender } from "./upstream.js";
import { BrowserTabs } from "./browser/tabs.js";
import { BROWSER_CLIENTS } from "./browser/page.js";

const US = 1000;

class Subscriber {
  readonly tracker = new SequenceTracker();
  connectStartedAt = 0;
  openedAt = 0;
  firstAt = 0;
  open = false;
  conn: ClientConnection | undefined;
  /** When the connection dropped (0: it has not), for the time to reconnect. */
  droppedAt = 0;
  /** Failed reconnects in a row, for backoff. */
  attempts = 0;
  retry: NodeJS.Timeout | undefined;
  /** The last delivery, and the longest time between two in the measured window (ns). */
  lastAt = 0;
  longestGap = 0;
  /** Highest sequence seen per partition, where the plan has partitions. */
  partitionHighest: number[] | undefined;
  /** The chat scenario: one sequence per sender of the room, by the sender's global index. */
  readonly senders = new Map<number, SequenceTracker>();
  constructor(
    /** Its global index in the chat scenario (its envelopes' stream), else -1. */
    readonly id: number,
    readonly topic: number,
    /** Reads through the backpressure scenario's throttle; its latency is kept apart. */
    readonly slow: boolean,
    /** Index of the relay it connects to. */
    readonly relay: number,
    /** Its place in this process's list (a browser fleet's tab is index / connectionsPerTab). */
    readonly index: number,
  ) {}
}

/**
 * Delay before reconnect attempt `attempt` (1, 2, ...): fixed, like EventSource's
 * `retry`, or exponential from the base with full jitter, capped at 30 s.
 */
export function reconnectDelayMs(policy: ReconnectPolicy, attempt: number, random: () => number = Math.random): number {
  if (policy.kind === "fixed") return policy.delayMs;
  const ceiling = Math.min(30_000, policy.delayMs * 2 ** (attempt - 1));
  return random() * ceiling;
}

export class Fleet {
  readonly latency = createHistogram();
  readonly latencyFromSent = createHistogram();
  readonly connectTime = createHistogram();
  readonly firstEvent = createHistogram();
  readonly reconnectTime = createHistogram();
  readonly latencySlow = createHistogram();
  reconnects = 0;
  readonly sampler = new Sampler();
  readonly subscribers: Subscriber[];
  delivered = 0;
  /** Intervals that came out negative: a clock fault, counted and never recorded. */
  clockAnomalies = 0;
  disconnects = 0;
  arrivedInWindow = 0;
  reorderedWithinPartition = 0;
  /** The chat scenario: its clients' upstream sends, and their own messages come back. */
  readonly upstream: UpstreamSender | undefined;
  echoes = 0;
  private measureFrom = Number.POSITIVE_INFINITY;
  private measureUntil = Number.POSITIVE_INFINITY;
  private startAt = Number.POSITIVE_INFINITY;
  private finishing = false;

  /** `direct`: the plan's broker resolved once, here at the edge. */
  private readonly directBroker: ResolvedDirectBroker | undefined;
  private readonly transport: Transport;
  private readonly brokerWire: WireCounter | undefined;
  /** A browser fleet's Chromium, launched in connectAll. */
  private browserTabs: BrowserTabs | undefined;

  constructor(readonly plan: FleetPlan) {
    this.transport = getTransport(plan.transport);
    this.directBroker = plan.broker ? { ...plan.broker, driver: getBroker(plan.broker.name) } : undefined;
    // Direct clients' sockets are the broker library's: counted as they connect.
    if (plan.broker) this.brokerWire = countOutgoingSockets();
    this.subscribers = plan.topics.map((t, i) => new Subscriber(plan.chat?.ids[i] ?? -1, t, plan.slow?.clients[i] ?? false, plan.relays[i] ?? 0, i));
    if (plan.chat) this.upstream = new UpstreamSender(plan.chat, this.subscribers.map((s) => ({ connection: () => (s.open ? s.conn : undefined) })));
    if (plan.partitions && plan.partitions > 1) for (const s of this.subscribers) s.partitionHighest = new Array<number>(plan.partitions).fill(0);
  }

  /**
   * Opens one connection for a subscriber; a reconnect asks to resume after the last
   * message it has. `settle` is called once: on open, or on a close before it.
   */
  private openOne(sub: Subscriber, settle: (error?: string) => void): void {
    const resuming = sub.droppedAt > 0;
    sub.connectStartedAt = nowNs();
    let settled = false;
    sub.conn = this.connectClient(
      sub,
      {
        baseUrl: sub.slow ? this.plan.slow!.baseUrl : this.plan.baseUrls[sub.relay]!,
        topic: sub.topic,
        pollIntervalMs: this.plan.pollIntervalMs,
        ...(resuming ? { fromSeq: sub.tracker.highest + 1 } : {}),
        ...(this.directBroker ? { broker: this.directBroker } : {}),
        ...(this.plan.localAddress ? { localAddress: this.plan.localAddress } : {}),
        ...(this.plan.chat?.upAck ? { upAck: true } : {}),
      },
      {
        onOpen: (at) => {
          sub.openedAt = at ?? nowNs();
          sub.open = true;
          sub.attempts = 0;
          // A client that reconnects by itself opens again on the same connection.
          if (sub.droppedAt > 0) {
            this.reconnects++;
            this.record(this.reconnectTime, sub.openedAt - sub.droppedAt);
            sub.droppedAt = 0;
          } else this.record(this.connectTime, sub.openedAt - sub.connectStartedAt);
          settled = true;
          settle();
        },
        onMessage: (stream, seq, intendedAt, sentAt, at) => {
          const now = at ?? nowNs();
          if (this.upstream) {
            // Chat: a message of its own back is an echo, apart; another's counts per sender.
            if (stream === sub.id) return void this.echoes++;
            let tracker = sub.senders.get(stream);
            if (!tracker) sub.senders.set(stream, (tracker = new SequenceTracker()));
            if (!tracker.record(seq)) return;
          } else if (!sub.tracker.record(seq)) return;
          this.delivered++;
          if (sub.lastAt > 0 && now >= this.measureFrom) sub.longestGap = Math.max(sub.longestGap, now - Math.max(sub.lastAt, this.measureFrom));
          sub.lastAt = now;
          if (sub.partitionHighest) this.checkPartitionOrder(sub.partitionHighest, seq);
          if (now >= this.measureFrom && now < this.measureUntil) this.arrivedInWindow++;
          if (sub.firstAt === 0) {
            sub.firstAt = now;
            // Before the producer starts nothing should arrive; if it does, time it from open.
            const from = this.startAt === Number.POSITIVE_INFINITY ? sub.openedAt : Math.max(sub.openedAt, this.startAt);
            this.record(this.firstEvent, now - from);
          }
          if (intendedAt >= this.measureFrom) {
            if (sub.slow) {
              this.record(this.latencySlow, now - intendedAt);
            } else {
              this.record(this.latency, now - intendedAt);
              this.record(this.latencyFromSent, now - sentAt);
            }
          }
        },
        onClose: (reason, at) => {
          if (sub.open && !this.finishing) {
            this.disconnects++;
            sub.droppedAt = at ?? nowNs();
          }
          sub.open = false;
          if (!settled) {
            settled = true;
            settle(reason);
          }
          this.scheduleReconnect(sub);
        },
      },
    );
  }

  /** A Node connection of the transport's own client, or a connection in a browser tab. */
  private connectClient(sub: Subscriber, options: ClientOptions, handlers: ClientHandlers): ClientConnection {
    const browser = this.plan.browser;
    if (!browser || !this.browserTabs) return this.transport.connect(options, handlers);
    const page = BROWSER_CLIENTS[this.plan.transport]!;
    return this.browserTabs.connect(sub.index, Math.floor(sub.index / browser.connectionsPerTab), {
      client: page.client,
      base: options.baseUrl,
      topic: options.topic,
      pollIntervalMs: options.pollIntervalMs ?? this.plan.pollIntervalMs,
      ...(page.engine ? { engine: page.engine } : {}),
      ...(browser.wsReconnectMs !== undefined ? { wsReconnectMs: browser.wsReconnectMs } : {}),
    }, handlers);
  }

  /** A message behind a later one of its own partition: the order a partitioned broker promises was broken. */
  private checkPartitionOrder(highest: number[], seq: number): void {
    const p = (seq - 1) % highest.length;
    if (seq < highest[p]!) this.reorderedWithinPartition++;
    else highest[p] = seq;
  }

  /** After a drop (or a failed reconnect), tries again by the workload's policy. */
  private scheduleReconnect(sub: Subscriber): void {
    const policy = this.plan.reconnect;
    // A client that reconnects by itself is left to it.
    if (!policy || this.finishing || sub.droppedAt === 0 || sub.conn?.reconnecting) return;
    sub.attempts++;
    sub.retry = setTimeout(() => {
      if (!this.finishing) this.openOne(sub, () => {});
    }, reconnectDelayMs(policy, sub.attempts));
  }

  /** Opens every connection, at most connectConcurrency at a time. */
  async connectAll(): Promise<{ open: number; failed: number; firstError?: string; unanswered?: number; startedAt: number; settledAt: number }> {
    const browser = this.plan.browser;
    if (browser) {
      this.browserTabs = await BrowserTabs.launch(browser, this.plan.transport);
      // A tab per connectionsPerTab connections, at its first connection's origin.
      const origins = this.subscribers.filter((s) => s.index % browser.connectionsPerTab === 0).map((s) => this.plan.baseUrls[s.relay]!);
      await this.browserTabs.openTabs(origins, this.plan.connectConcurrency);
    } else await this.transport.load?.();
    let nextIndex = 0;
    let failed = 0;
    let unanswered = 0;
    let firstError: string | undefined;
    const waitMs = this.plan.openWaitMs;
    const rate = this.plan.connectRate;
    const startedAt = nowNs();
    const worker = async (): Promise<void> => {
      while (nextIndex < this.subscribers.length) {
        const k = nextIndex++;
        const sub = this.subscribers[k]!;
        // Paced: connection k starts k/rate seconds after the first, never sooner.
        const early = rate ? (startedAt + (k * NS_PER_S) / rate - nowNs()) / 1e6 : 0;
        if (early > 0) await new Promise((resolve) => setTimeout(resolve, early));
        await new Promise<void>((resolve) => {
          let answered = false;
          const timer = waitMs === undefined ? undefined : setTimeout(() => {
            answered = true;
            unanswered++;
            resolve();
          }, waitMs);
          this.openOne(sub, (error) => {
            clearTimeout(timer);
            if (answered) return;
            answered = true;
            if (error !== undefined) {
              failed++;
              firstError ??= error;
            }
            resolve();
          });
        });
      }
    };
    const workers = Math.min(this.plan.connectConcurrency, this.subscribers.length);
    await Promise.all(Array.from({ length: workers }, worker));
    await this.browserTabs?.settle();
    return { open: this.subscribers.length - failed - unanswered, failed, ...(firstError ? { firstError } : {}), ...(unanswered > 0 ? { unanswered } : {}), startedAt, settledAt: nowNs() };
  }

  /** Each subscriber's longest time without a delivery in the measured window. */
  private deliveryStalls(): Histogram {
    const h = createHistogram();
    for (const s of this.subscribers) if (s.lastAt > 0) h.recordValue(Math.max(1, Math.round(s.longestGap / US)));
    return h;
  }

  /** Records a nanosecond interval in µs. */
  private record(h: Histogram, intervalNs: number): void {
    const us = Math.round(intervalNs / US);
    if (us >= 0) h.recordValue(us);
    else this.clockAnomalies++;
  }

  start(times: StartTimes): void {
    this.startAt = times.startAt;
    this.measureFrom = times.measureFrom;
    this.measureUntil = times.measureUntil;
    this.sampler.start(times.startAt);
    this.browserTabs?.startSampling(times.startAt);
  }

  /**
   * Chat: what a client should have had from every other member of its room (client c
   * is in room c mod rooms), given each sender's last seq by global index.
   */
  private roomCounts(s: Subscriber, lastSeq: readonly number[]): DeliveryCounts {
    const { clients, rooms } = this.plan.chat!;
    const counts = zeroCounts();
    for (let sender = s.topic; sender < clients; sender += rooms) {
      if (sender === s.id) continue;
      const last = lastSeq[sender] ?? 0;
      const tracker = s.senders.get(sender);
      addCounts(counts, tracker ? tracker.counts(last) : { expected: last, delivered: 0, lost: last, duplicated: 0, reordered: 0 });
    }
    return counts;
  }

  /** Waits until every subscriber has every message or the drain time runs out. */
  async finish(lastSeq: readonly number[], drainMs: number, unacknowledged: readonly number[][] = []): Promise<FleetReport> {
    const deadline = Date.now() + drainMs;
    // A subscriber still reconnecting is waited for too: it may yet catch up by resuming.
    const waitingFor = (s: Subscriber): boolean => s.open || (s.droppedAt > 0 && (s.conn?.reconnecting ? s.conn.reconnecting() : this.plan.reconnect !== undefined));
    const unacked = (s: Subscriber): readonly number[] => unacknowledged[s.topic] ?? [];
    // Nothing more is coming for a subscriber that has all but what the broker never acknowledged.
    const hasAll = (s: Subscriber): boolean => {
      if (this.plan.chat) return this.roomCounts(s, lastSeq).lost === 0;
      const last = lastSeq[s.topic] ?? 0;
      if (s.tracker.isComplete(last)) return true;
      return unacked(s).length > 0 && s.tracker.counts(last).lost === s.tracker.missing(unacked(s));
    };
    const complete = (): boolean => this.subscribers.every((s) => !waitingFor(s) || hasAll(s));
    while (!complete() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const drainedComplete = complete();
    this.finishing = true;
    // Its tabs' clocks are read again before the browser closes.
    const browser = await this.browserTabs?.finish();
    const samples = this.sampler.stop();
    const counts = zeroCounts();
    const slowCounts = zeroCounts();
    let subscribersWithLoss = 0;
    let reachedEnd = 0;
    let lostUnacknowledged = 0;
    let open = 0;
    const brokerWire = this.brokerWire?.bytes();
    const carriedBy: Record<string, number> = {};
    for (const s of this.subscribers) {
      const by = s.open ? s.conn?.carriedBy?.() : undefined;
      if (by !== undefined) carriedBy[by] = (carriedBy[by] ?? 0) + 1;
      const c = this.plan.chat ? this.roomCounts(s, lastSeq) : s.tracker.counts(lastSeq[s.topic] ?? 0);
      addCounts(counts, c);
      if (s.slow) addCounts(slowCounts, c);
      if (c.lost > 0) subscribersWithLoss++;
      // The stream's end for it: the last message the broker acknowledged (those after may never have been stored).
      const end = lastAcknowledged(lastSeq[s.topic] ?? 0, unacked(s));
      if (!this.plan.chat && s.tracker.highest >= end) reachedEnd++;
      // One that never got its stream back stalled until now; any other, until the window closed if
      // nothing came after its last delivery (its publishers' failover outlasted the window).
      if (!this.plan.chat && s.lastAt > 0) {
        const until = s.tracker.highest < end ? nowNs() : Math.min(nowNs(), this.measureUntil);
        s.longestGap = Math.max(s.longestGap, until - Math.max(s.lastAt, this.measureFrom));
      }
      if (c.lost > 0) lostUnacknowledged += s.tracker.missing(unacked(s));
      if (s.open) open++;
      clearTimeout(s.retry);
      s.conn?.close();
    }
    return {
      counts,
      subscribersWithLoss,
      lostUnacknowledged,
      reorderedWithinPartition: this.reorderedWithinPartition,
      open,
      disconnects: this.disconnects,
      arrivedInWindow: this.arrivedInWindow,
      clockAnomalies: this.clockAnomalies,
      latencyUs: encodeHistogram(this.latency),
      latencyFromSentUs: encodeHistogram(this.latencyFromSent),
      connectUs: encodeHistogram(this.connectTime),
      firstEventUs: encodeHistogram(this.firstEvent),
      reconnectUs: encodeHistogram(this.reconnectTime),
      deliveryStallUs: encodeHistogram(this.deliveryStalls()),
      reachedEnd,
      reconnects: this.reconnects,
      ...(this.plan.slow ? { slow: { latencyUs: encodeHistogram(this.latencySlow), counts: slowCounts } } : {}),
      ...(this.upstream
        ? {
            chat: {
              upAckUs: encodeHistogram(this.upstream.ackLatency),
              acks: this.upstream.acks,
              sendErrors: this.upstream.sendErrors,
              ...(this.upstream.firstSendError ? { firstSendError: this.upstream.firstSendError } : {}),
              echoes: this.echoes,
            },
          }
        : {}),
      ...(Object.keys(carriedBy).length > 0 ? { carriedBy } : {}),
      ...(brokerWire ? { brokerWire: { up: brokerWire.written, down: brokerWire.read } } : {}),
      samples,
      drainedComplete,
      ...(browser ? { browser } : {}),
    };
  }
}

/** Entry point when run as a child process of `rtbench run`. */
export function runFleetProcess(): void {
  let fleet: Fleet | undefined;
  let progress: NodeJS.Timeout | undefined;
  serveCoordinator(async (m) => {
    switch (m.kind) {
      case "init-fleet": {
        fleet = new Fleet(m.plan);
        const result = await fleet.connectAll();
        send(process, { kind: "connected", ...result });
        break;
      }
      case "start":
        if (!fleet) throw new Error("start before init");
        fleet.start(m.times);
        // Chat: its clients' upstream runs from the same start; the coordinator hears once all is sent.
        void fleet.upstream?.run(m.times).then((sent) => send(process, { kind: "upstream-sent", sent }));
        progress = setInterval(() => send(process, { kind: "progress", delivered: fleet!.delivered }), 1000);
        break;
      case "finish": {
        if (!fleet) throw new Error("finish before init");
        clearInterval(progress);
        fleet.upstream?.stop();
        const report = await fleet.finish(m.lastSeq, m.drainMs, m.unacknowledged);
        sendFinal({ kind: "fleet-result", report: { ...report, ...brokerErrorsReport() } });
        break;
      }
      default:
        throw new Error(`fleet: unexpected message ${m.kind}`);
    }
  });
}

/** The highest sequence up to `last` that is not among the (ascending) unacknowledged ones; 0 if none. */
function lastAcknowledged(last: number, unacknowledged: readonly number[]): number {
  let seq = last;
  for (let i = unacknowledged.length - 1; i >= 0 && seq > 0; i--) {
    if (unacknowledged[i]! > seq) continue;
    if (unacknowledged[i] !== seq) break;
    seq--;
  }
  return seq;
}
