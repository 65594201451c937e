/** The runcommand command line. */
import { UsageError } from './args';
import { up, UP_HELP } from './up';

const HELP = `Usage: runcommand <command> [options]

Commands:
  up                 run the embedded platform and an agent for this host (what npm start runs)

Run 'runcommand <command> --help' for a command's options.
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === 'help') {
    process.stdout.write(HELP);
    return command === undefined ? 2 : 0;
  }
  if (rest.includes('--help')) {
    if (command === 'up') process.stdout.write(UP_HELP);
    else process.stdout.write(HELP);
    return 0;
  }
  switch (command) {
    case 'up':
      return up(rest);
    default:
      throw new UsageError(`unknown command '${command}'`);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    if (e instanceof UsageError) {
      process.stderr.write(`runcommand: ${e.message}\n(see runcommand --help)\n`);
      process.exit(2);
    }
    process.stderr.write(`runcommand: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
