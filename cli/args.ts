/** A small, strict argument parser: `--name value`, `--name=value`, boolean `--flag`, and `--` for the rest. */

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface ParsedArgs {
  positional: string[];
  /** The last value of each option (or true for a flag). */
  options: Map<string, string | true>;
  /** Every value of each value option, in order, for the options that may repeat. */
  repeated: Map<string, string[]>;
  /** Everything after `--`. */
  rest: string[];
}

export function parseArgs(argv: readonly string[], spec: { booleans?: readonly string[]; values?: readonly string[] }): ParsedArgs {
  const booleans = new Set(spec.booleans ?? []);
  const values = new Set(spec.values ?? []);
  const out: ParsedArgs = { positional: [], options: new Map(), repeated: new Map(), rest: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      out.rest = argv.slice(i + 1);
      break;
    }
    if (!arg.startsWith('--') || arg === '--') {
      out.positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    if (booleans.has(name)) {
      if (eq >= 0) throw new UsageError(`--${name} takes no value`);
      out.options.set(name, true);
    } else if (values.has(name)) {
      const value = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
      if (value === undefined) throw new UsageError(`--${name} needs a value`);
      out.options.set(name, value);
      out.repeated.set(name, [...(out.repeated.get(name) ?? []), value]);
    } else {
      throw new UsageError(`unknown option --${name}`);
    }
  }
  return out;
}

export function optionString(args: ParsedArgs, name: string): string | undefined {
  const v = args.options.get(name);
  return typeof v === 'string' ? v : undefined;
}

/** Every value given for a value option that may repeat (`--compartment-id a --compartment-id b`), in order. */
export function optionStrings(args: ParsedArgs, name: string): string[] {
  return args.repeated.get(name) ?? [];
}

/** A value option that must be one of `allowed` (as written, case and all). */
export function optionChoice<T extends string>(args: ParsedArgs, name: string, allowed: readonly T[]): T | undefined {
  const v = optionString(args, name);
  if (v === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(v)) throw new UsageError(`--${name} must be one of ${allowed.join(', ')}`);
  return v as T;
}

export function optionInt(args: ParsedArgs, name: string, range: { min: number; max: number }): number | undefined {
  const v = optionString(args, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < range.min || n > range.max) {
    throw new UsageError(`--${name} must be an integer from ${range.min} to ${range.max}`);
  }
  return n;
}
