/**
 * One workload field: its kind, range and help. The common fields are in
 * harness/workload.ts, a scenario's own in its file; one table is built from both, so
 * files, flags and help cannot drift apart.
 */
import type { Workload } from "../results/schema.js";

export type Kind = "int" | "number" | "seconds" | "names" | "choice" | "string" | "floors";

export interface FieldSpec {
  key: keyof Workload;
  kind: Kind;
  help: string;
  min?: number;
  max?: number;
  /** Allowed names for "names" and "choice". */
  choices?: () => string[];
  /** The scenarios that read it; absent: every scenario. Given for another, it is an error, not silently ignored. */
  scenarios?: readonly string[];
}

