// JSON files a user hands us (config.json, index files): a syntax error becomes a located message,
// file:line:col, like a .moe diagnostic, instead of V8's "at position N".
import { readFileSync } from 'node:fs';
import { UserError } from '../../base/errors.ts';

/** 1-based line and column of a character offset. */
function lineCol(text: string, offset: number): { line: number; col: number } {
  const before = text.slice(0, Math.max(0, Math.min(offset, text.length)));
  const lines = before.split('\n');
  return { line: lines.length, col: lines[lines.length - 1].length + 1 };
}

export function parseJsonFile(path: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    const msg = (e as Error).message;
    // V8 says "... at position N" or, at the end, "Unexpected end of JSON input".
    const m = /position (\d+)/.exec(msg);
    const where = m ? lineCol(text, Number(m[1])) : lineCol(text, text.length);
    const detail = msg.replace(/ in JSON at position \d+.*$/s, '').replace(/^JSON\.parse: /, '');
    throw new UserError(`${path}:${where.line}:${where.col}: not valid JSON (${detail})`);
  }
}

/** Read and parse a JSON object file; a missing file or a non-object is a UserError naming it. */
export function readJsonObject(path: string, what: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new UserError(`${path}: ${what} not found`);
    throw new UserError(`${path}: cannot read ${what} (${(e as Error).message})`);
  }
  const v = parseJsonFile(path, text);
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new UserError(`${path}:1:1: ${what} must be a JSON object`);
  return v as Record<string, unknown>;
}
