// The tensors of a Hugging Face model directory: one `model.safetensors`, or shards listed by
// `model.safetensors.index.json` ({"metadata": …, "weight_map": {tensor name: shard file}}), the
// layout `save_pretrained` writes. Only headers are read up front; each tensor is read on demand
// and widened to F32, so a model larger than memory can be analysed layer by layer.
// Invariants: every index entry's shard exists and its header lists that tensor; a tensor's shape
// comes from the header (checked by the caller against config.json); floating dtypes other than
// F32/F16/BF16 (FP8 checkpoints, integer quantisations) are refused with the tensor's name.
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { UserError } from '../../base/errors.ts';
import { readSafetensorsHeader, readSafetensorsTensor, type SafetensorsHeader } from '../checkpoint/safetensors.ts';
import { parseJsonFile } from './json.ts';

export const SINGLE_FILE = 'model.safetensors';
export const INDEX_FILE = 'model.safetensors.index.json';

export interface TensorInfo {
  file: string;
  dtype: string;
  shape: number[];
}

export class TensorStore {
  private constructor(
    /** Where tensors are listed, for messages: the index file or the single safetensors file. */
    readonly listing: string,
    private readonly headers: Map<string, SafetensorsHeader>,
    private readonly fileOf: Map<string, string>,
  ) {}

  static async open(dir: string): Promise<TensorStore> {
    const indexPath = join(dir, INDEX_FILE);
    const singlePath = join(dir, SINGLE_FILE);
    const headers = new Map<string, SafetensorsHeader>();
    const fileOf = new Map<string, string>();
    if (existsSync(indexPath)) {
      const index = parseJsonFile(indexPath, readFileSync(indexPath, 'utf8'));
      const map = (index as { weight_map?: unknown }).weight_map;
      if (typeof map !== 'object' || map === null || Array.isArray(map)) throw new UserError(`${indexPath}: no "weight_map" object`);
      for (const [name, file] of Object.entries(map as Record<string, unknown>)) {
        if (typeof file !== 'string' || file.includes('/') || file.includes('\\')) {
          throw new UserError(`${indexPath}: weight_map["${name}"] must be a file name in ${dir}, got ${JSON.stringify(file)}`);
        }
        const path = join(dir, file);
        if (!headers.has(path)) {
          if (!existsSync(path)) throw new UserError(`${indexPath}: weight_map["${name}"] names ${file}, which does not exist`);
          headers.set(path, await readSafetensorsHeader(path));
        }
        if (!headers.get(path)!.tensors.has(name)) throw new UserError(`${indexPath}: weight_map puts "${name}" in ${file}, but that file has no such tensor`);
        fileOf.set(name, path);
      }
      return new TensorStore(indexPath, headers, fileOf);
    }
    if (existsSync(singlePath)) {
      const header = await readSafetensorsHeader(singlePath);
      headers.set(singlePath, header);
      for (const name of header.tensors.keys()) fileOf.set(name, singlePath);
      return new TensorStore(singlePath, headers, fileOf);
    }
    throw new UserError(`${dir}: neither ${SINGLE_FILE} nor ${INDEX_FILE} found (only safetensors checkpoints are read)`);
  }

  has(name: string): boolean {
    return this.fileOf.has(name);
  }

  names(): string[] {
    return [...this.fileOf.keys()];
  }

  info(name: string): TensorInfo | undefined {
    const file = this.fileOf.get(name);
    if (!file) return undefined;
    const e = this.headers.get(file)!.tensors.get(name)!;
    return { file, dtype: e.dtype, shape: e.shape };
  }

  /** The tensor as F32, after checking it exists with the expected shape. */
  async read(name: string, shape: readonly number[], why: string): Promise<Float32Array> {
    const info = this.info(name);
    if (!info) throw new UserError(`${this.listing}: tensor "${name}" is missing (${why})`);
    if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
      throw new UserError(`${info.file}: tensor "${name}" has shape [${info.shape.join(', ')}], expected [${shape.join(', ')}] (${why})`);
    }
    if (!['F32', 'F16', 'BF16'].includes(info.dtype)) {
      throw new UserError(`${info.file}: tensor "${name}" is ${info.dtype}; analyze reads F32, F16 and BF16 weights`);
    }
    const t = await readSafetensorsTensor(info.file, this.headers.get(info.file)!, name);
    return t.data as Float32Array;
  }

  /** Short description for reports: file count and names. */
  describe(): string {
    const files = [...this.headers.keys()].map((f) => basename(f));
    return files.length === 1 ? files[0] : `${files.length} shards (${basename(this.listing)})`;
  }
}
