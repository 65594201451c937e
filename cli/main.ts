/** The runcommand command line. */
import path from 'node:path';
import { AGENT_HELP } from './agent-help';
import { UsageError } from './args';
import {
  COMMAND_CANCEL_HELP,
  COMMAND_CREATE_HELP,
  COMMAND_GET_HELP,
  COMMAND_GROUP_HELP,
  COMMAND_LIST_HELP,
  EXECUTION_GET_HELP,
  EXECUTION_GROUP_HELP,
  EXECUTION_LIST_HELP,
  commandCancel,
  commandCreate,
  commandGet,
  commandList,
  executionGet,
  executionList,
} from './commands';
import { ApiFailure, GLOBAL_OPTIONS_HELP, toApiFailure } from './context';
import { EXIT_CODES_HELP, ExitCode } from './exit-codes';
import { COMPARTMENT_ADD_HELP, COMPARTMENT_GROUP_HELP, USER_ADD_HELP, USER_GROUP_HELP, compartmentAdd, userAdd } from './identity';
import { INSTANCE_ADD_HELP, INSTANCE_GROUP_HELP, INSTANCE_LIST_HELP, instanceAdd, instanceList } from './instance';
import { run, RUN_HELP } from './run';
import { up, UP_HELP } from './up';

const HELP = `Usage: runcommand <command> [options]

Run scripts on your machines: a self-hosted OCI Compute Instance Run Command. The API commands mirror
'oci instance-agent command' and 'oci instance-agent command-execution'.

Commands:
  run                 run a script on an instance (this host by default), wait, print its output, exit with its code
  command create      create a command          command get      show a command
  command list        list commands            command cancel   cancel a command
  execution get       show an execution        execution list   list executions   (alias: command-execution)
  instance add        register an instance     instance list    list instances
  compartment add     add a compartment        user add         add a user limited to some compartments
  agent               run an instance's agent in the foreground
  up                  run the embedded platform and an agent for this host (what npm start runs)

${GLOBAL_OPTIONS_HELP}

${EXIT_CODES_HELP}

Examples:
  npm start                                   # in one terminal
  npx runcommand run -- uname -a              # in another
  npx runcommand command list --all --output table
  npx runcommand execution get --instance-agent-command-id ocid1.instanceagentcommand.oc1..xyz

Run 'runcommand <command> --help' for a command's options.
`;

type Handler = (argv: readonly string[]) => Promise<number>;

interface Leaf {
  help: string;
  handler: Handler;
}

interface Group {
  help: string;
  subcommands: Record<string, Leaf>;
}

const EXECUTION_GROUP: Group = {
  help: EXECUTION_GROUP_HELP,
  subcommands: {
    get: { help: EXECUTION_GET_HELP, handler: executionGet },
    list: { help: EXECUTION_LIST_HELP, handler: executionList },
  },
};

const COMMANDS: Record<string, Leaf | Group> = {
  run: { help: RUN_HELP, handler: run },
  command: {
    help: COMMAND_GROUP_HELP,
    subcommands: {
      create: { help: COMMAND_CREATE_HELP, handler: commandCreate },
      get: { help: COMMAND_GET_HELP, handler: commandGet },
      list: { help: COMMAND_LIST_HELP, handler: commandList },
      cancel: { help: COMMAND_CANCEL_HELP, handler: commandCancel },
    },
  },
  execution: EXECUTION_GROUP,
  'command-execution': EXECUTION_GROUP,
  instance: {
    help: INSTANCE_GROUP_HELP,
    subcommands: {
      add: { help: INSTANCE_ADD_HELP, handler: instanceAdd },
      list: { help: INSTANCE_LIST_HELP, handler: instanceList },
    },
  },
  compartment: {
    help: COMPARTMENT_GROUP_HELP,
    subcommands: { add: { help: COMPARTMENT_ADD_HELP, handler: compartmentAdd } },
  },
  user: {
    help: USER_GROUP_HELP,
    subcommands: { add: { help: USER_ADD_HELP, handler: userAdd } },
  },
  // The agent is its own bundle (dist/cli/runcommand-agent.js): a host's agent never loads the platform or the CLI.
  agent: { help: AGENT_HELP, handler: (argv) => (require(path.join(__dirname, 'runcommand-agent.js')) as typeof import('./agent')).agent(argv) },
  up: { help: UP_HELP, handler: up },
};

/** Finds the command, or prints help: `--help` anywhere before `--` asks for the deepest command named. */
async function main(argv: readonly string[]): Promise<number> {
  const dashDash = argv.indexOf('--');
  const wantsHelp = (dashDash < 0 ? argv : argv.slice(0, dashDash)).includes('--help');
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === 'help') {
    process.stdout.write(HELP);
    return name === undefined ? ExitCode.USAGE : ExitCode.OK;
  }
  const found = COMMANDS[name];
  if (found === undefined) throw new UsageError(`unknown command '${name}'`);
  if ('handler' in found) {
    if (wantsHelp) return help(found.help);
    return found.handler(rest);
  }
  const [subName, ...subRest] = rest;
  const sub = subName === undefined ? undefined : found.subcommands[subName];
  if (sub === undefined) {
    if (wantsHelp || subName === undefined) {
      process.stdout.write(found.help);
      return wantsHelp ? ExitCode.OK : ExitCode.USAGE;
    }
    throw new UsageError(`unknown subcommand '${name} ${subName}'`);
  }
  if (wantsHelp) return help(sub.help);
  return sub.handler(subRest);
}

function help(text: string): number {
  process.stdout.write(text);
  return ExitCode.OK;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    const failure = toApiFailure(e);
    // By name too: the agent's bundle has its own copy of the class.
    if (failure instanceof UsageError || (failure instanceof Error && failure.name === 'UsageError')) {
      process.stderr.write(`runcommand: ${failure.message}\n(see runcommand --help)\n`);
      process.exit(ExitCode.USAGE);
    }
    if (failure instanceof ApiFailure) {
      process.stderr.write(failure.describe());
      process.exit(ExitCode.API_ERROR);
    }
    process.stderr.write(`runcommand: ${failure instanceof Error ? failure.message : String(failure)}\n`);
    process.exit(ExitCode.API_ERROR);
  },
);
