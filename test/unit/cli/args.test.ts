import { UsageError, optionChoice, optionString, optionStrings, parseArgs } from '../../../cli/args';

describe('parseArgs', () => {
  const spec = { booleans: ['json'], values: ['name', 'compartment-id'] };

  it('keeps every value of a repeated option in order, and the last one as the option', () => {
    const args = parseArgs(['--compartment-id', 'a', '--name=n', '--compartment-id=b', '--compartment-id', 'c'], spec);
    expect(optionStrings(args, 'compartment-id')).toEqual(['a', 'b', 'c']);
    expect(optionString(args, 'compartment-id')).toBe('c');
    expect(optionStrings(args, 'name')).toEqual(['n']);
    expect(optionStrings(args, 'json')).toEqual([]);
  });

  it('takes a value that looks like an option as the value, and nothing after -- as an option', () => {
    const args = parseArgs(['--name', '--compartment-id', '--compartment-id', 'x', '--', '--compartment-id', 'y'], spec);
    expect(optionString(args, 'name')).toBe('--compartment-id');
    expect(optionStrings(args, 'compartment-id')).toEqual(['x']);
    expect(args.rest).toEqual(['--compartment-id', 'y']);
  });

  it('refuses unknown options, a missing value, and a value on a flag', () => {
    expect(() => parseArgs(['--nope'], spec)).toThrow(UsageError);
    expect(() => parseArgs(['--name'], spec)).toThrow('--name needs a value');
    expect(() => parseArgs(['--json=1'], spec)).toThrow('--json takes no value');
  });
});

describe('optionChoice', () => {
  const spec = { values: ['key-type'] };
  const allowed = ['ed25519', 'rsa'] as const;

  it('answers the value when it is one of the choices, as written, and undefined when the option is absent', () => {
    expect(optionChoice(parseArgs(['--key-type', 'rsa'], spec), 'key-type', allowed)).toBe('rsa');
    expect(optionChoice(parseArgs([], spec), 'key-type', allowed)).toBeUndefined();
  });

  it('refuses any other value, naming the choices (case counts)', () => {
    expect(() => optionChoice(parseArgs(['--key-type=dsa'], spec), 'key-type', allowed)).toThrow(new UsageError('--key-type must be one of ed25519, rsa'));
    expect(() => optionChoice(parseArgs(['--key-type', 'RSA'], spec), 'key-type', allowed)).toThrow(UsageError);
  });
});
