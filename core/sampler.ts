/**
 * Once-a-second resource samples for one role (relay, fleet process): memory, CPU,
 * event-loop utilization and delay. The generator guard reads these.
 */
import { readFileSync } from "node:fs";
import { monitorEventLoopDelay, performance, type EventLoopUtilization } from "node:perf_hooks";
import { nowNs } from "./clock.js";

export interface ResourceSample {
  /** Seconds since the run's first intended send (negative before it), at the end of the interval. */
  t: number;
  rssBytes: number;
  heapUsedBytes: number;
  /** CPU time (user + system) over the interval, as % of one core. */
  cpuPct: number;
  /** Event-loop utilization over the interval, 0..1. */
  elu: number;
  eventLoopDelayP99Ms: number;
  eventLoopDelayMaxMs: number;
  /** Read system calls over the interval (Linux's /proc/self/io): with deliveries, how many messages each read brought. */
  readSyscalls?: number;
  /** Relay only: bytes written to client sockets and not yet taken by the kernel (what slow readers leave queued). */
  sendQueueBytes?: number;
}

/** This process's read system calls so far (Linux), or undefined where /proc/self/io cannot be read. */
export function readSyscallsSoFar(): number | undefined {
  try {
    const m = /^syscr:\s*(\d+)/m.exec(readFileSync("/proc/self/io", "utf8"));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

export class Sampler {
  readonly samples: ResourceSample[] = [];
  private readonly delay = monitorEventLoopDelay({ resolution: 10 });
  private timer: NodeJS.Timeout | undefined;
  private originNs = 0;
  private lastAt = 0;
  private lastCpu = process.cpuUsage();
  private lastElu: EventLoopUtilization = performance.eventLoopUtilization();
  private lastReads = readSyscallsSoFar();

  constructor(
    private readonly intervalMs = 1000,
    /** The relay's send queue, sampled with the rest. */
    private readonly sendQueue?: () => number,
  ) {}

  /** Starts sampling; sample times are counted from originNs (the run's first intended send). */
  start(originNs = nowNs()): void {
    this.originNs = originNs;
    this.lastAt = performance.now();
    this.lastCpu = process.cpuUsage();
    this.lastElu = performance.eventLoopUtilization();
    this.lastReads = readSyscallsSoFar();
    this.delay.enable();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
  }

  /** Takes a last sample for the partial interval and stops. */
  stop(): ResourceSample[] {
    if (this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
      if (performance.now() - this.lastAt > this.intervalMs / 4) this.sample();
      this.delay.disable();
    }
    return this.samples;
  }

  private sample(): void {
    const now = performance.now();
    const cpu = process.cpuUsage();
    const elu = performance.eventLoopUtilization();
    const mem = process.memoryUsage();
    const elapsedUs = (now - this.lastAt) * 1000;
    const cpuUs = cpu.user - this.lastCpu.user + (cpu.system - this.lastCpu.system);
    const reads = readSyscallsSoFar();
    this.samples.push({
      t: (nowNs() - this.originNs) / 1e9,
      rssBytes: mem.rss,
      heapUsedBytes: mem.heapUsed,
      cpuPct: elapsedUs > 0 ? (100 * cpuUs) / elapsedUs : 0,
      elu: performance.eventLoopUtilization(elu, this.lastElu).utilization,
      eventLoopDelayP99Ms: this.delay.count > 0 ? this.delay.percentile(99) / 1e6 : 0,
      eventLoopDelayMaxMs: this.delay.count > 0 ? this.delay.max / 1e6 : 0,
      ...(reads !== undefined && this.lastReads !== undefined ? { readSyscalls: reads - this.lastReads } : {}),
      ...(this.sendQueue ? { sendQueueBytes: this.sendQueue() } : {}),
    });
    this.lastReads = reads;
    this.delay.reset();
    this.lastAt = now;
    this.lastCpu = cpu;
    this.lastElu = elu;
  }
}
