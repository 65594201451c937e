/** `runcommand instance add|list`: register hosts with the embedded platform (they then run `runcommand-agent`). */
import os from 'node:os';
import { listInstances, registerInstance } from '../platform/admin';
import { API_KEY_TYPES } from '../platform/identity-admin';
import { optionChoice, optionString, UsageError } from './args';
import { GLOBAL_OPTIONS_HELP, noPositionals, parseCommandArgs, readPlatformInfo } from './context';
import { printResult } from './output';

export const INSTANCE_GROUP_HELP = `Usage: runcommand instance <add|list> [options]

Commands:
  add    register an instance with the platform in --data-dir: its key, its stream and an agent config
  list   list the registered instances

These act on the platform's data dir directly (safe while it runs). Run 'runcommand instance <subcommand> --help'.
`;

export const INSTANCE_ADD_HELP = `Usage: runcommand instance add [--display-name NAME] [--compartment-id ID] [--key-type ed25519|rsa]

Registers an instance and writes its key and agent config (agent.yml) under <data-dir>/instances/<id>/, then prints
the instance id and the config path. Copy that directory to the host and run 'runcommand-agent --config agent.yml'.

Options:
  --display-name NAME   (default: this host's name)
  --compartment-id ID   (default: the platform's compartment)
  --endpoint URL        the endpoint the agent will use (default: the platform's)
  --key-type TYPE       the instance's signing key: ed25519 (default; this platform only) or rsa (RSA-2048, for an
                        agent whose key must also work with OCI's own services)

${GLOBAL_OPTIONS_HELP}

Examples:
  runcommand instance add --display-name web-1
  runcommand instance add --display-name db-1 --endpoint http://10.0.0.5:8530
`;

export const INSTANCE_LIST_HELP = `Usage: runcommand instance list

Lists the instances registered with the platform in --data-dir, with their agent config paths.

${GLOBAL_OPTIONS_HELP}

Example:
  runcommand instance list --output table
`;

const INSTANCE_COLUMNS = ['instanceId', 'displayName', 'compartmentId', 'timeCreated', 'agentConfigFile'];

export async function instanceAdd(argv: readonly string[]): Promise<number> {
  const { args, globals } = parseCommandArgs(argv, { values: ['display-name', 'compartment-id', 'key-type'] });
  noPositionals(args);
  const platform = readPlatformInfo(globals.dataDir);
  const endpoint = globals.endpoint ?? platform?.endpoint;
  if (!endpoint) throw new UsageError(`no endpoint: pass --endpoint, or start the platform so ${globals.dataDir}/platform.json exists`);
  const compartmentId = optionString(args, 'compartment-id');
  const keyType = optionChoice(args, 'key-type', API_KEY_TYPES);
  const added = await registerInstance(globals.dataDir, {
    displayName: optionString(args, 'display-name') ?? os.hostname(),
    endpoint,
    ...(compartmentId !== undefined ? { compartmentId } : {}),
    ...(keyType !== undefined ? { keyType } : {}),
  });
  printResult(process.stdout, globals.output, { ...added.instance, agentConfigFile: added.agentConfigFile });
  return 0;
}

export async function instanceList(argv: readonly string[]): Promise<number> {
  const { args, globals } = parseCommandArgs(argv, {});
  noPositionals(args);
  printResult(process.stdout, globals.output, await listInstances(globals.dataDir), INSTANCE_COLUMNS);
  return 0;
}
