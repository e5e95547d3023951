// The re-basing thread's entry (started by runtime/train/rebase-worker.ts): runs runtime/sd/rebase.ts
// for the jobs of each request, in order, posting each result on the results port as soon as it is
// done, and stops taking a request's jobs once the main thread has claimed the rest (it computes
// them itself: RebaseTicket#finish). It lowers its own scheduling priority first (nice 19, Linux:
// setpriority on its thread id), so on a CPU adapter, whose worker threads are the device, it runs
// in the time they leave idle instead of taking a core from them.
// Invariants: the same code and inputs as the main thread's rebase(), so the same bits; it never
// transfers (detaches) a buffer, so this isolate's typed arrays keep V8's fast path (vector.ts).
import { parentPort, type MessagePort } from 'node:worker_threads';
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { rebase } from '../sd/rebase.ts';
import type { JobResult, RebaseRequest, ThreadSetup } from './rebase-worker.ts';

/** nice 19 for this thread only: /proc/thread-self names its thread id. Elsewhere it keeps its priority. */
function lowerPriority(): boolean {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (!Number.isInteger(tid) || tid <= 0) return false;
    setPriority(tid, 19);
    return true;
  } catch {
    return false;
  }
}

const control = parentPort;
if (!control) throw new Error('rebase-thread.ts runs as a worker thread (runtime/train/rebase-worker.ts)');
let results: MessagePort | null = null;
let claimed: Int32Array | null = null;
control.on('message', (m: ThreadSetup | RebaseRequest) => {
  if ('results' in m) {
    results = m.results;
    claimed = m.claimed;
    control.postMessage({ ready: true, lowered: m.lowerPriority ? lowerPriority() : false });
    return;
  }
  const { id, jobs } = m;
  for (const [index, job] of jobs.entries()) {
    // The main thread claims a request's remaining jobs (claimed[0] = its id) when it needs them now.
    if (Atomics.load(claimed!, 0) >= id) break;
    let reply: JobResult;
    try {
      const r = rebase(job);
      // Unchanged arrays stay on the caller's side (it still has them): no copy back.
      reply = { id, index, result: { ...r, common: r.changed.common ? r.common : null, unique: r.changed.unique ? r.unique : null } };
    } catch (e) {
      reply = { id, index, error: e instanceof Error ? e.message : String(e) };
    }
    results!.postMessage(reply);
  }
  control.postMessage({ done: id });
});
