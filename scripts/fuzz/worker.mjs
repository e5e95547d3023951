// Worker bootstrap for scripts/fuzz/run.ts: Node 20 workers cannot load .ts directly, so this
// registers tsx's loader in the worker and imports the script, which runs its worker branch.
import { register } from 'tsx/esm/api';

register();
await import('./run.ts');
