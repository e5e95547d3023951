// Renders a KernelProgram through its logic-free Handlebars template. Templates may only use the
// built-in block helpers (`if`/`each`/`unless`/`with`) and partials on values the program computed; no custom
// helpers are registered, and strict mode turns a missing parameter into an error instead of an
// empty string in the shader. `SDMOEC_PRINT_WGSL=<pattern>` prints every rendered shader whose
// label or template matches (a substring, or `*`/`all` for everything).
import Handlebars from 'handlebars';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { KernelBinding, KernelProgram } from './kernel.ts';

const TEMPLATE_DIR = fileURLToPath(new URL('../../templates/', import.meta.url));
const hb = Handlebars.create();
const compiled = new Map<string, HandlebarsTemplateDelegate>();
const OPTIONS = { strict: true, noEscape: true, knownHelpersOnly: true } as const;

// Partials (templates/partials/<name>.wgsl.hbs, `{{> name key=value}}`): blocks several templates share,
// compiled with the templates' options. A standalone partial call is indented like its line.
const PARTIAL_DIR = `${TEMPLATE_DIR}partials/`;
for (const file of readdirSync(PARTIAL_DIR).filter((f) => f.endsWith('.wgsl.hbs'))) {
  hb.registerPartial(file.slice(0, -'.wgsl.hbs'.length), hb.compile(readFileSync(`${PARTIAL_DIR}${file}`, 'utf8'), OPTIONS));
}

function templateFor(name: string): HandlebarsTemplateDelegate {
  let t = compiled.get(name);
  if (!t) {
    const src = readFileSync(`${TEMPLATE_DIR}${name}.wgsl.hbs`, 'utf8');
    t = hb.compile(src, OPTIONS);
    compiled.set(name, t);
  }
  return t;
}

/** Forget compiled templates (tests that rewrite a template on disk). */
export function clearTemplateCache(): void {
  compiled.clear();
}

/**
 * Registers a template from a string under a name no file in templates/ has (the test harness's
 * deliberately broken templates), so tests never write into the source tree.
 */
export function defineTemplate(name: string, source: string): void {
  compiled.set(name, hb.compile(source, OPTIONS));
}

const STORAGE_ACCESS: Record<KernelBinding['access'], string> = {
  read: 'storage, read',
  write: 'storage, read_write',
  readwrite: 'storage, read_write',
  uniform: 'uniform',
};

/** The `@group(0) @binding(i) var<…>` lines, derived from the program's bindings. */
export function bindingDeclarations(p: KernelProgram): string {
  return p.bindings
    .map((b, i) =>
      b.access === 'uniform'
        ? `@group(0) @binding(${i}) var<uniform> ${b.name}: array<vec4<${b.type}>, ${Math.ceil(b.length / 4)}>;`
        : `@group(0) @binding(${i}) var<${STORAGE_ACCESS[b.access]}> ${b.name}: array<${b.vec4 ? `vec4<${b.type}>` : b.vec2 ? `vec2<${b.type}>` : b.type}>;`,
    )
    .join('\n');
}

function shouldPrint(p: KernelProgram): boolean {
  const pattern = process.env.SDMOEC_PRINT_WGSL;
  if (!pattern) return false;
  if (pattern === '*' || pattern === 'all' || pattern === '1') return true;
  return p.label.includes(pattern) || p.template.includes(pattern);
}

export function renderWgsl(p: KernelProgram): string {
  const enables = p.features.includes('subgroups') ? 'enable subgroups;\n' : '';
  const body = templateFor(p.template)({
    ...p.params,
    label: p.label,
    bindings: bindingDeclarations(p),
    wgX: p.workgroupSize[0],
    wgY: p.workgroupSize[1],
    wgZ: p.workgroupSize[2],
  });
  const wgsl = `${enables}// ${p.label}\n${body}`;
  if (shouldPrint(p)) process.stderr.write(`// ---- SDMOEC_PRINT_WGSL ${p.label} (${p.template}) ----\n${wgsl}\n`);
  return wgsl;
}
