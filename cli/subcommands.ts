import type { Command } from '../shared/process/run-main.js'
import type { Settings } from '../shared/process/settings.js'

type Loader = () => Promise<{ command: Command<Settings> }>

/**
 * The subcommands, each loaded only when it runs: `broker` never loads the functions, configure
 * or doctor (and their prompts and workspace listing), which keeps its memory small.
 */
export const SUBCOMMANDS: Record<string, { summary: string; load: Loader }> = {
  broker: {
    summary: 'the credential broker alone, configured from the environment',
    load: () => import('../broker/main.js'),
  },
  dev: {
    summary: 'everything: embedded Postgres, broker, migrations, functions (npm start)',
    load: () => import('./commands/dev.js'),
  },
  serve: {
    summary: 'the production entry: broker and functions in one process (Databricks Apps)',
    load: () => import('./commands/serve.js'),
  },
  functions: {
    summary: 'the functions (Node host), reading credentials from a running broker',
    load: () => import('./commands/functions.js'),
  },
  migrate: {
    summary: 'apply migrations/ through broker credentials, then exit',
    load: () => import('./commands/migrate.js'),
  },
  configure: {
    summary: 'sign in as the broker does, pick a Lakebase database, write .env.local',
    load: () => import('./commands/configure.js'),
  },
  doctor: {
    summary: 'check every link from workspace auth to the broker; exit 1 on a broken one',
    load: () => import('./commands/doctor.js'),
  },
  exec: {
    summary: 'run a command with PGHOST, PGUSER, PGPASSWORD, … from the broker: exec -- CMD…',
    load: () => import('./commands/exec.js'),
  },
  wait: {
    summary: 'exit 0 once the broker is ready (/readyz); [--timeout S]',
    load: () => import('./commands/wait.js'),
  },
}

/** `lakebase-broker --help`: the subcommands. */
export function mainHelp(): string {
  const width = Math.max(...Object.keys(SUBCOMMANDS).map((n) => n.length)) + 2
  return [
    'Usage: lakebase-broker <command> [--help] [options]',
    '',
    'Credentials for Databricks Lakebase, refreshed before they expire, for every local service.',
    '',
    'Commands:',
    ...Object.entries(SUBCOMMANDS).map(([name, s]) => `  ${name.padEnd(width)}${s.summary}`),
    '',
    'Each command reads the environment and .env.local (the environment wins); `lakebase-broker',
    '<command> --help` lists its settings. Exit codes: 0 done, 1 failed, 2 wrong settings or',
    "arguments (exec: its command's code).",
  ].join('\n')
}
