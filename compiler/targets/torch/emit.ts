// Renders the torch target's package (model.py, train.py) from its program object through the
// logic-free Handlebars templates in templates/torch/ (strict: a missing field is an error, not an
// empty string in the Python; no helpers registered). Writing data files and run records is the
// caller's job (cli/commands/compile.ts), since those need the runtime's data preparation.
import Handlebars from 'handlebars';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TorchProgram } from './program.ts';

const TEMPLATE_DIR = fileURLToPath(new URL('../../../templates/torch/', import.meta.url));
const hb = Handlebars.create();

/** The files of the package, by name. */
export function renderTorchPackage(program: TorchProgram): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of ['model.py', 'train.py']) {
    const template = hb.compile(readFileSync(join(TEMPLATE_DIR, `${name}.hbs`), 'utf8'), { strict: true, noEscape: true, knownHelpersOnly: true });
    out[name] = template(program);
  }
  return out;
}

/** Writes model.py and train.py into outDir; returns their paths. */
export function writeTorchPackage(outDir: string, program: TorchProgram): string[] {
  mkdirSync(outDir, { recursive: true });
  return Object.entries(renderTorchPackage(program)).map(([name, text]) => {
    const path = join(outDir, name);
    writeFileSync(path, text);
    return path;
  });
}
