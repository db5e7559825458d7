/**
 * One folder per run. result.json is rewritten atomically (temp file + rename) after
 * every cell, so an interrupted run keeps every cell that finished.
 */
import { accessSync, constants, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statfsSync, statSync, writeFileSync, type Stats } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { redactDeep } from "./redact.js";
import { SCHEMA_VERSION, type CellResult, type RunMeta, type RunResult } from "./schema.js";

export class RunStore {
  readonly dir: string;
  readonly file: string;
  private readonly result: RunResult;
  /** Cells kept in memory only: written while result.json could not be (a full disk, a read-only file system). */
  private written = 0;
  /** Why the last write failed, while it does. */
  writeError: string | undefined;

  constructor(outDir: string, meta: RunMeta) {
    this.dir = join(outDir, meta.id);
    this.file = join(this.dir, "result.json");
    mkdirSync(this.dir, { recursive: true });
    this.result = { ...redactDeep(meta), cells: [] };
    if (!this.flush()) throw new Error(`cannot write ${this.file}: ${this.writeError}`);
  }

  get cells(): readonly CellResult[] {
    return this.result.cells;
  }

  /** Cells measured but not in result.json, because a write failed. */
  get unwritten(): readonly CellResult[] {
    return this.result.cells.slice(this.written);
  }

  /** Keeps the cell and rewrites result.json; false when the write failed (the cell stays in memory). */
  addCell(cell: CellResult): boolean {
    this.result.cells.push(redactDeep(cell));
    return this.flush();
  }

  finish(interrupted: boolean): boolean {
    this.result.finishedAt = new Date().toISOString();
    if (interrupted) this.result.interrupted = true;
    return this.flush();
  }

  /** Atomic: a temp file, then a rename. A failed write leaves result.json as it was and no temp file. */
  private flush(): boolean {
    const tmp = `${this.file}.${process.pid}.tmp`;
    try {
      writeFileSync(tmp, JSON.stringify(this.result, null, 1));
      renameSync(tmp, this.file);
      this.written = this.result.cells.length;
      this.writeError = undefined;
      return true;
    } catch (err) {
      rmSync(tmp, { force: true });
      this.writeError = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      return false;
    }
  }
}

/** Sortable, unique enough for one machine: 20261122-103000-ab12. */
export function newRunId(date = new Date()): string {
  const stamp = date.toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
  return `${stamp}-${Math.random().toString(16).slice(2, 6)}`;
}

/** A result that cannot be read: its message is one line naming the file. */
export class RunReadError extends Error {}

/** Reads a run given as its folder or its result.json; `label` says which side it is. */
export function readRun(path: string, label: string): RunResult {
  const file = existsSync(path) && statSync(path).isDirectory() ? join(path, "result.json") : path;
  let run: RunResult;
  try {
    run = JSON.parse(readFileSync(file, "utf8")) as RunResult;
  } catch (err) {
    throw new RunReadError(`${label} ${file}: cannot read a run result (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  if (run === null || typeof run !== "object" || run.schemaVersion !== SCHEMA_VERSION || !Array.isArray(run.cells)) {
    throw new RunReadError(`${label} ${file}: expected a result with schemaVersion ${SCHEMA_VERSION} and cells`);
  }
  run.cells.forEach((cell, i) => {
    const problem = cellProblem(cell);
    if (problem) {
      const name = cell !== null && typeof cell === "object" && typeof (cell as { id?: unknown }).id === "string" ? ` ("${(cell as { id: string }).id}")` : "";
      throw new RunReadError(`${label} ${file}: cell ${i + 1}${name}: ${problem}`);
    }
  });
  return run;
}

/** What a reader needs of every cell, checked before a report or a comparison reads it; null when it is there. */
function cellProblem(cell: unknown): string | null {
  if (cell === null || typeof cell !== "object" || Array.isArray(cell)) return `expected an object, got ${JSON.stringify(cell)}`;
  const c = cell as Record<string, unknown>;
  const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);
  for (const key of ["id", "transport", "broker", "scenario"]) {
    if (typeof c[key] !== "string") return `expected field "${key}" to be a string, got ${JSON.stringify(c[key]) ?? "nothing"}`;
  }
  if (!["ok", "failed", "unavailable"].includes(c.status as string)) return `expected field "status" to be ok, failed or unavailable, got ${JSON.stringify(c.status) ?? "nothing"}`;
  for (const key of ["params", "counts", "latencyUs", "connections", "resources", "histograms"]) {
    if (!isObject(c[key])) return `expected field "${key}" to be an object, got ${JSON.stringify(c[key]) ?? "nothing"}`;
  }
  const counts = c.counts as Record<string, unknown>;
  for (const key of ["expected", "delivered", "lost", "duplicated", "reordered"]) {
    if (typeof counts[key] !== "number") return `expected field "counts.${key}" to be a number, got ${JSON.stringify(counts[key]) ?? "nothing"}`;
  }
  if (typeof (c.histograms as Record<string, unknown>).latencyUs !== "string") return `expected field "histograms.latencyUs" to be an encoded histogram`;
  if (typeof c.throughput !== "number") return `expected field "throughput" to be a number, got ${JSON.stringify(c.throughput) ?? "nothing"}`;
  return null;
}

/** File systems that hold no files of ours: /proc, /sys and their kin (statfs magic numbers). */
const PSEUDO_FS = new Map<number, string>([
  [0x9fa0, "proc"],
  [0x62656572, "sysfs"],
  [0x1cd1, "devpts"],
  [0x63677270, "cgroup2"],
  [0x27e0eb, "cgroup"],
  [0x64626720, "debugfs"],
  [0x74726163, "tracefs"],
  [0x73636673, "securityfs"],
  [0xcafe4a11, "bpf"],
]);

/**
 * Why results cannot go under `path`, or null: checked before anything starts, so a
 * bad --out costs nothing. The folder need not exist; its nearest existing ancestor
 * must be a writable folder on a real file system.
 */
export function outDirProblem(path: string): string | null {
  if (path.trim() === "") return "expected a folder path, got an empty string";
  let at = resolve(path);
  for (;;) {
    let st: Stats | undefined;
    try {
      st = statSync(at);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") return `${at}: cannot be read (${(err as NodeJS.ErrnoException).code})`;
    }
    if (st) {
      if (!st.isDirectory()) return `${at} is ${st.isFile() ? "a file" : "not a folder (a device or socket)"}: expected a folder`;
      const fs = PSEUDO_FS.get(statfsSync(at).type);
      if (fs) return `${at} is on the ${fs} file system, which holds no files: expected a folder on a disk`;
      try {
        accessSync(at, constants.W_OK | constants.X_OK);
      } catch (err) {
        return `${at} is not writable (${(err as NodeJS.ErrnoException).code})`;
      }
      return null;
    }
    const up = dirname(at);
    if (up === at) return `${resolve(path)}: no folder of it exists`;
    at = up;
  }
}
