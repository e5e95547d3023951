// Stable JSON: object keys sorted, so equal values always serialise (and hash) equally. Used for
// pipeline cache keys, CSE keys, the IR text form and config hashes, in every layer.
export function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}
