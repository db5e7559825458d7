/**
 * One folder per run. result.json is rewritten atomically (temp file + rename) after
 * every cell, so an interrupted run keeps every cell that finished.
 */
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { CellResult, RunMeta, RunResult } from "./schema.js";

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
