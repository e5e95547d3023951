#!/usr/bin/env node
// Entry point: registers tsx so the TypeScript sources run without a build step, then hands off.
import { register } from 'tsx/esm/api';
register();
await import('../cli/main.ts');
