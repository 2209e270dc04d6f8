import { chmod, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

/** What the stub CLI does when run. */
export interface CliStubBehaviour {
  stdout?: string
  stderr?: string
  exitCode?: number
  /** Never exit (after recording the run), as a CLI stuck on the network would. */
  hang?: boolean
  /** The stub's file name without extension: `databricks` by default, `az` for the Azure CLI. */
  name?: string
}

/** One run of the stub: its arguments and the config file it was told about. */
export interface CliInvocation {
  args: string[]
  configFile: string | undefined
}

/** A stub CLI on disk and what it has seen. */
export interface CliStub {
  /** Point `DATABRICKS_CLI_PATH` (or `AZURE_CLI_PATH`) here. */
  path: string
  /** Every run so far, in order. */
  invocations(): Promise<CliInvocation[]>
}

/**
 * Writes an executable stand-in for the Databricks CLI (or the Azure CLI) into `dir`: it records
 * its arguments, prints the given stdout and stderr, and exits with the given code.
 */
export async function writeCliStub(dir: string, behaviour: CliStubBehaviour): Promise<CliStub> {
  // .cjs, so that it runs as CommonJS wherever the temp dir is.
  const name = behaviour.name ?? 'databricks'
  const path = join(dir, `${name}.cjs`)
  const log = join(dir, `${name}-invocations.jsonl`)
  await writeFile(
    path,
    [
      '#!/usr/bin/env node',
      `require('node:fs').appendFileSync(${JSON.stringify(log)}, JSON.stringify({ args: process.argv.slice(2), configFile: process.env.DATABRICKS_CONFIG_FILE }) + '\\n')`,
      `process.stdout.write(${JSON.stringify(behaviour.stdout ?? '')})`,
      `process.stderr.write(${JSON.stringify(behaviour.stderr ?? '')})`,
      `process.exitCode = ${behaviour.exitCode ?? 0}`,
      behaviour.hang ? 'setInterval(() => {}, 60_000)' : '',
      '',
    ].join('\n'),
  )
  await chmod(path, 0o755)
  return {
    path,
    async invocations() {
      const text = await readFile(log, 'utf8').catch(() => '')
      return text
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as CliInvocation)
    },
  }
}
