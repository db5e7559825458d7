/**
 * One folder per run. result.json is rewritten atomically (temp file + rename) after
 * every cell, so an interrupted run keeps every cell that finished.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SCHEMA_VERSION, type CellResult, type RunMeta, type RunResult } from "./schema.js";

export class RunStore {
  readonly dir: string;
  readonly file: string;
  private readonly result: RunResult;

  constructor(outDir: string, meta: RunMeta) {
    this.dir = join(outDir, meta.id);
    this.file = join(this.dir, "result.json");
    mkdirSync(this.dir, { recursive: true });
    this.result = { ...meta, cells: [] };
    this.flush();
  }

  get cells(): readonly CellResult[] {
    return this.result.cells;
  }

  addCell(cell: CellResult): void {
    this.result.cells.push(cell);
    this.flush();
  }

  finish(interrupted: boolean): void {
    this.result.finishedAt = new Date().toISOString();
    if (interrupted) this.result.interrupted = true;
    this.flush();
  }

  private flush(): void {
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.result, null, 1));
    renameSync(tmp, this.file);
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
  if (run.schemaVersion !== SCHEMA_VERSION || !Array.isArray(run.cells)) {
    throw new RunReadError(`${label} ${file}: expected a result with schemaVersion ${SCHEMA_VERSION} and cells`);
  }
  return run;
}
