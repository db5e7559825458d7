/**
 * The report as a person sees it: built from a fixture run, opened from file:// in a
 * real headless Chromium (Debian's, driven by playwright-core).
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { pathToFileURL } from "node:url";
import { chromium, type Browser } from "playwright-core";
import { advise, parseNeeds } from "../reports/advise.js";
import { writeReport } from "../reports/report.js";
import type { RunResult } from "../results/schema.js";
import { ROOT, tempDir } from "./helpers.js";
import { CHROMIUM_ARGS, chromiumPath } from "../harness/browser/tabs.js";

const FIXTURE = join(ROOT, "test/fixtures/run");
/** Screenshots land here (git-ignored) so a person can look at them after the tests. */
const OUTPUTS = join(ROOT, "reports/test-output");
let browser: Browser;

before(async () => {
  browser = await chromium.launch({
    executablePath: chromiumPath(),
    args: [...CHROMIUM_ARGS],
  });
});
after(async () => browser?.close());

async function open(index: string) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const consoleErrors: string[] = [];
  const requests: string[] = [];
  const dialogs: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") consoleErrors.push(m.text());
  });
  page.on("pageerror", (e) => consoleErrors.push(e.message));
  page.on("request", (r) => requests.push(r.url()));
  page.on("dialog", (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  await page.goto(pathToFileURL(index).href);
  await page.waitForFunction(() => [...document.querySelectorAll("[data-chart]")].every((el) => (el as HTMLElement).dataset.rendered), null, { timeout: 20_000 });
  return { page, consoleErrors, requests, dialogs };
}

test("the report opens offline: every chart renders, no console error, no request but the page", async () => {
  const { index, model } = await writeReport(FIXTURE, tempDir());
  const { page, consoleErrors, requests } = await open(index);
  const states = await page.$$eval("[data-chart]", (els) => els.map((el) => [(el as HTMLElement).dataset.chart, (el as HTMLElement).dataset.rendered, el.querySelectorAll("svg").length]));
  assert.ok(states.length >= 6, `charts: ${JSON.stringify(states)}`);
  for (const [id, rendered, svgs] of states) assert.ok(rendered === "true" && (svgs as number) > 0, `chart ${id}: ${rendered}`);
  assert.deepEqual(consoleErrors, []);
  assert.deepEqual(requests, [pathToFileURL(index).href]);
  // Every seed table is there with a verdict in every cell.
  const tables = await page.$$eval("table.claims", (ts) => ts.map((t) => t.querySelectorAll("td.claim").length));
  assert.equal(tables.length, model.tables.length);
  assert.equal(tables.reduce((a, b) => a + b, 0), Object.values(model.verdicts).reduce((a, b) => a + b, 0));
  assert.ok(model.verdicts.holds + model.verdicts["does not hold"] > 0, "the fixture's cells decide some claims");
  mkdirSync(OUTPUTS, { recursive: true });
  await page.screenshot({ path: join(OUTPUTS, "report.png"), fullPage: false });
  await page.close();
});

test("hostile strings in a results file render as text, inert", async () => {
  const run = JSON.parse(readFileSync(join(FIXTURE, "result.json"), "utf8")) as RunResult;
  const hostile = `<script>alert("workload")</script><img src=x onerror=alert(1)>`;
  run.id = "hostile";
  run.workload.name = hostile;
  run.command = ["rtbench", "run", hostile];
  run.cells[0]!.transport = `<img src=x onerror=alert("transport")>`;
  run.cells[0]!.saturationReasons = ["</script><script>alert(2)</script>"];
  run.cells[0]!.saturated = true;
  const dir = tempDir();
  writeFileSync(join(dir, "result.json"), JSON.stringify(run));
  const { index } = await writeReport(dir, join(dir, "out"));
  const { page, consoleErrors, requests, dialogs } = await open(index);
  assert.deepEqual(dialogs, [], "no script from the data ran");
  assert.deepEqual(requests, [pathToFileURL(index).href], "no image from the data was fetched");
  assert.deepEqual(consoleErrors, []);
  assert.equal(await page.locator("img").count(), 0);
  assert.ok((await page.textContent("body"))!.includes(hostile), "the hostile name is shown as text");
  await page.screenshot({ path: join(OUTPUTS, "hostile.png") });
  await page.close();
});

test("with scripts off, the page shows the static SVG charts instead", async () => {
  const { index } = await writeReport(FIXTURE, tempDir());
  const context = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await page.goto(pathToFileURL(index).href);
  const figures = await page.$$eval("figure.chart", (fs) => fs.map((f) => f.querySelectorAll("noscript svg, svg").length));
  assert.ok(figures.length >= 6 && figures.every((n) => n > 0), `svg per figure: ${JSON.stringify(figures)}`);
  await context.close();
});

test("the static SVG charts and summary.md are written beside the page", async () => {
  const { dir } = await writeReport(FIXTURE, tempDir());
  const md = readFileSync(join(dir, "summary.md"), "utf8");
  for (const id of ["p99", "throughput", "spectrum", "latency-vs-rate", "memory-per-connection", "loss"]) {
    assert.ok(existsSync(join(dir, "charts", `${id}.svg`)), id);
    assert.ok(readFileSync(join(dir, "charts", `${id}.svg`), "utf8").startsWith("<svg"), id);
    assert.ok(md.includes(`charts/${id}.svg`), `summary.md links ${id}`);
  }
  assert.match(md, /\| \*\*Latency\*\* \| Low to medium: \*\*holds\*\*/);
});

test("unavailable and saturated cells are said as such, brokers go by family, the table fits 1400 px and verdicts link to their cells", async () => {
  const run = JSON.parse(readFileSync(join(FIXTURE, "result.json"), "utf8")) as RunResult;
  const [sse] = run.cells;
  const like = (over: Partial<RunResult["cells"][number]>) => ({ ...sse!, ...over }) as RunResult["cells"][number];
  run.id = "families";
  // Listed out of family order on purpose: Kafka before Redis before the in-process broker.
  run.cells = [
    like({ id: "k", broker: "kafka", saturated: true, saturationReasons: ["fleet process 0 event loop busy 97% of the time"] }),
    like({ id: "r", broker: "redis-pubsub" }),
    ...run.cells,
    like({ id: "d", transport: "direct", broker: "inproc", status: "unavailable", error: "direct × inproc: the in-process broker lives inside the relay process, and direct has no relay", counts: { expected: 0, delivered: 0, lost: 0, duplicated: 0, reordered: 0 } }),
  ];
  const dir = tempDir();
  writeFileSync(join(dir, "result.json"), JSON.stringify(run));
  const { index } = await writeReport(dir, join(dir, "out"));
  const { page, consoleErrors } = await open(index);
  await page.setViewportSize({ width: 1400, height: 900 });
  assert.deepEqual(consoleErrors, []);
  const rows = await page.$$eval("table.cells tbody tr", (trs) => trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent ?? "")));
  assert.deepEqual(rows.map((r) => `${r[0]} ${r[1]}`), ["sse inproc", "sse redis-pubsub", "sse kafka", "ws inproc", "direct inproc"], "transports, then brokers by family");
  const unavailable = rows.find((r) => r[0] === "direct")!;
  assert.match(unavailable.at(-1)!, /^unavailable: direct × inproc: the in-process broker/);
  assert.ok(!unavailable.some((v) => /^0 \/ 0$|^0 µs$/.test(v)), `no figure for what was not measured: ${JSON.stringify(unavailable)}`);
  assert.match(rows.find((r) => r[1] === "kafka")!.at(-1)!, /saturated \(the load generator's figure/);
  // The heatmaps paint neither in their colour scale: both grey, each labelled.
  for (const chart of ["p99", "throughput"]) {
    const svg = page.locator(`[data-chart="${chart}"] svg`);
    assert.equal(await svg.locator('path[fill="#e4e4e4"]').count(), 2, `${chart}: two grey squares`);
    const text = await svg.textContent();
    assert.match(text!, /unavailable/);
    assert.match(text!, /saturated: generator's figure/);
  }
  const fits = await page.$eval("table.cells", (t) => {
    const box = t.parentElement!;
    return { scroll: box.scrollWidth, client: box.clientWidth, window: window.innerWidth };
  });
  assert.ok(fits.scroll <= fits.client, `the cell table scrolls at 1400 px: ${JSON.stringify(fits)}`);
  // A decided verdict links to the rows it read, and each link's target is on the page.
  const links = await page.$$eval("td.claim .read a[href^='#cell-']", (as) => as.map((a) => a.getAttribute("href")!));
  assert.ok(links.length > 0, "a verdict links to its cells");
  for (const href of links) assert.equal(await page.locator(href.replace(/([.+|])/g, "\\$1")).count(), 1, href);
  await page.screenshot({ path: join(OUTPUTS, "families.png"), fullPage: true });
  await page.close();
});

test("the decision guide in the page ranks, excludes and leaves undecided exactly as rtbench advise does, and says what is unknown", async () => {
  const run = JSON.parse(readFileSync(join(FIXTURE, "result.json"), "utf8")) as RunResult;
  const [sse, , ws] = run.cells;
  run.id = "guide";
  run.cells = [
    ...run.cells,
    { ...sse!, id: "ramp", scenario: "connections", ramp: { maxConnections: 10_000, limitMeasured: false, stoppedBy: "max-clients", steps: [] } } as unknown as RunResult["cells"][number],
    { ...sse!, id: "drop", scenario: "reconnect", fault: { kind: "drop", atS: 1, struck: true, restartsRelay: false }, counts: { ...sse!.counts, lost: 0 } } as RunResult["cells"][number],
    { ...ws!, id: "wsdrop", scenario: "reconnect", fault: { kind: "drop", atS: 1, struck: true, restartsRelay: false }, counts: { ...ws!.counts, lost: 7 } } as RunResult["cells"][number],
  ];
  const dir = tempDir();
  writeFileSync(join(dir, "result.json"), JSON.stringify(run));
  const { index } = await writeReport(dir, join(dir, "out"));
  const { page, consoleErrors, requests } = await open(index);
  const answer = async () => {
    await page.waitForSelector("#guide-answer[data-rendered=true]");
    return page.$eval("#guide-answer", (el) => ({
      unknown: [...el.querySelectorAll(".guide-unknown li")].map((li) => li.textContent),
      ranked: [...el.querySelectorAll("table.guide-ranked tr")].slice(1).map((tr) => [...tr.querySelectorAll("td")].slice(1).map((td) => td.textContent).join(": ")),
      undecided: [...el.querySelectorAll(".guide-undecided li")].map((li) => li.textContent),
      excluded: [...el.querySelectorAll(".guide-excluded li")].map((li) => li.textContent),
    }));
  };
  const expected = (needs: string) => {
    const a = advise(run.cells, parseNeeds(needs));
    return {
      unknown: a.unknown.map((u) => `${u.need}: ${u.why}`),
      ranked: a.ranked.map((r) => `${r.pairing}: ${r.figures.join("; ")}`),
      undecided: a.undecided.map((u) => `${u.pairing}: ${u.missing.join("; ")}`),
      excluded: a.excluded.map((e) => `${e.pairing}: ${e.because.join("; ")}`),
    };
  };
  // The page opens on seed 003's example: server push to 10,000 browsers, p99 < 100 ms, replay.
  const preset = await answer();
  assert.deepEqual(preset, expected("p99=100ms,connections=10000,replay=yes,browser=yes"));
  assert.deepEqual(preset.ranked.map((r) => r.split(":")[0]), ["sse × inproc"]);
  assert.match(preset.unknown[0]!, /^browser=yes: no scenario drives real browsers yet/);
  assert.match(preset.excluded[0]!, /^ws × inproc: replay=yes: lostAcrossRelayDrop 7/);
  // A pairing without a figure a need reads is undecided, in advise's words.
  await page.uncheck("#guide-needs input[name=replay]");
  const unmeasured = await answer();
  assert.deepEqual(unmeasured, expected("p99=100ms,connections=10000,browser=yes"));
  assert.deepEqual(unmeasured.undecided, ["ws × inproc: connections: not measured (connections scenario)"]);
  // Other needs, typed into the form: the page's answer follows, still advise's.
  const p99s = advise(run.cells, parseNeeds("p99=3600s")).ranked.map((r) => r.p99Us!);
  const between = Math.round((Math.min(...p99s) + Math.max(...p99s)) / 2 / 10) / 100; // ms, between the two pairings' p99
  await page.fill("#guide-needs input[name=connections]", "");
  await page.uncheck("#guide-needs input[name=replay]");
  await page.uncheck("#guide-needs input[name=browser]");
  await page.check("#guide-needs input[name=two-way]");
  await page.fill("#guide-needs input[name=p99]", String(between));
  const typed = await answer();
  assert.deepEqual(typed, expected(`p99=${between}ms,two-way=yes`));
  // One pairing is under the p99 and waits on two-way, which this run (no chat cells) did not measure; the other is over it.
  assert.equal(typed.ranked.length, 0, JSON.stringify(typed));
  assert.equal(typed.undecided.length, 1, JSON.stringify(typed));
  assert.match(typed.undecided[0]!, /two-way: not measured \(chat scenario\)/);
  assert.equal(typed.excluded.length, 1);
  assert.deepEqual(consoleErrors, [], "the guide's script runs under the page's policy");
  assert.deepEqual(requests, [pathToFileURL(index).href]);
  await page.locator("#guide").screenshot({ path: join(OUTPUTS, "guide.png") });
  await page.close();
});
