// The CPU-adapter layout of the cross-entropy row kernels (cross_entropy and the chunked LM head's
// lm_head_xent; templates/xent_rows.wgsl.hbs). On lavapipe a workgroup is a serial loop over
// SIMD-wide chunks on one thread: the workgroup-per-row kernels' reduction trees (a barrier per
// level, twice per row) cost ~10 µs a row, ten times the row's arithmetic. Here a row belongs to
// one invocation, which walks it serially: one pass keeps the running max and Σ exp(l − max)
// rescaled to it (online softmax), a second writes the gradient; 32 rows share a workgroup and
// nothing crosses a barrier except cross_entropy's batch-wide target count. When V % 4 == 0 the
// logits (and dlogits) are read and written as vec4s: lavapipe turns every per-lane access into a
// gather/scatter, and a vec4 moves four floats per access (measured 1.4 ms against 2.5 ms scalar at
// 512 × 1024; a plain 2 MiB copy costs ~0.7 ms on this adapter). The subgroup-per-row layout measured
// no faster than an invocation per row on lavapipe, and neither did 2, 4 or 8 invocations per row
// each owning a contiguous chunk with a shared-memory combine (at 512 × 1024, 512 × 32768 and
// qwen's 192 × 151936 chunk), so neither is kept.
// GPUs keep the workgroup-per-row kernels of cross-entropy.ts / lm-head-xent.ts.
import { ceilDiv, f32Literal, rowUnits, spreadWorkgroups, type KernelBinding, type KernelProgram } from './types.ts';

export interface XentRowsParams {
  readonly kernel: 'cross_entropy' | 'lm_head_xent';
  readonly label: string;
  readonly rows: number;
  readonly vocab: number;
  readonly withGrad: boolean;
  /** Gradient written over `logits` (lm_head_xent always; cross_entropy when the planner hands the
   *  dying logits' buffer to dlogits), else into `dlogits`. */
  readonly inPlace: boolean;
}

/** Rows (invocations) per workgroup: 32 and 64 measured alike at 512 × 1024; 32 splits a chunk of
 *  192 long rows (qwen's vocab) into six workgroups, so both of this machine's lavapipe threads stay busy. */
const WORKGROUP = 32;

export function xentRowsProgram(p: XentRowsParams, bindings: KernelBinding[]): KernelProgram {
  const { vec4, dimVec: steps } = rowUnits(p.vocab);
  const { dispatch, dispatchX } = spreadWorkgroups(ceilDiv(p.rows, WORKGROUP));
  return {
    template: 'xent_rows',
    label: `${p.label}_rows`,
    params: {
      kernel: p.kernel,
      rows: p.rows,
      vocab: p.vocab,
      vec4,
      elem: vec4 ? 'vec4<f32>' : 'f32',
      steps,
      withGrad: p.withGrad,
      inPlace: p.inPlace,
      // lm_head_xent scales by its precomputed `scale`; cross_entropy by gradScale[0] / count, the count taken here
      countTargets: p.withGrad && p.kernel === 'cross_entropy',
      out: p.inPlace ? 'logits' : 'dlogits',
      dispatchX,
      negInf: f32Literal(-3.4028234663852886e38),
    },
    bindings: bindings.map((b) => (vec4 && (b.name === 'logits' || b.name === 'dlogits') ? { ...b, vec4: true } : b)),
    workgroupSize: [WORKGROUP, 1, 1],
    dispatch,
    features: [],
  };
}
