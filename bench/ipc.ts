/** What the multi-process benches share: waiting on a child's message, and their exit. */
import type { ChildProcess } from "node:child_process";

/** The child's next message of `kind`; rejects on its "error" message, its exit, or the timeout. */
export function next<T>(c: ChildProcess, kind: string, timeoutMs: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: no "${kind}" within ${timeoutMs / 1000} s`)), timeoutMs);
    const on = (m: { kind: string; message?: string }): void => {
      if (m.kind === "error") reject(new Error(`${what}: ${m.message}`));
      if (m.kind !== kind) return;
      clearTimeout(timer);
      c.off("message", on);
      resolve(m as T);
    };
    c.on("message", on);
    c.once("exit", (code) => reject(new Error(`${what} exited (${code}) before "${kind}"`)));
  });
}

/** Runs a bench's main; exits 0 when it is done, 1 with its error on one line. */
export function runBench(name: string, main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`${name}: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
