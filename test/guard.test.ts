import assert from "node:assert/strict";
import { test } from "node:test";
import { assessSaturation, judgeGenerators } from "../harness/guard.js";
import type { ResourceSample } from "../core/sampler.js";
import { readOnlyRun, runCli, tempDir } from "./helpers.js";

const sample = (elu: number, delayMs = 1): ResourceSample => ({
  t: 1,
  rssBytes: 1,
  heapUsedBytes: 1,
  cpuPct: elu * 100,
  elu,
  eventLoopDelayP99Ms: delayMs,
  eventLoopDelayMaxMs: delayMs,
});

const healthy = {
  targetRate: 1000,
  achievedRate: 1000,
  publishDelayP99Us: 200,
  fleet: [[sample(0.4)]],
  producerSharesRelay: false,
  window: { fromS: 0, toS: 10 },
};

test("a generator that kept up is not flagged", () => {
  assert.deepEqual(assessSaturation(healthy), []);
});

test("each way a generator can fail is flagged with its reason", () => {
  assert.match(assessSaturation({ ...healthy, achievedRate: 900 })[0]!, /producer achieved 900\/s of the 1000\/s target/);
  assert.match(assessSaturation({ ...healthy, publishDelayP99Us: 80_000 })[0]!, /fell behind its schedule: publish delay p99 80\.0 ms/);
  assert.match(assessSaturation({ ...healthy, fleet: [[sample(0.4)], [sample(0.97), sample(0.95)]] })[0]!, /fleet process 1 event loop busy 96%/);
  assert.match(assessSaturation({ ...healthy, fleet: [[sample(0.5, 250)]] })[0]!, /fleet process 0 event-loop delay p99 reached 250 ms/);
  assert.match(assessSaturation({ ...healthy, achievedRate: 10, producerSharesRelay: true })[0]!, /producer \(shares the relay's process\)/);
});

test("browser clients are judged by the browser: its CPU, its pages' timers, and a relay starved of a core beside it", () => {
  const b = (cpuPct: number, pageLagMaxMs = 5) => ({ t: 1, pssBytes: 1, cpuPct, pageLagMaxMs });
  const browser = (samples: ReturnType<typeof b>[]) => ({ samples: [samples], cores: 2 });
  // The Node fleet's own loop passes the pages' events on: a busy one is not the clients' limit.
  assert.deepEqual(judgeGenerators({ ...healthy, fleet: [[sample(0.97)]], browser: browser([b(50)]) }), { saturated: [], relayLimit: [] });
  assert.match(judgeGenerators({ ...healthy, browser: browser([b(190)]) }).saturated[0]!, /browser 0 used 190% CPU, of 2 cores/);
  assert.match(judgeGenerators({ ...healthy, browser: browser([b(50, 140)]) }).saturated[0]!, /a page's timers ran up to 140 ms late/);
  // A producer sharing the relay fell behind while the relay's loop was mostly idle.
  const lagging = { ...healthy, publishDelayP99Us: 80_000, producerSharesRelay: true, producerOwnShare: 0.01, relay: [sample(0.1, 300)] };
  const starved = judgeGenerators({ ...lagging, browser: browser([b(120)]) });
  assert.deepEqual(starved.relayLimit, []);
  assert.match(starved.saturated.join("; "), /the relay's loop stalled up to 300 ms while busy 10% of the time: it waited for a core/);
  // Without the browser beside it, or with the relay busy, the relay held the producer: the system's figure.
  assert.equal(judgeGenerators(lagging).relayLimit.length, 2);
  assert.equal(judgeGenerators({ ...lagging, relay: [sample(0.8, 300)], browser: browser([b(120)]) }).relayLimit.length, 2);
});

test("the fleet is judged on the measured window: idle moments before and after do not dilute it", () => {
  const at = (t: number, elu: number): ResourceSample => ({ ...sample(elu), t });
  // Warm-up 2 s, measured 2..5 s, then a second of drain: busy only while measured.
  const series = [at(-0.3, 0.05), at(0.7, 0.3), at(1.7, 0.3), at(2.7, 0.97), at(3.7, 0.97), at(4.7, 0.97), at(5.7, 0.1), at(6.2, 0.05)];
  const reasons = assessSaturation({ ...healthy, fleet: [series], window: { fromS: 2, toS: 5 } });
  assert.match(reasons[0] ?? "", /fleet process 0 event loop busy 97%/);
  // Over every sample the mean is 46%: the dilution this prevents.
  assert.deepEqual(assessSaturation({ ...healthy, fleet: [series], window: { fromS: -10, toS: 100 } }), []);
});

test("a producer asked for more than it can send is flagged saturated, not reported as the system's rate", async () => {
  const out = tempDir();
  // 10^7/s: more than the producer's own work allows even alone (about 10^6/s here), so the lag is the generator's, not the relay's.
  const r = await runCli(["run", "--transports", "ws", "--brokers", "inproc", "--clients", "1", "--rate", "10000000", "--duration", "1", "--warmup", "0", "--drain", "2", "--out", out]);
  assert.equal(r.code, 0, r.stderr);
  const cell = readOnlyRun(out).cells[0]!;
  assert.equal(cell.saturated, true);
  assert.ok(cell.saturationReasons.some((s) => /producer \(shares the relay's process\) (achieved|fell behind)/.test(s)), cell.saturationReasons.join("; "));
  assert.match(r.stdout, /SATURATED/);
  assert.match(r.stdout, /\nsaturated: ws × inproc steady \(rep 1\): producer .*; its figures are the load generator's, not the system's/, "one line under the table says why");
  // What arrived per second, not what was offered: the producer alone could not send 10^6/s.
  // (Not compared with publishedPerSec: that is the mean over the whole send, which a
  // producer falling behind stretches past the 1 s window, so the window's rate can exceed it.)
  assert.ok(cell.throughput < 500_000, `throughput ${cell.throughput}/s is what arrived, far below the 10^7/s offered`);
  assert.ok(cell.throughput <= cell.published, `one client cannot receive in 1 s more than was published (${cell.throughput} vs ${cell.published})`);
});
