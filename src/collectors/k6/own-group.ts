// Starting a k6 runner in a process group of its own. Node can only do that with a session of
// its own (detached: setsid), and under Linux autogroup scheduling a new session is a new
// scheduling group at nice 0: the runner would then compete with the service as an equal, however
// niced this program is (LOCAL_RUN_NICE). So the runner's group gets this program's nice value.
import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";

export function spawnInOwnGroup(command: string, args: readonly string[], options: SpawnOptions): ChildProcess {
  const child = spawn(command, args, { ...options, detached: true });
  const nice = ownAutogroupNice();
  if (child.pid !== undefined && nice) {
    try {
      writeFileSync(`/proc/${child.pid}/autogroup`, String(nice));
    } catch {
      // it already ended, or autogroups cannot be set here: its task nice value (inherited) is what counts
    }
  }
  return child;
}

/** This process's autogroup nice value ("/autogroup-42 nice 10"), or null without autogroups. */
function ownAutogroupNice(): number | null {
  try {
    const match = /nice\s+(-?\d+)/.exec(readFileSync("/proc/self/autogroup", "utf8"));
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}
