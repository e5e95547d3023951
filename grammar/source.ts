// Source texts and locations. Every diagnostic points into a Source, so a location always knows
// its file name and can render its line; lines and columns are 1-based, offsets 0-based.

let nextSourceId = 0;

export class Source {
  private readonly lineStarts: number[];
  /** Creation order: diagnostics list files before the --set arguments parsed after them, in order. */
  readonly id = nextSourceId++;

  constructor(
    /** Name shown in diagnostics: a file path, or a pseudo-file such as `--set`. */
    readonly name: string,
    readonly text: string,
    /** What diagnostics show as the source line when it differs from the parsed text (a `--set`
     *  value is parsed on its own but shown inside the whole `key=value` argument). */
    private readonly shownText: string = text,
  ) {
    this.lineStarts = [0];
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) this.lineStarts.push(i + 1);
  }

  /** 1-based line and column of an offset (clamped into the text, so EOF locations are valid too). */
  position(offset: number): { line: number; column: number } {
    const clamped = Math.max(0, Math.min(Number.isFinite(offset) ? offset : this.text.length, this.text.length));
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.lineStarts[mid] <= clamped) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: clamped - this.lineStarts[lo] + 1 };
  }

  /** Text of a 1-based line without its newline. */
  lineText(line: number): string {
    const start = this.lineStarts[line - 1] ?? this.text.length;
    const next = this.lineStarts[line];
    const end = next === undefined ? this.text.length : next - 1;
    return this.shownText.slice(start, end).replace(/\r$/, '');
  }

  loc(offset: number, length: number): Loc {
    const safeOffset = Number.isFinite(offset) ? Math.max(0, Math.min(offset, this.text.length)) : this.text.length;
    const { line, column } = this.position(safeOffset);
    return { source: this, offset: safeOffset, length: Math.max(0, length), line, column };
  }

  /** Location just past the last character: where "unexpected end of file" points. */
  end(): Loc {
    return this.loc(this.text.length, 0);
  }
}

export interface Loc {
  source: Source;
  offset: number;
  length: number;
  line: number;
  column: number;
}
