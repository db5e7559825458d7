/**
 * The report's decision guide: `rtbench advise` in the page. The needs are inputs; the
 * page judges each pairing's figures with advise's own `meets` (its source is carried
 * into the script) and lists the ranked, undecided and excluded pairings below. Offline,
 * no eval: the script is hashed into the page's Content-Security-Policy, and writes
 * text nodes only.
 */
import type { CellResult } from "../results/schema.js";
import { escapeHtml } from "./html.js";
import { meets, NEEDS, notMeasured, pairingFigures, type PairingFigures } from "./advise.js";

export interface GuideData {
  needs: Array<{ key: string; describe: string; form: string; test?: string; metrics?: readonly string[]; notMeasured?: string; unmeasured?: string }>;
  pairings: PairingFigures[];
}

export function guideData(cells: readonly CellResult[]): GuideData {
  return {
    needs: Object.entries(NEEDS).map(([key, n]) => ({
      key,
      describe: n.describe,
      form: n.form,
      ...(n.criterion ? { test: n.criterion.test, metrics: n.criterion.metrics, notMeasured: notMeasured(key) } : { unmeasured: n.unmeasured! }),
    })),
    pairings: pairingFigures(cells),
  };
}

/** The worked example the page opens with: seed 003's "server push to 10,000 browsers, p99 < 100 ms, replay after reconnect". */
export const GUIDE_PRESET: Readonly<Record<string, string>> = { p99: "100", connections: "10000", replay: "yes", browser: "yes" };

const UNIT_LABEL: Record<string, string> = { duration: "ms", count: "", rate: "/s" };

export function guideSection(): string {
  const inputs = Object.entries(NEEDS).map(([key, n]) => {
    const preset = GUIDE_PRESET[key];
    const control =
      n.form === "yes"
        ? `<input type="checkbox" name="${key}"${preset === "yes" ? " checked" : ""}>`
        : `<input type="number" min="0" step="any" name="${key}" value="${escapeHtml(preset ?? "")}" placeholder="any">${UNIT_LABEL[n.form] ? ` ${UNIT_LABEL[n.form]}` : ""}`;
    return `<label title="${escapeHtml(n.describe)}"><span>${escapeHtml(key)}</span> ${control}</label>`;
  });
  return `<section id="guide"><h2>Decision guide</h2>
<p class="note">Seed 003's questions answered from this page's cells, as <code>rtbench advise</code> answers them: set the needs, and the pairings that meet every measured one are ranked by p99. A need no scenario measures is listed as unknown, never guessed. Hover a need for what it reads. It opens on the example "server push to 10,000 browsers, p99 &lt; 100 ms, replay after reconnect".</p>
<form id="guide-needs" class="guide">${inputs.join("")}</form>
<div id="guide-answer"><noscript><p>The guide runs in the page; without scripts, <code>rtbench advise RUN --need …</code> gives the same answer.</p></noscript></div></section>`;
}

/** The page's script: reads the form, judges with advise's `meets`, writes the answer as text. */
export const GUIDE_SCRIPT = `
const meets = ${meets.toString()};
const guide = JSON.parse(document.getElementById("rtbench-guide").textContent);
const form = document.getElementById("guide-needs");
const answer = document.getElementById("guide-answer");
function el(tag, text, cls) { const e = document.createElement(tag); if (text !== undefined) e.textContent = text; if (cls) e.className = cls; return e; }
function limitOf(need) {
  const input = form.elements[need.key];
  if (need.form === "yes") return input.checked ? 0 : null;
  if (input.value.trim() === "" || !Number.isFinite(Number(input.value))) return null;
  return need.form === "duration" ? Number(input.value) * 1000 : Number(input.value);
}
function given(need) { const input = form.elements[need.key]; return need.form === "yes" ? "yes" : input.value + (need.form === "duration" ? "ms" : ""); }
function render() {
  const asked = [], unknown = [];
  for (const need of guide.needs) {
    const limit = limitOf(need);
    if (limit === null) continue;
    if (need.unmeasured) unknown.push(need); else asked.push({ need, limit });
  }
  const ranked = [], undecided = [], excluded = [];
  for (const p of guide.pairings) {
    const judged = asked.map(({ need, limit }) => {
      const found = need.metrics.filter((m) => p.figures[m]).map((m) => p.figures[m]);
      const figure = found.length ? found.map((f) => f.text).join(", ") : need.notMeasured;
      return { need, met: meets(need.test, found, limit), figure };
    });
    const say = (j) => j.need.key + ": " + j.figure;
    if (judged.some((j) => j.met === false)) excluded.push({ p, why: judged.filter((j) => j.met === false).map((j) => j.need.key + "=" + given(j.need) + ": " + j.figure) });
    else if (judged.some((j) => j.met === undefined)) undecided.push({ p, why: judged.filter((j) => j.met === undefined).map(say) });
    else ranked.push({ p, why: judged.map(say), p99: p.figures.p99 ? p.figures.p99.value : Infinity });
  }
  ranked.sort((a, b) => a.p99 - b.p99);
  answer.replaceChildren();
  if (unknown.length) {
    answer.append(el("h3", "Unknown: no run here measures it, so no pairing is judged on it"));
    const ul = el("ul", undefined, "guide-unknown");
    for (const n of unknown) ul.append(el("li", n.key + "=yes: " + n.unmeasured));
    answer.append(ul);
  }
  answer.append(el("h3", ranked.length ? "Meet every measured need, lowest p99 first" : "No pairing meets every measured need"));
  const table = el("table", undefined, "guide-ranked");
  const head = el("tr");
  for (const h of ["#", "pairing", "figures"]) head.append(el("th", h));
  table.append(head);
  ranked.forEach((r, i) => { const tr = el("tr"); tr.append(el("td", String(i + 1)), el("td", r.p.pairing), el("td", r.why.join("; "))); table.append(tr); });
  answer.append(table);
  for (const [title, list, cls] of [["Undecided: their cells lack a figure a need reads", undecided, "guide-undecided"], ["Excluded", excluded, "guide-excluded"]]) {
    if (!list.length) continue;
    answer.append(el("h3", title));
    const ul = el("ul", undefined, cls);
    for (const x of list) ul.append(el("li", x.p.pairing + ": " + x.why.join("; ")));
    answer.append(ul);
  }
  answer.dataset.rendered = "true";
}
form.addEventListener("input", render);
form.addEventListener("submit", (e) => e.preventDefault());
render();`;
