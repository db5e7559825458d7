/**
 * A browser fleet process's clients: one headless Chromium (Debian's, driven by
 * playwright-core), one tab per `connectionsPerTab` connections, each tab in a context
 * of its own as a separate user's browser is (its own connection pool and cookies).
 * The page is loaded at the relay's origin, so every connection it opens is
 * same-origin, as an application served by the relay has. Arrival times are stamped in
 * the page and mapped onto the envelope's monotonic clock by an offset measured per tab.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join, sep } from "node:path";
import { nowNs } from "../../core/clock.js";
import type { ClientConnection, ClientHandlers } from "../../transports/transport.js";
import { descendantsOfSelf } from "../proc.js";
import { BROWSER_CLIENTS, pageHtml, type PageEvent, type PageOpen } from "./page.js";
import type { BrowserPlan, BrowserReport } from "../ipc.js";
import type { BrowserSample } from "../../results/schema.js";
import type { Browser, BrowserContext, CDPSession, Page } from "playwright-core";

/** Flags a closed network needs (no background networking, updates or sync), and no QUIC. */
export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-default-apps",
  // The page is handed to the tab by the fleet, so Chromium cannot tell it came from
  // loopback and would block its WebSocket to loopback as a public page's; served by the
  // relay it would be a loopback page, which these checks let through.
  "--disable-features=LocalNetworkAccessChecks",
] as const;

export function chromiumPath(): string {
  return process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
}

/** Where the fleet loads the page, at the relay's origin (served by the fleet, never by the relay). */
const PAGE_PATH = "/__rtbench/client.html";
/** Settled: the browser's CPU over a window below a base plus a little per tab (its pages' timers), or the wait is over. */
const SETTLE_WINDOW_MS = 300;
const SETTLE_MAX_MS = 10_000;
const SETTLED_CPU_PCT = 20;
const SETTLED_CPU_PCT_PER_TAB = 2;
/** Chromium coarsens performance.now() to 100 µs in a page that is not cross-origin isolated: each arrival's stamp can be off by that too. */
const PAGE_CLOCK_RESOLUTION_MS = 0.1;
/** Round trips taken to measure a tab's clock offset; the shortest one counts. */
const CLOCK_PROBES = 15;

interface ClockReading {
  /** Page time (ms since the epoch) minus the fleet's monotonic ms at the same instant. */
  offsetMs: number;
  /** Half the round trip of the probe it came from: the reading's error bound. */
  boundMs: number;
}

interface Tab {
  page: Page;
  context: BrowserContext;
  /** A DevTools session of the page's own: the shortest round trip into it, for the clock. */
  cdp: CDPSession;
  /** Read once every tab is open, before the schedule starts; arrivals are mapped by it. */
  start?: ClockReading;
}

interface Connection {
  handlers: ClientHandlers;
  /** The page said the client will not reconnect by itself (a WebSocket with no loop, a closed EventSource). */
  final: boolean;
}

export class BrowserTabs {
  private readonly tabs = new Map<number, Promise<Tab>>();
  private readonly connections = new Map<number, Connection>();
  private readonly samples: BrowserSample[] = [];
  private sampler: NodeJS.Timeout | undefined;
  private worstLagMs = 0;
  private lastCpu: { atMs: number; cpuUs: number } | undefined;
  private readonly html: string;

  private constructor(
    private readonly browser: Browser,
    private readonly plan: BrowserPlan,
    transport: string,
  ) {
    const needsIo = BROWSER_CLIENTS[transport]?.client === "socketio";
    this.html = pageHtml(needsIo ? readFileSync(socketIoBundle(), "utf8") : undefined);
  }

  static async launch(plan: BrowserPlan, transport: string): Promise<BrowserTabs> {
    const { chromium } = await import("playwright-core");
    const browser = await chromium.launch({ executablePath: chromiumPath(), args: [...CHROMIUM_ARGS] });
    return new BrowserTabs(browser, plan, transport);
  }

  /**
   * Opens the tabs before any connection, `concurrency` at a time (tab `k` at origin
   * `origins[k]`), so the time a connection is given to open is its own, not its tab's.
   */
  async openTabs(origins: readonly string[], concurrency: number): Promise<void> {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < origins.length) {
        const k = next++;
        await this.tabFor(k, origins[k]!).catch(() => {});
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, origins.length) }, worker));
  }

  /** Opens connection `id` in tab `tab` (made on first use); events reach `handlers` with the page's times. */
  connect(id: number, tab: number, open: Omit<PageOpen, "id">, handlers: ClientHandlers): ClientConnection {
    const connection: Connection = { handlers, final: false };
    this.connections.set(id, connection);
    const ready = this.tabFor(tab, open.base);
    ready.then((t) => t.page.evaluate(`rtOpen(${JSON.stringify({ ...open, id })})`)).catch((e: unknown) => {
      connection.final = true;
      handlers.onClose(`the browser tab failed: ${(e as Error).message.split("\n")[0]}`);
    });
    return {
      reconnecting: () => !connection.final,
      close: () => {
        this.connections.delete(id);
        void ready.then((t) => t.page.evaluate(`rtClose(${id})`)).catch(() => {});
      },
    };
  }

  private tabFor(index: number, base: string): Promise<Tab> {
    let tab = this.tabs.get(index);
    if (!tab) {
      tab = this.openTab(index, base);
      this.tabs.set(index, tab);
    }
    return tab;
  }

  private async openTab(index: number, base: string): Promise<Tab> {
    // The relay's certificate is made for the cell: accepted as a user who trusts it would.
    const context = await this.browser.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    await page.exposeFunction("__rtbench", (batch: PageEvent[]) => this.onBatch(index, batch));
    const url = new URL(PAGE_PATH, base).toString();
    // The page comes from the fleet at the relay's origin; the route is gone before any connection opens.
    await page.route(url, (route) => route.fulfill({ contentType: "text/html; charset=utf-8", body: this.html }));
    await page.goto(url);
    await page.unroute(url);
    return { page, context, cdp: await context.newCDPSession(page) };
  }

  /**
   * Once every tab is open: waits for the browser to settle (new tabs keep its processes
   * busy for a second or two, which would starve the relay on a shared machine), then
   * reads every tab's clock while nothing else runs.
   */
  async settle(): Promise<void> {
    const deadline = performance.now() + SETTLE_MAX_MS;
    let last = descendantsOfSelf();
    while (performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, SETTLE_WINDOW_MS));
      const now = descendantsOfSelf();
      if (!now || !last) break;
      const pct = (100 * (now.cpuUs - last.cpuUs)) / (SETTLE_WINDOW_MS * 1000);
      last = now;
      if (pct < SETTLED_CPU_PCT_PER_TAB * Math.max(1, this.tabs.size) + SETTLED_CPU_PCT) break;
    }
    for (const pending of this.tabs.values()) {
      const tab = await pending.catch(() => undefined);
      if (tab) tab.start = await readClock(tab.cdp).catch(() => undefined);
    }
  }

  /** Page ms (epoch) to the fleet's monotonic ns, by the tab's offset at the start; before it is read, the fleet's own time. */
  private toNs(tab: Tab, pageMs: number): number | undefined {
    return tab.start ? (pageMs - tab.start.offsetMs) * 1e6 : undefined;
  }

  private onBatch(index: number, batch: PageEvent[]): void {
    // The tab has resolved by the time its page can post anything.
    void this.tabs.get(index)!.then((tab) => {
      for (const e of batch) {
        if (e[0] === "l") {
          this.worstLagMs = Math.max(this.worstLagMs, e[1]);
          continue;
        }
        const c = this.connections.get(e[1]);
        if (!c) continue;
        if (e[0] === "m") c.handlers.onMessage(e[2], e[3], e[4], e[5], this.toNs(tab, e[6]));
        else if (e[0] === "o") c.handlers.onOpen(this.toNs(tab, e[2]));
        else {
          c.final = e[4];
          c.handlers.onClose(e[2], this.toNs(tab, e[3]));
        }
      }
    });
  }

  /** Samples the browser's processes once a second: PSS, CPU and the worst page lag in the interval. */
  startSampling(originNs: number): void {
    const sample = (): void => {
      const d = descendantsOfSelf();
      const atMs = performance.now();
      if (d && this.lastCpu) {
        const elapsedMs = atMs - this.lastCpu.atMs;
        this.samples.push({
          t: (nowNs() - originNs) / 1e9,
          pssBytes: d.pssBytes,
          cpuPct: elapsedMs > 0 ? (100 * (d.cpuUs - this.lastCpu.cpuUs)) / (elapsedMs * 1000) : 0,
          pageLagMaxMs: this.worstLagMs,
        });
      }
      if (d) this.lastCpu = { atMs, cpuUs: d.cpuUs };
      this.worstLagMs = 0;
    };
    sample();
    this.sampler = setInterval(sample, 1000);
    this.sampler.unref();
  }

  /** The cell's browser facts; reads every tab's clock again (its drift since the start joins the bound) and closes the browser. */
  async finish(): Promise<BrowserReport> {
    clearInterval(this.sampler);
    let boundMs = 0;
    let driftMs = 0;
    for (const pending of this.tabs.values()) {
      const tab = await pending.catch(() => undefined);
      if (!tab?.start) continue;
      const end = await readClock(tab.cdp).catch(() => undefined);
      if (!end) continue;
      // With the offset drifting one way between the readings, every arrival mapped by the
      // start reading is within the start's bound, or the end's plus the change between them.
      const drift = Math.abs(end.offsetMs - tab.start.offsetMs);
      driftMs = Math.max(driftMs, drift);
      boundMs = Math.max(boundMs, tab.start.boundMs, end.boundMs + drift);
    }
    const report: BrowserReport = {
      version: this.browser.version(),
      tabs: this.tabs.size,
      connectionsPerTab: this.plan.connectionsPerTab,
      clockErrorBoundUs: Math.round((boundMs + PAGE_CLOCK_RESOLUTION_MS) * 1000),
      clockDriftUs: Math.round(driftMs * 1000),
      samples: this.samples,
    };
    await this.close();
    return report;
  }

  async close(): Promise<void> {
    clearInterval(this.sampler);
    await this.browser.close().catch(() => {});
  }
}

/** The shortest of a few round trips to the page: its clock against ours, and half that round trip as the bound. */
async function readClock(cdp: CDPSession): Promise<ClockReading> {
  let best: ClockReading | undefined;
  for (let i = 0; i < CLOCK_PROBES; i++) {
    const before = nowNs() / 1e6;
    const answer = await cdp.send("Runtime.evaluate", { expression: "performance.timeOrigin + performance.now()", returnByValue: true });
    const pageMs = answer.result.value as number;
    const after = nowNs() / 1e6;
    const reading = { offsetMs: pageMs - (before + after) / 2, boundMs: (after - before) / 2 };
    if (!best || reading.boundMs < best.boundMs) best = reading;
  }
  return best!;
}

/** socket.io-client's browser bundle in node_modules (its package exports do not list it, so found beside its entry point). */
function socketIoBundle(): string {
  const entry = createRequire(import.meta.url).resolve("socket.io-client");
  return join(entry.slice(0, entry.lastIndexOf(`${sep}socket.io-client${sep}`) + `${sep}socket.io-client`.length), "dist", "socket.io.min.js");
}
