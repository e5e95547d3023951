// Learning-rate schedules: linear warm-up to the peak, then cosine or linear decay to
// minLrRatio·peak at the last step, or constant. Steps are 1-based (step 1 is the first update).
import type { ScheduleConfig } from '../../compiler/config/types.ts';

export function learningRate(step: number, totalSteps: number, peak: number, s: ScheduleConfig): number {
  if (s.warmup > 0 && step <= s.warmup) return (peak * step) / s.warmup;
  if (s.kind === 'constant') return peak;
  const decaySteps = Math.max(1, totalSteps - s.warmup);
  const progress = Math.min(1, Math.max(0, (step - s.warmup) / decaySteps));
  const floor = peak * s.minLrRatio;
  const shape = s.kind === 'cosine' ? 0.5 * (1 + Math.cos(Math.PI * progress)) : 1 - progress;
  return floor + (peak - floor) * shape;
}
