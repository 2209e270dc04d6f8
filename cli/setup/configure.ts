import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { chooseProvider } from '../../broker/config.js'
import {
  getDatabase,
  type LakebaseDatabase,
  listAutoscalingEndpoints,
  listProvisionedInstances,
} from '../../shared/databricks/list-databases.js'
import { UpstreamError } from '../../shared/databricks/upstream-error.js'
import type { BoundWorkspaceCall } from '../../shared/databricks/workspace-http.js'
import { ENV_FILE, type Env, envValue, loadEnv } from '../../shared/process/env.js'
import { checkSettings, isFailing, type SettingFinding, settingsPass } from './check-settings.js'
import { type EnvEdit, readEnvText, updateEnvFile } from './env-file.js'
import { ORIGINAL_APP_VARIABLES, planOriginalAppSettings } from './original-app.js'
import { renderTable } from './table.js'
import { openWorkspace, type WorkspaceSession, workspaceSettingsFrom } from './workspace.js'

export const CONFIGURE_HELP = `Usage: npm run configure [-- options]

Signs in to your Databricks workspace the way the broker does (DATABRICKS_TOKEN, DATABRICKS_CLIENT_ID
+ DATABRICKS_CLIENT_SECRET, a ~/.databrickscfg profile, or the Databricks CLI login), lists your
Lakebase Provisioned instances and Autoscaling endpoints with their state, lets you pick one, and
writes the settings to .env.local (merged: your comments and other lines are kept): DATABRICKS_HOST,
LAKEBASE_INSTANCE_NAME or LAKEBASE_ENDPOINT, and what the original Python app reads, PGHOST,
LAKEBASE_HOST, LAKEBASE_PORT and LAKEBASE_DATABASE, as the broker resolves them. A value you wrote
yourself is kept, with a warning when it disagrees. It never writes a secret unless you pass
--save-token.

Options:
  --instance NAME     use this Lakebase Provisioned instance (no prompt)
  --endpoint PATH     use this Autoscaling endpoint, projects/<p>/branches/<b>/endpoints/<e>
  --host URL          the workspace (else DATABRICKS_HOST, else the config profile, else a prompt)
  --dir DIR           the project folder whose .env.local is read and written (default: here)
  --save-token        also write the workspace credential taken from the environment
                      (DATABRICKS_TOKEN, or DATABRICKS_CLIENT_ID + _SECRET) to .env.local (0600)
  --check-only        change nothing: name each missing or wrong setting and its fix, then look up
                      the database's host (one read-only call) and report PGHOST, LAKEBASE_HOST,
                      LAKEBASE_PORT and LAKEBASE_DATABASE as configure would write or keep them;
                      exit 0 when all is set, 1 otherwise
  -h, --help          this text

Then: npm start, and npm run doctor to check every link to the database.`

/** A prompt asking to pick one of `choices`; @inquirer/prompts' select, or a test's stand-in. */
export type SelectPrompt = (config: {
  message: string
  choices: { name: string; value: string; description?: string }[]
  pageSize?: number
}) => Promise<string>
/** A prompt asking for a line of text; @inquirer/prompts' input, or a test's stand-in. */
export type InputPrompt = (config: {
  message: string
  validate?: (value: string) => boolean | string
}) => Promise<string>

/** Everything `configure` touches, injected so that a test runs it in-process. */
export interface ConfigureIo {
  /** The process environment (`.env.local` is read from the project folder). */
  env: Env
  /** The working directory: the default project folder. */
  cwd: string
  out: (text: string) => void
  /** Whether a person is there to answer prompts (stdin and stdout are terminals). */
  interactive: boolean
  select: SelectPrompt
  input: InputPrompt
}

/** An answer for the user: the message, and the exit code. */
class Stop extends Error {
  constructor(
    message: string,
    readonly code = 1,
  ) {
    super(message)
  }
}

/** `npm run configure`: returns the exit code. */
export async function configure(argv: readonly string[], io: ConfigureIo): Promise<number> {
  let values: ReturnType<typeof parseOptions>
  try {
    values = parseOptions(argv)
  } catch (err) {
    io.out(`configure: ${(err as Error).message}\n\n${CONFIGURE_HELP}`)
    return 2
  }
  if (values.help) {
    io.out(CONFIGURE_HELP)
    return 0
  }
  const dir = resolve(io.cwd, values.dir ?? '.')
  const envFile = join(dir, ENV_FILE)
  const env = loadEnv(dir, io.env)

  if (values['check-only']) {
    const findings = await checkSettings(env)
    if (settingsPass(findings) && chooseProvider(env, undefined) === 'databricks') {
      findings.push(...(await checkOriginalApp(env, io.env, await readEnvText(envFile))))
    }
    io.out(`configure --check-only: ${envFile} and the environment\n`)
    io.out(renderFindings(findings))
    const ok = settingsPass(findings)
    const warned = findings.some((f) => f.status === 'warning')
    io.out(
      ok
        ? `\nAll set${warned ? ', but read the warnings above' : ''}. \`npm run doctor\` checks each link to the database.`
        : '\nFix the settings above (or run `npm run configure`), then check again.',
    )
    return ok ? 0 : 1
  }

  try {
    if (values.instance !== undefined && values.endpoint !== undefined) {
      throw new Stop('pass --instance or --endpoint, not both', 2)
    }
    const session = await signIn(env, values.host, io)
    io.out(`Signed in to ${session.auth.host} (${session.auth.method}).`)
    const chosen = await choose(session, values, io)
    if (!chosen.ready) {
      io.out(
        `Note: ${chosen.name} is ${chosen.state ?? 'in an unknown state'}; the broker waits for it to accept connections.`,
      )
    }
    const ours = settingsFor(chosen, session, env, io.env, values['save-token'] === true, io)
    const original = await planOriginalAppSettings({
      env: envAfter(env, io.env, ours),
      processEnv: io.env,
      envFileText: await readEnvText(envFile),
      call: await session.call(),
      writing: true,
    })
    const edit: EnvEdit = { set: { ...ours.set, ...original.set }, unset: ours.unset }
    await updateEnvFile(envFile, edit, { secret: values['save-token'] === true })
    io.out(`\nWrote ${envFile}:`)
    for (const [name, value] of Object.entries(edit.set)) {
      io.out(`  ${name}=${isSecretName(name) ? '<hidden>' : value}`)
    }
    for (const [name, why] of Object.entries(edit.unset ?? {})) {
      io.out(`  ${name} commented out (${why})`)
    }
    io.out(`\nWhat the original app reads:\n${renderFindings(original.findings)}`)
    const findings = await checkSettings(loadEnv(dir, io.env))
    if (!settingsPass(findings)) {
      io.out(`\nStill to fix:\n${renderFindings(findings.filter(isFailing))}`)
      return 1
    }
    io.out('\nNext: npm start (the broker, migrations and functions), or npm run doctor.')
    return 0
  } catch (err) {
    if (err instanceof Stop) {
      io.out(`configure: ${err.message}`)
      return err.code
    }
    if (isPromptClosed(err)) {
      io.out('configure: cancelled; nothing written')
      return 130
    }
    throw err
  }
}

/** The options of `configure` (besides `--help`), as `CONFIGURE_HELP` lists them. */
export const CONFIGURE_OPTIONS = {
  'check-only': { type: 'boolean' },
  instance: { type: 'string' },
  endpoint: { type: 'string' },
  host: { type: 'string' },
  dir: { type: 'string' },
  'save-token': { type: 'boolean' },
} as const

function parseOptions(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    options: { help: { type: 'boolean', short: 'h' }, ...CONFIGURE_OPTIONS },
    strict: true,
    allowPositionals: false,
  }).values
}

/** Signs in as the broker would; asks for the workspace URL when nothing names one. */
async function signIn(
  env: Env,
  hostFlag: string | undefined,
  io: ConfigureIo,
): Promise<WorkspaceSession> {
  let host = hostFlag ?? envValue(env, 'DATABRICKS_HOST')
  for (;;) {
    let session: WorkspaceSession
    try {
      session = await openWorkspace(workspaceSettingsFrom({ ...env, DATABRICKS_HOST: host }))
    } catch (err) {
      const noHost = host === undefined && /no Databricks workspace/.test((err as Error).message)
      if (noHost && io.interactive) {
        host = await io.input({
          message: 'Databricks workspace URL (https://…)',
          validate: (value) => value.trim() !== '' || 'the URL of your workspace',
        })
        continue
      }
      throw new Stop(
        noHost
          ? 'no workspace: pass --host https://<workspace>, or set DATABRICKS_HOST, or DATABRICKS_CONFIG_PROFILE'
          : `cannot sign in: ${(err as Error).message}`,
      )
    }
    try {
      await session.call()
    } catch (err) {
      throw new Stop(`signing in to ${session.auth.host} failed: ${(err as Error).message}`)
    }
    return session
  }
}

async function choose(
  session: WorkspaceSession,
  values: { instance?: string | undefined; endpoint?: string | undefined },
  io: ConfigureIo,
): Promise<LakebaseDatabase> {
  const call = await session.call()
  if (values.instance !== undefined || values.endpoint !== undefined) {
    const kind = values.instance !== undefined ? 'provisioned' : 'autoscaling'
    const name = (values.instance ?? values.endpoint) as string
    try {
      return await getDatabase(call, kind, name)
    } catch (err) {
      if (err instanceof UpstreamError && err.errorClass === 'not_found') {
        throw new Stop(
          `no ${kind === 'provisioned' ? 'instance' : 'endpoint'} ${name} in ${session.auth.host}; run npm run configure without it to see the list`,
        )
      }
      throw new Stop(`looking up ${name} failed: ${(err as Error).message}`)
    }
  }

  const [provisioned, autoscaling] = await Promise.allSettled([
    listProvisionedInstances(call),
    listAutoscalingEndpoints(call),
  ])
  if (provisioned.status === 'rejected' && autoscaling.status === 'rejected') {
    throw new Stop(`listing the databases failed: ${(provisioned.reason as Error).message}`)
  }
  const found = [
    ...(provisioned.status === 'fulfilled' ? provisioned.value : []),
    ...(autoscaling.status === 'fulfilled' ? autoscaling.value : []),
  ]
  for (const [what, result] of [
    ['Provisioned instances', provisioned],
    ['Autoscaling endpoints', autoscaling],
  ] as const) {
    if (result.status === 'rejected') {
      io.out(`(Could not list ${what}: ${(result.reason as Error).message})`)
    }
  }
  if (found.length === 0) {
    throw new Stop(
      `no Lakebase databases in ${session.auth.host} that this identity can see; create one (databricks bundle deploy creates the one in databricks.yml) or ask for access`,
    )
  }
  io.out(
    `\n${renderTable(
      ['database', 'kind', 'state', 'host'],
      found.map((d) => ({ cells: [d.name, kindName(d), d.state ?? '?', d.host ?? ''] })),
    )}\n`,
  )
  if (!io.interactive) {
    throw new Stop(
      'pick one with --instance NAME (Provisioned) or --endpoint PATH (Autoscaling)',
      2,
    )
  }
  const picked = await io.select({
    message: 'Which Lakebase database should the broker use?',
    choices: found.map((d, i) => ({
      name: `${d.name}  (${kindName(d)}, ${d.state ?? 'state unknown'})`,
      value: String(i),
      description: d.host,
    })),
    pageSize: 15,
  })
  return found[Number(picked)] as LakebaseDatabase
}

/**
 * The `.env.local` edit for the chosen database: the workspace and the database, and the
 * settings that would get in their way retired (the other kind of target, `PGUSER=token`). Hosts
 * are left to {@link planOriginalAppSettings}, which keeps a host the user wrote.
 */
function settingsFor(
  chosen: LakebaseDatabase,
  session: WorkspaceSession,
  env: Env,
  processEnv: Env,
  saveToken: boolean,
  io: ConfigureIo,
): EnvEdit {
  const set: Record<string, string> = { DATABRICKS_HOST: session.auth.host }
  const unset: Record<string, string> = {}
  const profile = envValue(env, 'DATABRICKS_CONFIG_PROFILE')
  if (profile !== undefined) set.DATABRICKS_CONFIG_PROFILE = profile
  if (chosen.kind === 'provisioned') {
    set.LAKEBASE_INSTANCE_NAME = chosen.name
    if (envValue(env, 'LAKEBASE_ENDPOINT')) unset.LAKEBASE_ENDPOINT = 'replaced by an instance'
  } else {
    set.LAKEBASE_ENDPOINT = chosen.name
    if (envValue(env, 'LAKEBASE_INSTANCE_NAME'))
      unset.LAKEBASE_INSTANCE_NAME = 'replaced by an endpoint'
  }
  if (envValue(env, 'PGUSER')?.toLowerCase() === 'token') {
    unset.PGUSER = 'Lakebase has no role "token"; the broker uses the token\'s own identity'
  }

  const method = session.auth.method
  const secrets =
    method === 'pat'
      ? ['DATABRICKS_TOKEN']
      : method === 'oauth-m2m'
        ? ['DATABRICKS_CLIENT_ID', 'DATABRICKS_CLIENT_SECRET']
        : []
  const fromProcess = secrets.filter((name) => envValue(processEnv, name) !== undefined)
  if (saveToken) {
    for (const name of fromProcess) set[name] = envValue(processEnv, name) as string
    if (fromProcess.length === 0) {
      io.out(`(--save-token: ${method} keeps its own credential; nothing to write)`)
    }
  } else if (fromProcess.length > 0) {
    io.out(
      `(${fromProcess.join(' + ')} came from the environment and is not written; keep exporting it, or pass --save-token)`,
    )
  }
  return { set, unset }
}

function renderFindings(findings: readonly SettingFinding[]): string {
  return renderTable(
    ['setting', 'result', 'detail'],
    findings.map((f) => {
      const quiet = f.status === 'ok' || f.status === 'note'
      return {
        cells: [f.setting, quiet ? f.status : f.status.toUpperCase(), f.detail],
        ...(f.fix === undefined || quiet ? {} : { note: `fix: ${f.fix}` }),
      }
    }),
  )
}

/**
 * The environment as the broker will read it once `edit` is written: the process environment
 * still wins, so a variable set there is not retired by commenting out its line.
 */
function envAfter(env: Env, processEnv: Env, edit: EnvEdit): Env {
  const after: Env = { ...env, ...edit.set }
  for (const name of Object.keys(edit.unset ?? {})) {
    if (envValue(processEnv, name) === undefined) delete after[name]
  }
  return { ...after, ...processEnv }
}

/**
 * `--check-only`'s look at what the original app reads: one sign-in and the host lookup the
 * broker makes, reported as `configure` would write or keep each variable.
 */
async function checkOriginalApp(
  env: Env,
  processEnv: Env,
  envFileText: string,
): Promise<SettingFinding[]> {
  let call: BoundWorkspaceCall
  try {
    call = await (await openWorkspace(workspaceSettingsFrom(env))).call()
  } catch (err) {
    return [
      {
        setting: ORIGINAL_APP_VARIABLES.join(', '),
        status: 'note',
        detail: `not checked: signing in failed: ${(err as Error).message}`,
      },
    ]
  }
  const plan = await planOriginalAppSettings({ env, processEnv, envFileText, call, writing: false })
  return plan.findings
}

function kindName(database: LakebaseDatabase): string {
  return database.kind === 'provisioned' ? 'Provisioned' : 'Autoscaling'
}

function isSecretName(name: string): boolean {
  return name === 'DATABRICKS_TOKEN' || name === 'DATABRICKS_CLIENT_SECRET'
}

/** @inquirer/prompts rejects with ExitPromptError when the user presses Ctrl-C. */
function isPromptClosed(err: unknown): boolean {
  return err instanceof Error && err.name === 'ExitPromptError'
}
