/** Kept apart from cli/agent.ts so the main CLI bundle can show it without loading the agent. */
export const AGENT_HELP = `Usage: runcommand agent --config F

Runs the agent for one instance in the foreground: it follows the instance's stream, runs each command once and
reports back. F is the agent.yml that 'runcommand instance add' wrote (the platform's own host uses
<data-dir>/instances/<localInstanceId>/agent.yml, which 'runcommand up' already runs). Logs go to stderr and to its
logDir. SIGINT/SIGTERM stop it after running scripts finish; a second signal kills them. A signal while it starts
stops it as soon as it runs; a second one then exits at once.

On a host, 'runcommand-agent --config F' runs the same agent with Node's memory flags (a smaller process).

Example:
  runcommand-agent --config ~/.runcommand/instances/ocid1.instance.oc1..abc/agent.yml
`;
