// A thread of its own for the host side of SD-MoE re-basing (the SVDs of runtime/sd/rebase.ts).
//
// Why: on a CPU adapter the device is lavapipe's worker threads, one per core, and a re-basing's SVDs
// on the main thread compete with them wherever they run. The thread (rebase-thread.ts) runs at nice
// 19, so it gets the CPU the device leaves idle, and the trainer posts a re-basing as soon as the step
// that read W_c is back, so it has until the next step's first dispatch that needs the new bases
// (spectral.ts#rebaseOverlapStart). `npm run bench -- sd-cost` times a carried re-basing both ways in
// the same rounds; medians of six runs (docs/results/issue7/stop23/sd-cost-{2..7}.md): qwen_tiny 4.0 ms
// added to its step on the thread against 11.0 on the main thread, the demo 3.3 against 3.3 (within
// that bench's noise, ±10–30 ms per paired difference).
//
// A nice-19 thread gets next to nothing while other processes keep every core busy, so the main
// thread never waits for it: RebaseTicket#finish claims whatever jobs the thread has not delivered
// yet (a shared counter the thread checks before each job), computes them itself, and drains the
// delivered results synchronously (receiveMessageOnPort). A job the thread was in the middle of is
// computed twice; its late result is dropped. Each result is rebase()'s on the same inputs, bit for
// bit (same code, same doubles), whichever thread computed it.
// Invariants: results in job order; the thread holds the process open only while something awaits it
// (start-up, RebaseTicket#settled); SDMOEC_REBASE_THREAD=off keeps every re-basing on the main thread.
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { InternalError } from '../../base/errors.ts';
import { rebase, type RebaseOptions, type RebaseResult } from '../sd/rebase.ts';

/** The first message to the thread: where results go, and the claim counter. */
export interface ThreadSetup {
  readonly results: MessagePort;
  /** claimed[0]: the last request id whose remaining jobs the main thread has claimed. */
  readonly claimed: Int32Array;
  readonly lowerPriority: boolean;
}

export interface RebaseRequest {
  readonly id: number;
  readonly jobs: readonly RebaseOptions[];
}

/** One job's rebase() result as the thread sends it: W_c and W_u only when they changed. */
export type JobResult =
  | { readonly id: number; readonly index: number; readonly result: Omit<RebaseResult, 'common' | 'unique'> & { common: Float32Array | null; unique: Float32Array | null } }
  | { readonly id: number; readonly index: number; readonly error: string };

/** Whether re-basing should use the thread (SDMOEC_REBASE_THREAD=off: the main thread). */
export function rebaseThreadWanted(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.SDMOEC_REBASE_THREAD !== 'off';
}

/** A started re-basing: its jobs run on the thread until `finish` takes the rest. */
export interface RebaseTicket {
  /** Every job's result, in order: the thread's delivered ones, the rest computed here and now. */
  finish(): RebaseResult[];
  /** Resolves once the thread has gone through the request (or the ticket was finished first). */
  settled(): Promise<void>;
  /** After finish: how many of the results the thread computed (the rest were computed by finish). */
  fromThread(): number;
  /** Stops the thread taking the request's remaining jobs and drops its results (nothing is computed here). */
  abandon(): void;
}

/**
 * Waits (idle: a timer and the thread's message) until the thread has gone through the ticket's jobs
 * or `ms` have passed, whichever comes first; finish then computes whatever is left. The trainer
 * waits about as long as the device takes to reach the first dispatch that needs the new bases.
 */
export function settleWithin(ticket: RebaseTicket, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, Math.max(0, ms));
    void ticket.settled().then(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** A ticket computed on the calling thread at `finish` (no thread). */
export function localTicket(jobs: readonly RebaseOptions[]): RebaseTicket {
  return { finish: () => jobs.map((job) => rebase(job)), settled: () => Promise.resolve(), fromThread: () => 0, abandon: () => {} };
}

// The thread loads TypeScript like the main thread does (bin/sdmoec.js registers tsx): through tsx's
// ESM API, found from this file (not the working directory), then the entry module.
const TSX_ESM_API = pathToFileURL(join(dirname(createRequire(import.meta.url).resolve('tsx/package.json')), 'dist/esm/api/index.mjs')).href;
const ENTRY = new URL('./rebase-thread.ts', import.meta.url).href;

export class RebaseWorker {
  private nextId = 1;
  private failure: Error | null = null;
  private readonly results: MessagePort;
  private readonly claimed = new Int32Array(new SharedArrayBuffer(4));
  private readonly waiting = new Map<number, () => void>();
  /** Results of later requests met while draining for an earlier one. */
  private stash: JobResult[] = [];
  private starting = true;
  private lastDone = 0;
  /** Resolves once the thread has loaded; `lowered`: whether it runs at nice 19. */
  readonly ready: Promise<{ lowered: boolean }>;

  private constructor(private readonly worker: Worker, lowerPriority: boolean) {
    const { port1, port2 } = new MessageChannel();
    this.results = port1;
    this.ready = new Promise((resolve, reject) => {
      worker.on('message', (m: { ready: true; lowered: boolean } | { done: number }) => {
        if ('ready' in m) {
          this.starting = false;
          this.keepAlive();
          resolve({ lowered: m.lowered });
        } else {
          // The thread takes requests in order: everything up to this id is through.
          this.lastDone = m.done;
          this.waiting.get(m.done)?.();
        }
      });
      worker.on('error', (e) => {
        this.failure ??= new InternalError(`the re-basing thread failed: ${e.message}`);
        reject(this.failure);
        this.releaseWaiters();
      });
      worker.on('exit', () => {
        this.failure ??= new InternalError('the re-basing thread exited');
        this.releaseWaiters();
      });
    });
    // A failed start only moves the work to the main thread (finish); never an unhandled rejection.
    this.ready.catch(() => {});
    worker.postMessage({ results: port2, claimed: this.claimed, lowerPriority } satisfies ThreadSetup, [port2]);
  }

  /** `lowerPriority` false: the thread keeps normal priority (A/B: SDMOEC_REBASE_NICE=0). */
  static start(lowerPriority = process.env.SDMOEC_REBASE_NICE !== '0'): RebaseWorker {
    const code = `(async () => { const { register } = await import(${JSON.stringify(TSX_ESM_API)}); register(); await import(${JSON.stringify(ENTRY)}); })().catch((e) => { console.error(e); process.exit(1); });`;
    return new RebaseWorker(new Worker(code, { eval: true, name: 'sdmoec-rebase' }), lowerPriority);
  }

  /** Starts `jobs` on the thread (in order); the ticket's finish returns them all. */
  start(jobs: readonly RebaseOptions[]): RebaseTicket {
    const id = this.nextId++;
    if (!this.failure) this.worker.postMessage({ id, jobs } satisfies RebaseRequest);
    const delivered = new Map<number, RebaseResult>();
    let finished = false;
    return {
      finish: () => {
        if (finished) throw new InternalError(`re-basing request ${id} finished twice`);
        finished = true;
        Atomics.store(this.claimed, 0, id);
        for (const r of this.drain(id)) {
          if ('error' in r) throw new InternalError(`re-basing on its thread failed: ${r.error}`);
          delivered.set(r.index, { ...r.result, common: r.result.common ?? jobs[r.index].common, unique: r.result.unique ?? jobs[r.index].unique });
        }
        this.waiting.get(id)?.();
        return jobs.map((job, i) => delivered.get(i) ?? rebase(job));
      },
      fromThread: () => delivered.size,
      abandon: () => {
        finished = true;
        Atomics.store(this.claimed, 0, id);
        this.drain(id);
        this.waiting.get(id)?.();
      },
      settled: () => {
        if (finished || this.failure || this.lastDone >= id) return Promise.resolve();
        return new Promise<void>((resolve) => {
          this.waiting.set(id, () => {
            this.waiting.delete(id);
            this.keepAlive();
            resolve();
          });
          this.keepAlive();
        });
      },
    };
  }

  /** Request `id`'s delivered results; later requests' are kept for them, earlier ones' (late: a job the thread was in when claimed) dropped. */
  private drain(id: number): JobResult[] {
    const all = [...this.stash];
    for (let m = receiveMessageOnPort(this.results); m; m = receiveMessageOnPort(this.results)) all.push(m.message as JobResult);
    this.stash = all.filter((r) => r.id > id);
    return all.filter((r) => r.id === id);
  }

  async close(): Promise<void> {
    this.failure ??= new InternalError('the re-basing thread was closed');
    this.releaseWaiters();
    await this.worker.terminate();
  }

  /** Starting up or being awaited keeps the process alive (an await alone does not); an idle thread does not. */
  private keepAlive(): void {
    if (this.starting || this.waiting.size > 0) this.worker.ref();
    else this.worker.unref();
  }

  private releaseWaiters(): void {
    for (const release of [...this.waiting.values()]) release();
  }
}
