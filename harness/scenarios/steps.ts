/**
 * The stepped loop that saturation, connections and scale-out share: each step a whole
 * steady cell with its own workload, judged when it ends; the loop stops at the first
 * step that does not hold, and a step the machine cannot hold is recorded untried.
 */
import { runCell } from "../runner.js";
import type { CellResult, Workload } from "../../results/schema.js";
import type { CellHooks, CellSpec } from "./scenario.js";

export interface Step<S> {
  /** Shown in the progress line: "step 2 at 300/s", "5000 connections". */
  label: string;
  workload: Workload;
  /** Why this step is not tried (the machine cannot hold it), and what to record for it. */
  untried?: { record: S; stoppedBy: string };
}

export interface Judged<S> {
  record: S;
  /** The step held: the loop goes on, and this cell is the best so far. */
  held: boolean;
  /** Why the loop stops here, when it did not hold. */
  stoppedBy?: string;
}

export interface SteppedResult<S> {
  steps: S[];
  /** The last step that held. */
  best: CellResult | undefined;
  /** The first step run (the cell's figures when none held). */
  first: CellResult | undefined;
  /** The last step run, held or not. */
  last: CellResult | undefined;
  /** What ended the loop; undefined when every step held. */
  stoppedBy: string | undefined;
}

export async function runSteps<S>(spec: CellSpec, hooks: CellHooks, steps: Iterable<Step<S>>, judge: (cell: CellResult) => Judged<S>): Promise<SteppedResult<S>> {
  const records: S[] = [];
  let best: CellResult | undefined;
  let first: CellResult | undefined;
  let last: CellResult | undefined;
  for (const step of steps) {
    if (step.untried) {
      records.push(step.untried.record);
      return { steps: records, best, first, last, stoppedBy: step.untried.stoppedBy };
    }
    const cell = await runCell({ ...spec, workload: step.workload }, { phase: (text) => hooks.phase(`${step.label}: ${text}`), progress: hooks.progress });
    first ??= cell;
    last = cell;
    const judged = judge(cell);
    records.push(judged.record);
    if (!judged.held) return { steps: records, best, first, last, stoppedBy: judged.stoppedBy };
    best = cell;
  }
  return { steps: records, best, first, last, stoppedBy: undefined };
}
