import { autoscalingEndpointHost } from '../../shared/databricks/autoscaling.js'
import {
  type DatabricksSettings,
  databricksSettingsFromEnv,
  type LakebaseTarget,
} from '../../shared/databricks/lakebase-settings.js'
import { getDatabase } from '../../shared/databricks/list-databases.js'
import { provisionedInstanceHost } from '../../shared/databricks/provisioned.js'
import { UpstreamError } from '../../shared/databricks/upstream-error.js'
import type { BoundWorkspaceCall } from '../../shared/databricks/workspace-http.js'
import { type Env, envValue } from '../../shared/process/env.js'
import type { SettingFinding } from './check-settings.js'
import { configuredNames } from './env-file.js'

/**
 * Where the original Python app connects, which `configure` writes beside the database's name
 * (`LAKEBASE_INSTANCE_NAME` or `LAKEBASE_ENDPOINT`): a team running it next to this project, on
 * the same `.env.local`, then reaches the same database as the broker.
 */
export const ORIGINAL_APP_VARIABLES = [
  'PGHOST',
  'LAKEBASE_HOST',
  'LAKEBASE_PORT',
  'LAKEBASE_DATABASE',
] as const

export interface OriginalAppInput {
  /** The environment over `.env.local`, with the database `configure` is writing named in it. */
  env: Env
  /** The process environment alone: what no edit of `.env.local` changes. */
  processEnv: Env
  /** `.env.local` as it is now ('' when missing): its lines under configure's header are its own. */
  envFileText: string
  /** Bound to the workspace the broker signs in to: the host is looked up as the broker does. */
  call: BoundWorkspaceCall
  /** `configure` writes the plan (findings say what it wrote); `--check-only` only reports it. */
  writing: boolean
}

export interface OriginalAppPlan {
  /** What to write to `.env.local`: each variable that is unset, or that configure wrote before. */
  set: Record<string, string>
  /** One finding per variable: what was written or would be, kept, or kept but disagreeing. */
  findings: SettingFinding[]
}

/**
 * The original app's variables as the broker will resolve them. Port and database come from
 * `databricksSettingsFromEnv`, the broker's own reading of the settings (`PG*` over `LAKEBASE_*`,
 * then Lakebase's defaults); the host is a given `PGHOST`/`LAKEBASE_HOST`, else the one the
 * broker looks up (`read_write_dns`, the endpoint's `status.hosts.host`, or `read_only_dns` with
 * `LAKEBASE_READ_ONLY`), with the same calls.
 *
 * A value the user wrote (in `.env.local` outside configure's block, or in the environment) is
 * kept; it is a warning when it disagrees with the database's host or with what the broker uses.
 * A value configure wrote before is worked out again, as for another database it would be stale.
 */
export async function planOriginalAppSettings(input: OriginalAppInput): Promise<OriginalAppPlan> {
  const own = configuredNames(input.envFileText)
  const byHand = (name: string) =>
    envValue(input.processEnv, name) !== undefined ||
    (!own.has(name) && envValue(input.env, name) !== undefined)
  // The broker's reading of the settings as they will be: configure's own values set aside.
  const kept: Env = { ...input.env }
  for (const name of ORIGINAL_APP_VARIABLES) if (!byHand(name)) delete kept[name]
  let settings: DatabricksSettings
  try {
    settings = databricksSettingsFromEnv(kept)
  } catch (err) {
    return {
      set: {},
      findings: [
        {
          setting: ORIGINAL_APP_VARIABLES.join(', '),
          status: 'note',
          detail: `not worked out: ${(err as Error).message}`,
        },
      ],
    }
  }
  const { target, postgres } = settings
  const looked = await lookUpHost(input.call, target)
  // Where a value the broker uses is given, for the warning: "the broker uses 5433 (from PGPORT)".
  const from = (variable: string) =>
    envValue(kept, variable) === undefined ? '' : ` (from ${variable})`
  const host: Wanted = {
    value: postgres.host ?? looked.host,
    from: postgres.host === undefined ? '' : from('PGHOST') || from('LAKEBASE_HOST'),
  }
  const wanted: Record<(typeof ORIGINAL_APP_VARIABLES)[number], Wanted> = {
    PGHOST: host,
    LAKEBASE_HOST: host,
    LAKEBASE_PORT: { value: String(postgres.port), from: from('PGPORT') },
    LAKEBASE_DATABASE: { value: postgres.database, from: from('PGDATABASE') },
  }

  const set: Record<string, string> = {}
  const findings: SettingFinding[] = []
  for (const name of ORIGINAL_APP_VARIABLES) {
    const { value, from: source } = wanted[name]
    const current = envValue(input.env, name)
    if (byHand(name)) {
      // A host must be the database's own too: a given PGHOST may be another branch's.
      const against: [string | undefined, (v: string) => string][] = [
        [
          name.endsWith('HOST') ? looked.host : undefined,
          (v) => `${looked.database}'s host is ${v}`,
        ],
        [value, (v) => `the broker uses ${v}${source}`],
      ]
      const [differs, why] = against.find(([v]) => v !== undefined && v !== current) ?? []
      findings.push(
        differs === undefined
          ? { setting: name, status: 'ok', detail: `${current} (yours, kept)` }
          : {
              setting: name,
              status: 'warning',
              detail: `${current} (yours, kept), but ${why?.(differs)}`,
              fix: `set it to ${differs}, or remove it and run \`npm run configure\``,
            },
      )
    } else if (value === undefined) {
      findings.push({ setting: name, status: 'note', detail: `not written: ${looked.why}` })
    } else if (input.writing) {
      set[name] = value
      findings.push({ setting: name, status: 'ok', detail: `${value} (written)` })
    } else if (current === value) {
      findings.push({ setting: name, status: 'ok', detail: `${value} (written by configure)` })
    } else {
      findings.push({
        setting: name,
        status: 'note',
        detail: `${current === undefined ? 'unset' : `${current}, stale`}: configure writes ${value}, which the original app reads`,
        fix: 'run `npm run configure`',
      })
    }
  }
  return { set, findings }
}

interface Wanted {
  value: string | undefined
  /** Where the broker takes it from when it is given, e.g. ` (from PGPORT)`; '' otherwise. */
  from: string
}

/**
 * The host the broker looks up for `target`, with its own calls. A database that does not accept
 * connections now (e.g. `STARTING`) still has the host its listing names, which is the one the
 * broker looks up once it does; a read-only host is looked up only when it is ready.
 */
async function lookUpHost(
  call: BoundWorkspaceCall,
  target: LakebaseTarget,
): Promise<{ host: string | undefined; database: string; why: string }> {
  const database = target.kind === 'provisioned' ? target.instanceName : target.endpoint
  try {
    const host =
      target.kind === 'provisioned'
        ? (await provisionedInstanceHost(call, database, { readOnly: target.readOnly })).host
        : (await autoscalingEndpointHost(call, database)).host
    return { host, database, why: '' }
  } catch (err) {
    const notReady = err instanceof UpstreamError && err.errorClass === 'not_available'
    if (notReady && !(target.kind === 'provisioned' && target.readOnly)) {
      const listed = await getDatabase(call, target.kind, database).catch(() => undefined)
      if (listed?.host !== undefined) return { host: listed.host, database, why: '' }
    }
    return { host: undefined, database, why: `the host lookup failed: ${(err as Error).message}` }
  }
}
