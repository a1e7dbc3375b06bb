// Stopping a child started with `detached: true` (its own process group): wrangler dev and the
// workerd it starts, or scripts/dev.mjs and everything under it, stop together.

/**
 * Sends `signal` to the child's whole group, waits up to `graceMs` for `exited` (the child's exit,
 * as a promise), then SIGKILLs whatever of the group is left. A group already gone is no error.
 * Answers whether the child exited within the grace period.
 */
export async function stopProcessGroup(child, exited, { signal = "SIGTERM", graceMs = 5_000 } = {}) {
  signalGroup(child.pid, signal);
  let timer;
  const inTime = await Promise.race([exited.then(() => true), new Promise((resolve) => (timer = setTimeout(() => resolve(false), graceMs)))]);
  clearTimeout(timer);
  signalGroup(child.pid, "SIGKILL");
  return inTime;
}

function signalGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}
