/**
 * Generator guard: a cell whose load generators (producer, client fleet) could not do
 * their job is flagged saturated, with the reason, so that their limit is never
 * reported as the system's.
 */
import type { ResourceSample } from "../core/sampler.js";
import type { BrowserSample } from "../results/schema.js";

export const GUARD = {
  /** The producer must achieve this share of the target rate. */
  minRateShare: 0.95,
  /** p99 publish delay (sentAt − intendedAt) above this means the schedule slipped. */
  maxPublishDelayP99Ms: 50,
  /** Mean event-loop utilization of a fleet process above this means it is pegged. */
  maxFleetElu: 0.9,
  /** Event-loop delay p99 in any fleet sample above this means deliveries queued in the client. */
  maxFleetLoopDelayMs: 100,
  /**
   * A producer sharing the relay's loop could not keep up on its own when its own work
   * (scheduling, encoding, not the publish calls that run the relay's fan-out), scaled
   * to the target rate, would need more of the loop than this; below it, what held the
   * loop was the relay.
   */
  maxProducerOwnShare: 1,
  /** Mean CPU of a browser's processes above this share of the machine's cores means the browser was pegged. */
  maxBrowserCpuShare: 0.9,
  /** A page's 50 ms timer firing later than this means its event loop held deliveries. */
  maxPageLagMs: 100,
  /**
   * With browser clients on the same machine, a relay whose loop stalled while busy less
   * than this was waiting for a core, not working: the browser had them.
   */
  maxStarvedRelayElu: 0.5,
} as const;

export interface GuardInput {
  targetRate: number;
  achievedRate: number;
  publishDelayP99Us: number;
  /** Samples of each fleet process. */
  fleet: ResourceSample[][];
  /**
   * Browser clients: each fleet process's browser samples. Arrivals are stamped in the
   * pages, so these judge the clients and the Node fleet's own loop does not.
   */
  browser?: { samples: BrowserSample[][]; cores: number };
  /** Who publishes, when not the producer (chat: the clients' upstream senders), for the reasons' wording. */
  publisher?: string;
  /** Whether the producer shares its event loop with the relay (in-process broker). */
  producerSharesRelay: boolean;
  /** The producer's own work as a share of the window's wall time; unknown: every lag is the generator's. */
  producerOwnShare?: number;
  /** Published, of the messages the schedule had, when the coordinator's deadline stopped the producer. */
  stoppedEarly?: { published: number; total: number; afterS: number };
  /** The relay's own samples (its main thread), to say what held a shared loop. */
  relay?: ResourceSample[];
  /** The measured window, in seconds since the first intended send (sample time `t`). */
  window: { fromS: number; toS: number };
}

/**
 * The samples whose interval lies mostly inside the measured window, so the idle
 * moments before the start and after the end do not dilute a saturated stretch.
 * A run too short to have any falls back to all its samples.
 */
export function samplesInWindow<S extends { t: number }>(samples: readonly S[], window: { fromS: number; toS: number }): S[] {
  const inside = samples.filter((s, i) => {
    const from = i > 0 ? samples[i - 1]!.t : s.t - 1;
    const mid = (from + s.t) / 2;
    return mid >= window.fromS && mid <= window.toS;
  });
  return inside.length > 0 ? inside : [...samples];
}

export function assessSaturation(input: GuardInput): string[] {
  return judgeGenerators(input).saturated;
}

/**
 * Whose limit a lagging cell shows. A producer or fleet that could not keep up on its
 * own is the generator's (saturated: not the system's figure). A producer sharing the
 * relay's loop that lagged while its own work was a small share of that loop lagged
 * because the relay held it (its fan-out, a stall of its process): the system's figure,
 * labelled as the relay's limit.
 */
export function judgeGenerators(input: GuardInput): { saturated: string[]; relayLimit: string[] } {
  const lag = producerReasons(input);
  if (input.stoppedEarly) {
    const { published, total, afterS } = input.stoppedEarly;
    lag.push(`${input.producerSharesRelay ? "producer (shares the relay's process)" : "producer"} had published ${published} of ${total} messages when it was stopped ${fmt(afterS)} s after its start`);
  }
  const fleet = input.browser ? browserReasons(input.browser, input.window) : fleetReasons(input.fleet, input.window);
  const own = input.producerOwnShare;
  // What the producer's own work would take of the loop at the target rate.
  const needed = own === undefined ? undefined : (own * input.targetRate) / Math.max(input.achievedRate, Number.MIN_VALUE);
  if (lag.length > 0 && input.producerSharesRelay && needed !== undefined && needed < GUARD.maxProducerOwnShare) {
    const relay = input.relay ? samplesInWindow(input.relay, input.window) : [];
    const busy = relay.length > 0 ? relay.reduce((n, s) => n + s.elu, 0) / relay.length : undefined;
    const stall = relay.length > 0 ? Math.max(...relay.map((s) => s.eventLoopDelayMaxMs)) : undefined;
    if (input.browser && busy !== undefined && busy < GUARD.maxStarvedRelayElu) {
      const cpu = Math.max(...input.browser.samples.map((all) => meanCpu(samplesInWindow(all, input.window))));
      const starved = `the relay's loop stalled up to ${fmt(stall!)} ms while busy ${Math.round(busy * 100)}% of the time: it waited for a core, with the browser clients on the same machine (up to ${Math.round(cpu)}% CPU)`;
      return { saturated: [...lag, starved, ...fleet], relayLimit: [] };
    }
    const held =
      `the producer's own work took ${fmt(own! * 100)}% of the loop it shares with the relay (${fmt(needed * 100)}% at the target rate), so the relay held it` +
      (busy !== undefined ? ` (relay event loop busy ${Math.round(busy * 100)}%, longest stall ${fmt(stall!)} ms)` : "");
    return { saturated: fleet, relayLimit: [...lag, held] };
  }
  if (lag.length > 0 && input.producerSharesRelay && needed !== undefined) {
    lag.push(`the producer's own work would take ${fmt(needed * 100)}% of the loop it shares with the relay at the target rate: it could not keep up on its own`);
  }
  return { saturated: [...lag, ...fleet], relayLimit: [] };
}

/** Why the producer could not keep its schedule, if it could not. */
export function producerReasons(input: Omit<GuardInput, "fleet" | "window">): string[] {
  const reasons: string[] = [];
  const where = input.publisher ?? (input.producerSharesRelay ? "producer (shares the relay's process)" : "producer");
  if (input.achievedRate < GUARD.minRateShare * input.targetRate) {
    reasons.push(`${where} achieved ${fmt(input.achievedRate)}/s of the ${fmt(input.targetRate)}/s target`);
  }
  const delayMs = input.publishDelayP99Us / 1000;
  if (delayMs > GUARD.maxPublishDelayP99Ms) {
    reasons.push(`${where} fell behind its schedule: publish delay p99 ${fmt(delayMs)} ms`);
  }
  return reasons;
}

/** Why a client fleet process could not keep up, if one could not. */
export function fleetReasons(fleet: GuardInput["fleet"], window: GuardInput["window"]): string[] {
  const reasons: string[] = [];
  fleet.forEach((all, i) => {
    if (all.length === 0) return;
    const samples = samplesInWindow(all, window);
    const elu = samples.reduce((sum, s) => sum + s.elu, 0) / samples.length;
    if (elu > GUARD.maxFleetElu) reasons.push(`fleet process ${i} event loop busy ${Math.round(elu * 100)}% of the time`);
    const worst = Math.max(...samples.map((s) => s.eventLoopDelayP99Ms));
    if (worst > GUARD.maxFleetLoopDelayMs) reasons.push(`fleet process ${i} event-loop delay p99 reached ${fmt(worst)} ms`);
  });
  return reasons;
}

/** Why a browser could not keep up: its processes pegged the machine, or a page's timers ran late. */
export function browserReasons(browser: NonNullable<GuardInput["browser"]>, window: GuardInput["window"]): string[] {
  const reasons: string[] = [];
  browser.samples.forEach((all, i) => {
    if (all.length === 0) return;
    const samples = samplesInWindow(all, window);
    const cpu = meanCpu(samples);
    if (cpu > GUARD.maxBrowserCpuShare * 100 * browser.cores) reasons.push(`browser ${i} used ${Math.round(cpu)}% CPU, of ${browser.cores} cores`);
    const lag = Math.max(...samples.map((s) => s.pageLagMaxMs));
    if (lag > GUARD.maxPageLagMs) reasons.push(`browser ${i}: a page's timers ran up to ${fmt(lag)} ms late`);
  });
  return reasons;
}

function meanCpu(samples: readonly BrowserSample[]): number {
  return samples.length > 0 ? samples.reduce((sum, s) => sum + s.cpuPct, 0) / samples.length : 0;
}

function fmt(n: number): string {
  return n >= 100 ? String(Math.round(n)) : n.toFixed(1);
}
