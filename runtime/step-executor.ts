// Runs an ExecutionPlan on the device: allocates its buffers, initialises params from their
// init attrs (seeded, one RNG stream per param name so adding a param never shifts the others),
// compiles every pipeline up front, pre-builds bind groups, and then executes a whole step as one
// compute pass in one submit. Dispatches in a pass are ordered with storage barriers between them,
// so a step costs one submit round trip plus ~20–30 µs per dispatch on lavapipe.
// Gradient accumulation (plan.accumulation): `run('micro')` is one micro-batch (forward, backward,
// acc += g) and `run('last')` the step's last micro-batch followed by g = (g + acc)/N and the
// update; `captureOutputs` copies a micro-batch's scalar outputs aside (queue-ordered, no wait)
// so the trainer reads all N back in one round trip at the end of the step.
import type { ExecutionPlan } from '../compiler/codegen/plan.ts';
import type { TensorType } from '../compiler/ir/types.ts';
import { numel } from '../compiler/ir/types.ts';
import { withErrorScopes } from './device.ts';
import type { HostArray, KernelExecutor } from './executor.ts';
import { Rng } from '../base/rng.ts';
import { InternalError } from '../base/errors.ts';
import { CompletionPacer, pacingEnabled } from './pacer.ts';

/** One range readSlots copies out: the slot `buffer`, `bytes` long, returned under `name`. */
interface SlotRead {
  readonly name: string;
  readonly buffer: number;
  readonly bytes: number;
  readonly int: boolean;
}

interface Slot {
  readonly buffer: GPUBuffer;
  readonly offset: number;
}

/** Copies encoded after a step's pass into a staging buffer, mapped by readStaged (no second submit). */
interface Staged {
  readonly staging: GPUBuffer;
  readonly specs: readonly SlotRead[];
  readonly offsets: readonly number[];
  readonly keep: boolean;
}

/** What run() copies out with the step (`read`): outputs and params, read back by readStaged. */
export interface StepReads {
  readonly outputs: readonly string[];
  readonly params?: readonly string[];
}

/** An output and a param may share a name: their read-backs are keyed apart. */
const stepReadKey = (kind: 'output' | 'param', name: string): string => `${kind}:${name}`;

/** The read-back of `read`, split into its outputs and params by name. */
function splitStepReads(read: StepReads, all: Record<string, Float32Array | Int32Array>): { outputs: Record<string, Float32Array | Int32Array>; params: Record<string, Float32Array> } {
  return {
    outputs: Object.fromEntries(read.outputs.map((n) => [n, all[stepReadKey('output', n)]])),
    params: Object.fromEntries((read.params ?? []).map((n) => [n, all[stepReadKey('param', n)] as Float32Array])),
  };
}

interface Prepared {
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  dispatch: readonly [number, number, number];
}

export class StepExecutor {
  /** Where each plan buffer lives: its own GPU buffer, a slab's at an offset, or a shared one. */
  private slots: Slot[] = [];
  private owned: GPUBuffer[] = [];
  /** Kept staging buffers by use and size: a staged step read never shares one with readOutputs. */
  private readonly staging = new Map<string, GPUBuffer>();
  /** Read by profileStep (same module). */
  prepared: Prepared[] = [];
  private accumulate: { add: Prepared[]; finish: Prepared[] } | null = null;
  private capture: { buffer: GPUBuffer; bytes: number; offsets: Map<string, number>; stride: number } | null = null;
  /** The read-back copies the last run() encoded after its pass (`read`), until readStaged maps them. */
  private staged: (Staged & { readonly read: StepReads }) | null = null;

  /** Sleeps before the first wait on a submission instead of letting dawn.node spin (pacer.ts).
   *  Replaceable between steps (bench/pacing.ts compares ways of waiting on one executor). */
  pacer: CompletionPacer;

  constructor(readonly exec: KernelExecutor, readonly plan: ExecutionPlan) {
    this.pacer = new CompletionPacer(pacingEnabled(exec.ctx.caps.cpuAdapter));
  }

  get dispatchCount(): number {
    return this.plan.dispatches.length;
  }

  /**
   * Allocates buffers, compiles pipelines and initialises params with a seeded RNG. With `share`,
   * params of the same name use that executor's storage (an eval program reading the training
   * program's weights, wherever they sit in its slabs) and are not re-initialised.
   */
  async init(seed: number, share?: StepExecutor): Promise<void> {
    const { device } = this.exec;
    const shared = new Map<number, Slot>();
    if (share) {
      for (const [name, spec] of Object.entries(this.plan.params)) {
        const theirs = share.plan.params[name];
        if (theirs) shared.set(spec.buffer, share.slots[theirs.buffer]);
      }
      // Global load-balance counts: the counting plan and the step plan use one buffer per loss.
      for (const [name, id] of Object.entries(this.plan.auxCounts ?? {})) {
        const theirs = share.plan.auxCounts?.[name];
        if (theirs !== undefined) shared.set(id, share.slots[theirs]);
      }
    }
    await withErrorScopes(this.exec.ctx, { label: 'allocate step buffers' }, () => {
      // Slab slots (views) live inside their slab's GPU buffer at their offset.
      const own = new Map<number, GPUBuffer>();
      for (const b of this.plan.buffers) {
        if (!b.view && !shared.has(b.id)) own.set(b.id, this.exec.createBuffer(b.bytes, `${b.kind}:${b.name}`));
      }
      this.owned = [...own.values()];
      // A view's root may itself be shared (then it sits at the other executor's offset).
      const root = (id: number): Slot => shared.get(id) ?? { buffer: own.get(id)!, offset: 0 };
      this.slots = this.plan.buffers.map((b) => shared.get(b.id) ?? (b.view ? { buffer: root(b.view.of).buffer, offset: root(b.view.of).offset + b.view.offset } : root(b.id)));
    });
    const rng = new Rng(seed);
    for (const b of this.plan.buffers) {
      if (!b.init || !b.shape || shared.has(b.id)) continue;
      const data = new Float32Array(numel(b.shape));
      if (b.init.kind === 'normal') rng.fork(`init:${b.name}`).fillNormal(data, 0, b.init.std);
      else if (b.init.kind === 'ones') data.fill(1);
      else if (b.init.kind === 'fill') data.fill(b.init.value);
      if (b.init.kind !== 'zeros') device.queue.writeBuffer(this.slots[b.id].buffer, this.slots[b.id].offset, data);
    }
    this.prepared = await this.prepare(this.plan.dispatches);
    const acc = this.plan.accumulation;
    this.accumulate = acc ? { add: await this.prepare(acc.add), finish: await this.prepare(acc.finish) } : null;
  }

  private async prepare(dispatches: ExecutionPlan['dispatches']): Promise<Prepared[]> {
    const pipelines = await Promise.all(dispatches.map((d) => this.exec.pipeline(d.program)));
    return withErrorScopes(this.exec.ctx, { label: 'bind step buffers' }, () =>
      dispatches.map((d, i) => ({
        pipeline: pipelines[i],
        bindGroup: this.exec.bindGroup(d.program, pipelines[i], d.buffers.map((id) => ({ ...this.slots[id], size: this.plan.buffers[id].bytes }))),
        dispatch: d.program.dispatch,
      })),
    );
  }

  /** Micro-batches per optimizer step of this plan (1 without accumulation). */
  get microBatches(): number {
    return this.plan.accumulation?.microBatches ?? 1;
  }

  writeInput(name: string, data: HostArray): void {
    const spec = this.plan.inputs[name];
    if (!spec) throw new InternalError(`plan has no input '${name}'`);
    this.checkLength(name, spec.type, data);
    const slot = this.slots[spec.buffer];
    this.exec.device.queue.writeBuffer(slot.buffer, slot.offset, data.buffer, data.byteOffset, data.byteLength);
  }

  writeParam(name: string, data: Float32Array): void {
    const spec = this.plan.params[name];
    if (!spec) throw new InternalError(`plan has no param '${name}'`);
    this.checkLength(name, spec.type, data);
    const slot = this.slots[spec.buffer];
    this.exec.device.queue.writeBuffer(slot.buffer, slot.offset, data.buffer, data.byteOffset, data.byteLength);
  }

  async readParam(name: string): Promise<Float32Array> {
    const spec = this.plan.params[name];
    if (!spec) throw new InternalError(`plan has no param '${name}'`);
    const slot = this.slots[spec.buffer];
    return new Float32Array(await this.pacer.settle(() => this.exec.readBuffer(slot.buffer, numel(spec.type) * 4, slot.offset)));
  }

  async readOutput(name: string): Promise<Float32Array | Int32Array> {
    const spec = this.plan.outputs[name];
    if (!spec) throw new InternalError(`plan has no output '${name}'`);
    const slot = this.slots[spec.buffer];
    const bytes = await this.pacer.settle(() => this.exec.readBuffer(slot.buffer, Math.max(1, numel(spec.type)) * 4, slot.offset));
    return spec.type.dtype === 'i32' ? new Int32Array(bytes) : new Float32Array(bytes);
  }

  /**
   * Encodes and submits one compute pass in one submit: the whole plan ('step'), or with gradient
   * accumulation one micro-batch and acc += g ('micro'), or the last micro-batch, the fold of the
   * accumulators into the gradients and the update ('last'). `clearAuxCounts` zeroes the global
   * load-balance counts first (the first counting pass of a step). `dispatches` [from, to) runs a
   * part of a whole step ('step' only): the two parts of a step, submitted in order, are the step
   * (queue order), and host writes between them land after the first part's dispatches and before
   * the second's (an SD-MoE re-basing overlapped with the next forward pass: runtime/train/spectral.ts).
   * `omit`: plan dispatch indices left out ('step' only). The step is then wrong by construction: for
   * timing what those dispatches cost in place (bench/sd-inplace.ts, bench/train-step.ts), never for
   * training. Its submission is paced under a key of its own (the phase and the omitted indices): a
   * step without them takes less device time, and one estimate for both would oversleep the shorter.
   * `read`: outputs and params copied to a staging buffer in the same command buffer, after the
   * pass; `readStaged` maps it. One submit per step instead of two: the separate read-back's
   * encoder and submit cost ≈ 1.3 % of the demo step (`npm run bench -- staged-read`: 0.987 [0.977–1.006],
   * 60 interleaved pairs, docs/results/issue8/stop24/staged-read.md).
   */
  run(phase: 'step' | 'micro' | 'last' = 'step', opts: { clearAuxCounts?: boolean; dispatches?: readonly [number, number]; omit?: ReadonlySet<number>; read?: StepReads } = {}): void {
    this.dropStaged();
    const enc = this.exec.device.createCommandEncoder({ label: 'step' });
    if (opts.clearAuxCounts) {
      for (const id of Object.values(this.plan.auxCounts ?? {})) enc.clearBuffer(this.slots[id].buffer, this.slots[id].offset, this.plan.buffers[id].bytes);
    }
    let list = this.prepared;
    if (phase !== 'step') {
      const acc = this.accumulate;
      const split = this.plan.accumulation?.updateStart;
      if (!acc || split === undefined) throw new InternalError(`run('${phase}'): the plan has no gradient accumulation`);
      list = phase === 'micro' ? [...this.prepared.slice(0, split), ...acc.add] : [...this.prepared.slice(0, split), ...acc.finish, ...this.prepared.slice(split)];
    } else if (this.accumulate) {
      throw new InternalError(`run('step') on a plan that accumulates ${this.microBatches} micro-batches; run 'micro' then 'last'`);
    }
    if (opts.dispatches) {
      const [from, to] = opts.dispatches;
      if (phase !== 'step' || !(Number.isInteger(from) && Number.isInteger(to) && from >= 0 && from <= to && to <= list.length)) {
        throw new InternalError(`run('${phase}'): dispatch range [${from}, ${to}) outside a whole step of ${list.length}`);
      }
      list = list.slice(from, to);
    }
    let paceKey: string = phase;
    if (opts.omit) {
      if (phase !== 'step' || opts.dispatches) throw new InternalError(`run('${phase}'): omit applies to a whole step only`);
      const omit = opts.omit;
      list = list.filter((_, i) => !omit.has(i));
      paceKey = `${phase} without ${[...omit].sort((a, b) => a - b).join(',')}`;
    }
    const pass = enc.beginComputePass({ label: 'step' });
    for (const p of list) {
      pass.setPipeline(p.pipeline);
      pass.setBindGroup(0, p.bindGroup);
      pass.dispatchWorkgroups(p.dispatch[0], p.dispatch[1], p.dispatch[2]);
    }
    pass.end();
    if (opts.read) this.staged = { read: opts.read, ...this.encodeReads(enc, this.stepReadSpecs(opts.read), (opts.read.params ?? []).length === 0, 'staged') };
    this.exec.device.queue.submit([enc.finish()]);
    this.pacer.submitted(paceKey);
  }

  /**
   * Maps what the last run() copied out (`read`): its outputs and params, as readOutputsAndParams
   * returns them.
   */
  async readStaged(): Promise<{ outputs: Record<string, Float32Array | Int32Array>; params: Record<string, Float32Array> }> {
    const staged = this.staged;
    if (!staged) throw new InternalError('readStaged without a run() that staged reads');
    this.staged = null;
    return splitStepReads(staged.read, await this.mapReads(staged));
  }

  /** A staged read nobody mapped (a run() that staged, then another run()): its buffer goes. */
  private dropStaged(): void {
    if (this.staged && !this.staged.keep) this.staged.staging.destroy();
    this.staged = null;
  }

  /**
   * A whole step with host work in the middle: dispatches [0, at) are submitted, `work` runs on the
   * host while the device executes them, then [at, end) follow. Queue writes `work` makes land
   * between the two parts (queue order), so the result is the plain step's exactly when they touch
   * no buffer of dispatches [0, at): pick `at` with firstDispatchTouching (compiler/codegen/plan.ts)
   * over the buffers `work` writes. `work` must not wait on the device (the step is in flight).
   */
  async runAround<T>(at: number, work: () => Promise<T>, read?: StepReads): Promise<T> {
    this.run('step', { dispatches: [0, at] });
    const result = await work();
    this.run('step', { dispatches: [at, this.prepared.length], read });
    return result;
  }

  /**
   * Copies the named outputs of the micro-batch just submitted into slot `slot` of a capture
   * buffer (sized for `slots` micro-batches), without waiting; `readCaptured` maps it once.
   */
  captureOutputs(names: readonly string[], slot: number, slots: number): void {
    const sizes = names.map((name) => {
      const spec = this.plan.outputs[name];
      if (!spec) throw new InternalError(`plan has no output '${name}'`);
      return Math.max(1, numel(spec.type)) * 4;
    });
    const stride = sizes.reduce((a, b) => a + b, 0);
    const bytes = Math.max(4, stride * slots);
    if (!this.capture || this.capture.bytes !== bytes || names.some((n) => !this.capture!.offsets.has(n))) {
      this.capture?.buffer.destroy();
      let at = 0;
      const offsets = new Map(names.map((n, i) => [n, (at += sizes[i]) - sizes[i]]));
      this.capture = { buffer: this.exec.createBuffer(bytes, 'capture'), bytes, offsets, stride };
    }
    const cap = this.capture;
    const enc = this.exec.device.createCommandEncoder({ label: 'capture' });
    names.forEach((name, i) => {
      const slotOf = this.slots[this.plan.outputs[name].buffer];
      enc.copyBufferToBuffer(slotOf.buffer, slotOf.offset, cap.buffer, slot * cap.stride + cap.offsets.get(name)!, sizes[i]);
    });
    this.exec.device.queue.submit([enc.finish()]);
  }

  /** The captured outputs of slots 0 … slots−1, one array per slot and name, in one read-back. */
  async readCaptured(names: readonly string[], slots: number): Promise<Record<string, (Float32Array | Int32Array)[]>> {
    const cap = this.capture;
    if (!cap) throw new InternalError('readCaptured before captureOutputs');
    const all = await this.pacer.settle(() => this.exec.readBuffer(cap.buffer, cap.stride * slots));
    const result: Record<string, (Float32Array | Int32Array)[]> = {};
    for (const name of names) {
      const spec = this.plan.outputs[name];
      const at = cap.offsets.get(name);
      if (at === undefined) throw new InternalError(`output '${name}' was not captured`);
      const size = Math.max(1, numel(spec.type)) * 4;
      result[name] = Array.from({ length: slots }, (_, s) => {
        const bytes = all.slice(s * cap.stride + at, s * cap.stride + at + size);
        return spec.type.dtype === 'i32' ? new Int32Array(bytes) : new Float32Array(bytes);
      });
    }
    return result;
  }

  /** Resolves when the device has finished everything submitted so far. */
  done(): Promise<undefined> {
    return this.pacer.settle(() => this.exec.device.queue.onSubmittedWorkDone());
  }

  /**
   * Reads several outputs with one copy into one staging buffer and one map: a single round trip
   * instead of one per output.
   */
  async readOutputs(names: readonly string[]): Promise<Record<string, Float32Array | Int32Array>> {
    return this.readSlots(names.map((name) => this.outputRead(name, name)), true);
  }

  /**
   * Outputs and params in one round trip: an SD-MoE re-basing step reads W_c, U_k and V_k with its
   * loss instead of paying a second submit-and-map (that read-back was 1.6 ms of the demo's ≈ 7.1 ms
   * re-basing by phase timing at load 2.4: docs/benchmarks.md, "Re-basing on the host"). The staging
   * buffer is not kept (params can be large).
   */
  async readOutputsAndParams(
    outputs: readonly string[],
    params: readonly string[],
  ): Promise<{ outputs: Record<string, Float32Array | Int32Array>; params: Record<string, Float32Array> }> {
    const read = { outputs, params };
    return splitStepReads(read, await this.readSlots(this.stepReadSpecs(read), params.length === 0));
  }

  /** The copies of a step's outputs and params, keyed by stepReadKey (readOutputsAndParams, run's `read`). */
  private stepReadSpecs(read: StepReads): SlotRead[] {
    return [...read.outputs.map((n) => this.outputRead(n, stepReadKey('output', n))), ...(read.params ?? []).map((n) => this.paramRead(n, stepReadKey('param', n)))];
  }

  /** Reads several params in one round trip, like readOutputs (SD-MoE re-basing reads 4 per matrix). */
  async readParams(names: readonly string[]): Promise<Record<string, Float32Array>> {
    return (await this.readSlots(names.map((name) => this.paramRead(name, name)), false)) as Record<string, Float32Array>;
  }

  /** What readSlots copies for output `name`, keyed `key` in its result. */
  private outputRead(name: string, key: string): SlotRead {
    const spec = this.plan.outputs[name];
    if (!spec) throw new InternalError(`plan has no output '${name}'`);
    return { name: key, buffer: spec.buffer, bytes: Math.max(1, numel(spec.type)) * 4, int: spec.type.dtype === 'i32' };
  }

  /** What readSlots copies for param `name`, keyed `key` in its result. */
  private paramRead(name: string, key: string): SlotRead {
    const spec = this.plan.params[name];
    if (!spec) throw new InternalError(`plan has no param '${name}'`);
    return { name: key, buffer: spec.buffer, bytes: numel(spec.type) * 4, int: false };
  }

  /** `keepStaging`: keep the staging buffer for the next read of this size (the per-step outputs). */
  private async readSlots(specs: readonly SlotRead[], keepStaging: boolean): Promise<Record<string, Float32Array | Int32Array>> {
    const enc = this.exec.device.createCommandEncoder();
    const staged = this.encodeReads(enc, specs, keepStaging, 'read');
    this.exec.device.queue.submit([enc.finish()]);
    return this.mapReads(staged);
  }

  /** Encodes the copies of `specs` into one staging buffer (kept per use and size with `keep`). */
  private encodeReads(enc: GPUCommandEncoder, specs: readonly SlotRead[], keep: boolean, use: 'read' | 'staged'): Staged {
    let offset = 0;
    const offsets = specs.map((s) => {
      const at = offset;
      offset += Math.ceil(s.bytes / 4) * 4;
      return at;
    });
    const size = Math.max(4, offset);
    const key = `${use}:${size}`;
    let staging = keep ? this.staging.get(key) : undefined;
    if (!staging) {
      staging = this.exec.device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: 'readback' });
      if (keep) this.staging.set(key, staging);
    }
    specs.forEach((s, i) => enc.copyBufferToBuffer(this.slots[s.buffer].buffer, this.slots[s.buffer].offset, staging, offsets[i], s.bytes));
    return { staging, specs, offsets, keep };
  }

  /** Waits for the staged copies (paced), maps them and splits them by name. */
  private async mapReads(staged: Staged): Promise<Record<string, Float32Array | Int32Array>> {
    const { staging, specs, offsets } = staged;
    await this.pacer.settle(() => staging.mapAsync(GPUMapMode.READ));
    const all = staging.getMappedRange().slice(0);
    staging.unmap();
    if (!staged.keep) staging.destroy();
    const result: Record<string, Float32Array | Int32Array> = {};
    specs.forEach((s, i) => {
      const bytes = all.slice(offsets[i], offsets[i] + s.bytes);
      result[s.name] = s.int ? new Int32Array(bytes) : new Float32Array(bytes);
    });
    return result;
  }

  destroy(): void {
    this.dropStaged();
    for (const b of [...this.owned, ...this.staging.values()]) b.destroy();
    this.capture?.buffer.destroy();
    this.capture = null;
    this.staging.clear();
    this.owned = [];
    this.slots = [];
  }

  private checkLength(name: string, type: TensorType, data: HostArray): void {
    if (data.length !== Math.max(1, numel(type))) throw new InternalError(`'${name}' expects ${numel(type)} elements, got ${data.length}`);
  }
}

export interface DispatchTiming {
  readonly op: string;
  readonly label: string;
  readonly microseconds: number;
}

/**
 * Runs the plan once with every dispatch in its own timestamped compute pass and returns the GPU
 * time of each. Slower than `run()` (one pass per dispatch) and only for profiling; needs the
 * `timestamp-query` feature.
 */
export async function profileStep(step: StepExecutor): Promise<DispatchTiming[]> {
  const { device } = step.exec;
  if (!step.exec.ctx.caps.timestampQuery) throw new InternalError('profiling needs the timestamp-query feature');
  const prepared = step.prepared;
  const count = prepared.length;
  const querySet = device.createQuerySet({ type: 'timestamp', count: 2 * count });
  const resolve = device.createBuffer({ size: 16 * count, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  const read = device.createBuffer({ size: 16 * count, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = device.createCommandEncoder({ label: 'profile' });
  prepared.forEach((p, i) => {
    const pass = enc.beginComputePass({ timestampWrites: { querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } });
    pass.setPipeline(p.pipeline);
    pass.setBindGroup(0, p.bindGroup);
    pass.dispatchWorkgroups(p.dispatch[0], p.dispatch[1], p.dispatch[2]);
    pass.end();
  });
  enc.resolveQuerySet(querySet, 0, 2 * count, resolve, 0);
  enc.copyBufferToBuffer(resolve, 0, read, 0, 16 * count);
  device.queue.submit([enc.finish()]);
  await read.mapAsync(GPUMapMode.READ);
  const stamps = new BigUint64Array(read.getMappedRange().slice(0));
  read.unmap();
  for (const b of [resolve, read]) b.destroy();
  querySet.destroy();
  return step.plan.dispatches.map((d, i) => ({ op: d.op, label: d.program.label, microseconds: Number(stamps[2 * i + 1] - stamps[2 * i]) / 1000 }));
}
