/**
 * The layers, as the sources import them (type-only imports included: a reader sees
 * them too): no import cycle anywhere, core/ the ground floor (it imports nothing of
 * ours outside it), and nothing under transports/, brokers/, core/ or results/
 * reaching up into harness/.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const SOURCES = fileURLToPath(new URL("../../", import.meta.url));
const LAYERS = ["core", "brokers", "transports", "results", "reports", "harness", "bench"] as const;

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    return statSync(path).isDirectory() ? tsFiles(path) : path.endsWith(".ts") ? [path] : [];
  });
}

/** Each module of ours (tests aside) and the modules of ours it imports, statically, dynamically or for types only. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const layer of LAYERS) {
    let files: string[];
    try {
      files = tsFiles(join(SOURCES, layer));
    } catch {
      continue;
    }
    for (const file of files) {
      const text = readFileSync(file, "utf8");
      const specs = [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)["'](\.\.?\/[^"']+)["']/g)].map((m) => m[1]!);
      graph.set(
        relative(SOURCES, file),
        specs.map((s) => relative(SOURCES, resolve(dirname(file), s.replace(/\.js$/, ".ts")))),
      );
    }
  }
  return graph;
}

/** Every cycle, as the modules on it (Tarjan's strongly connected components of more than one module, or a self-import). */
function cycles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const stack: string[] = [];
  const on = new Set<string>();
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return out;
}

const layerOf = (module: string): string => module.split("/")[0]!;

test("no import cycle", () => {
  const graph = importGraph();
  assert.ok(graph.size > 50, `expected the sources under ${SOURCES}, found ${graph.size}`);
  assert.deepEqual(cycles(graph), []);
});

test("core/ imports nothing of ours outside it; transports/, brokers/, core/ and results/ never import harness/", () => {
  const graph = importGraph();
  const wrong: string[] = [];
  for (const [module, deps] of graph) {
    const layer = layerOf(module);
    for (const dep of deps) {
      const to = layerOf(dep);
      if (layer === "core" && to !== "core") wrong.push(`${module} → ${dep}`);
      if (["transports", "brokers", "core", "results"].includes(layer) && to === "harness") wrong.push(`${module} → ${dep}`);
      if (layer === "results" && !["results", "core"].includes(to)) wrong.push(`${module} → ${dep}`);
      if (["transports", "brokers"].includes(layer) && !["transports", "brokers", "core"].includes(to)) wrong.push(`${module} → ${dep}`);
    }
  }
  assert.deepEqual(wrong, []);
});

test("the cycle finder finds a cycle (so the tests above can fail)", () => {
  const graph = new Map([
    ["a.js", ["b.js"]],
    ["b.js", ["c.js"]],
    ["c.js", ["a.js"]],
    ["d.js", ["a.js"]],
  ]);
  assert.deepEqual(cycles(graph), [["a.js", "b.js", "c.js"]]);
});
