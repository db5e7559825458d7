/** Reading other processes from /proc (Linux): a broker server's or a proxy's RSS and CPU by pid. */
import { readdirSync, readFileSync } from "node:fs";

/** Clock ticks per second of /proc/<pid>/stat's times (USER_HZ, 100 on Linux). */
const TICKS_PER_S = 100;

function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) * 1024 : 0;
}

/** The fields of /proc/<pid>/stat after the command's closing parenthesis (state is [0]). */
function statFields(pid: number): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

function cpuUsOf(pid: number): number {
  const f = statFields(pid);
  // utime and stime: fields 14 and 15 of stat, [11] and [12] here.
  return ((Number(f[11]) + Number(f[12])) / TICKS_PER_S) * 1e6;
}

/** A process and every descendant, the root first; null where /proc cannot be read. */
function treePids(root: number): number[] | null {
  try {
    const children = new Map<number, number[]>();
    for (const entry of readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const ppid = Number(statFields(Number(entry))[1]);
        const list = children.get(ppid) ?? [];
        list.push(Number(entry));
        children.set(ppid, list);
      } catch {
        /* gone meanwhile */
      }
    }
    const pids: number[] = [];
    const todo = [root];
    while (todo.length > 0) {
      const pid = todo.pop()!;
      pids.push(pid);
      todo.push(...(children.get(pid) ?? []));
    }
    return pids;
  } catch {
    return null;
  }
}

/** Sums `of` over a process and every descendant; null once the root is gone. */
function overTree(root: number, of: (pid: number) => number): number | null {
  const pids = treePids(root);
  if (!pids) return null;
  let total = 0;
  for (const pid of pids) {
    try {
      total += of(pid);
    } catch {
      if (pid === root) return null;
    }
  }
  return total;
}

/** Proportional set size (Linux's smaps_rollup): shared pages split between the processes sharing them, so a tree's sum counts each page once. */
function pssOf(pid: number): number {
  const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"));
  return m ? Number(m[1]) * 1024 : 0;
}

/** PSS and CPU of this process's descendants (a browser it launched), not its own, from one walk of /proc; null where it cannot be read. */
export function descendantsOfSelf(): { pssBytes: number; cpuUs: number } | null {
  const pids = treePids(process.pid);
  if (!pids) return null;
  let pssBytes = 0;
  let cpuUs = 0;
  for (const pid of pids.slice(1)) {
    try {
      pssBytes += pssOf(pid);
      cpuUs += cpuUsOf(pid);
    } catch {
      /* gone meanwhile */
    }
  }
  return { pssBytes, cpuUs };
}

/** RSS of a process and every descendant (a broker may be a script that starts the real server); null once it is gone. */
export function treeRssBytes(root: number): number | null {
  return overTree(root, rssOf);
}

/** CPU time a process and its living descendants have used (nginx's workers), in µs, at 10 ms resolution. */
export function treeCpuUs(root: number): number | null {
  return overTree(root, cpuUsOf);
}
