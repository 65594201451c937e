/** How the CLI prints: pretty JSON (the SDK's models as the wire has them), or aligned table columns. */

export type OutputFormat = 'json' | 'table';

export interface Writer {
  write(text: string): unknown;
}

export function formatJson(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** Nested objects become dotted keys (`content.source.sourceType`), so any model fits in columns. */
export function flatten(value: unknown, prefix = '', into: Record<string, unknown> = {}): Record<string, unknown> {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    for (const [key, inner] of Object.entries(value)) flatten(inner, prefix ? `${prefix}.${key}` : key, into);
  } else if (prefix) {
    into[prefix] = value;
  }
  return into;
}

/** One line per cell value: tables stay aligned whatever a script printed. */
function cell(value: unknown): string {
  if (value === undefined || value === null) return '';
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.replace(/\r?\n/g, '\\n');
}

const MAX_CELL_CHARS = 120;

function truncate(text: string): string {
  return text.length > MAX_CELL_CHARS ? `${text.slice(0, MAX_CELL_CHARS - 1)}…` : text;
}

/**
 * Rows as aligned columns under a header. `columns` picks and orders them (a dotted path into each row); by default
 * every key any row has, in first-seen order.
 */
export function formatTable(rows: readonly unknown[], columns?: readonly string[]): string {
  const flat = rows.map((row) => flatten(row));
  const names = columns ?? [...new Set(flat.flatMap((row) => Object.keys(row)))];
  if (names.length === 0) return '';
  const grid = [names.map(String), ...flat.map((row) => names.map((name) => truncate(cell(row[name]))))];
  const widths = names.map((_, i) => Math.max(...grid.map((line) => (line[i] ?? '').length)));
  return grid
    .map((line) => line.map((text, i) => (i === line.length - 1 ? text : text.padEnd(widths[i] ?? 0))).join('  ').trimEnd())
    .join('\n')
    .concat('\n');
}

/** A single resource in table form: one `field  value` line per (flattened) field. */
export function formatRecord(value: unknown): string {
  const rows = Object.entries(flatten(value)).map(([field, v]) => ({ field, value: v }));
  return formatTable(rows, ['field', 'value']);
}

export function printResult(out: Writer, format: OutputFormat, value: unknown, columns?: readonly string[]): void {
  if (format === 'json') out.write(formatJson(value));
  else out.write(Array.isArray(value) ? formatTable(value, columns) : formatRecord(value));
}
