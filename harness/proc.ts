/** Reading other processes' memory from /proc (Linux): a broker server's RSS by pid. */
import { readdirSync, readFileSync } from "node:fs";

function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) * 1024 : 0;
}

/** RSS of a process and every descendant (a broker may be a script that starts the real server); null once it is gone. */
export function treeRssBytes(root: number): number | null {
  try {
    const children = new Map<number, number[]>();
    for (const entry of readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
        const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
        const list = children.get(ppid) ?? [];
        list.push(Number(entry));
        children.set(ppid, list);
      } catch {
        /* gone meanwhile */
      }
    }
    let total = 0;
    const todo = [root];
    while (todo.length > 0) {
      const pid = todo.pop()!;
      try {
        total += rssOf(pid);
      } catch {
        if (pid === root) return null;
      }
      todo.push(...(children.get(pid) ?? []));
    }
    return total;
  } catch {
    return null;
  }
}
