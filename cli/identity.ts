/** `runcommand compartment add` and `runcommand user add`: more principals for the embedded platform's tenancy. */
import { addCompartment, addRestrictedUser } from '../platform/admin';
import { UsageError, optionString, optionStrings } from './args';
import { GLOBAL_OPTIONS_HELP, noPositionals, parseCommandArgs } from './context';
import { printResult } from './output';

export const COMPARTMENT_GROUP_HELP = `Usage: runcommand compartment add --name NAME

Commands:
  add    add a compartment to the platform's tenancy and print its id

Run 'runcommand compartment add --help'.
`;

export const COMPARTMENT_ADD_HELP = `Usage: runcommand compartment add --name NAME

Adds a compartment to the tenancy of the platform in --data-dir (safe while it runs) and prints its id. Commands and
instances live in compartments; users may be limited to some of them ('runcommand user add').

${GLOBAL_OPTIONS_HELP}

Example:
  runcommand compartment add --name team-a
`;

export const USER_GROUP_HELP = `Usage: runcommand user add --name NAME --compartment-id ID [--compartment-id ID ...]

Commands:
  add    add a user limited to some compartments, with its own API key and OCI config file

Run 'runcommand user add --help'.
`;

export const USER_ADD_HELP = `Usage: runcommand user add --name NAME --compartment-id ID [--compartment-id ID ...]

Adds a user who may use only the given compartments (anything else answers 404 NotAuthorizedOrNotFound, as OCI
does), writes its key and an OCI config file under <data-dir>/users/<userId>/, and prints the user id and config path.
Point any OCI SDK or 'runcommand --config-file' at that file to act as the user.

${GLOBAL_OPTIONS_HELP}

Example:
  runcommand user add --name alice --compartment-id ocid1.compartment.oc1..abc
  runcommand command list --config-file ~/.runcommand/users/<userId>/config --compartment-id ocid1.compartment.oc1..abc
`;

export async function compartmentAdd(argv: readonly string[]): Promise<number> {
  const { args, globals } = parseCommandArgs(argv, { values: ['name'] });
  noPositionals(args);
  const name = optionString(args, 'name');
  if (!name) throw new UsageError('--name is required');
  printResult(process.stdout, globals.output, { compartmentId: await addCompartment(globals.dataDir, name), name });
  return 0;
}

export async function userAdd(argv: readonly string[]): Promise<number> {
  const { args, globals } = parseCommandArgs(argv, { values: ['name', 'compartment-id'] });
  noPositionals(args);
  const compartments = optionStrings(args, 'compartment-id');
  const name = optionString(args, 'name');
  if (!name) throw new UsageError('--name is required');
  if (compartments.length === 0) throw new UsageError('--compartment-id is required (repeat it for more compartments)');
  printResult(process.stdout, globals.output, { name, compartments, ...(await addRestrictedUser(globals.dataDir, name, compartments)) });
  return 0;
}
