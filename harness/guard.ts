/**
 * Generator guard: a cell whose load generators (producer, client fleet) could not do
 * their job is flagged saturated, with the reason, so that their limit is never
 * reported as the system's.
 */
import type { ResourceSample } from "./sampler.js";

export const GUARD = {
  /** The producer must achieve this share of the target rate. */
  minRateShare: 0.95,
  /** p99 publish delay (sentAt − intendedAt) above this means the schedule slipped. */
  maxPublishDelayP99Ms: 50,
  /** Mean event-loop utilization of a fleet process above this means it is pegged. */
  maxFleetElu: 0.9,
  /** Event-loop delay p99 in any fleet sample above this means deliveries queued in the client. */
  maxFleetLoopDelayMs: 100,
} as const;

export interface GuardInput {
  targetRate: number;
  achievedRate: number;
  publishDelayP99Us: number;
  /** Samples of each fleet process. */
  fleet: ResourceSample[][];
  /** Whether the producer shares its event loop with the relay (in-process broker). */
  producerSharesRelay: boolean;
  /** The measured window, in seconds since the first intended send (sample time `t`). */
  window: { fromS: number; toS: number };
}

/**
 * The samples whose interval lies mostly inside the measured window, so the idle
 * moments before the start and after the end do not dilute a saturated stretch.
 * A run too short to have any falls back to all its samples.
 */
export function samplesInWindow(samples: readonly ResourceSample[], window: { fromS: number; toS: number }): ResourceSample[] {
  const inside = samples.filter((s, i) => {
    const from = i > 0 ? samples[i - 1]!.t : s.t - 1;
    const mid = (from + s.t) / 2;
    return mid >= window.fromS && mid <= window.toS;
  });
  return inside.length > 0 ? inside : [...samples];
}

export function assessSaturation(input: GuardInput): string[] {
  return [...producerReasons(input), ...fleetReasons(input.fleet, input.window)];
}

/** Why the producer could not keep its schedule, if it could not. */
export function producerReasons(input: Omit<GuardInput, "fleet" | "window">): string[] {
  const reasons: string[] = [];
  const where = input.producerSharesRelay ? "producer (shares the relay's process)" : "producer";
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

function fmt(n: number): string {
  return n >= 100 ? String(Math.round(n)) : n.toFixed(1);
}
