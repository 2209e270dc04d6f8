import { randomUUID } from 'node:crypto'
import { type HttpHandler, HttpResponse, http } from 'msw'
import { databricksError } from '../script.js'
import type { WorkspaceContext } from './context.js'
import { CLAIMS_SHAPE, parseJson, readClaims, stepMint } from './request-body.js'
import { type Respond, route } from './route.js'

/** Lakebase Provisioned instance states (`DatabaseInstanceState` of the Python SDK's `service/database.py`). */
export type InstanceState =
  | 'AVAILABLE'
  | 'STARTING'
  | 'STOPPED'
  | 'UPDATING'
  | 'UPGRADING'
  | 'FAILING_OVER'
  | 'DELETING'

/** A Provisioned instance as `GET /api/2.0/database/instances/{name}` returns it. */
export interface MockInstance {
  name: string
  uid: string
  state: InstanceState
  pg_version: string
  read_write_dns: string
  read_only_dns: string
  capacity: string
}

/** How the Provisioned routes are set up. */
export interface ProvisionedSettings {
  instances: Map<string, MockInstance>
  /** `page_size` when a list request gives none. */
  defaultPageSize: number | undefined
}

/** The instance a workspace has when the test names none. */
export const DEFAULT_INSTANCE = 'test-instance'
/** `page_size` when neither the request nor the test gives one. */
const LIST_PAGE_SIZE = 50
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i

/** The instances the test asked for, each completed with realistic defaults (AVAILABLE). */
export function mockInstances(
  given: ReadonlyArray<Partial<MockInstance> & { name: string }> = [{ name: DEFAULT_INSTANCE }],
): Map<string, MockInstance> {
  const instances = new Map<string, MockInstance>()
  for (const instance of given) {
    const uid = instance.uid ?? randomUUID()
    instances.set(instance.name, {
      uid,
      state: 'AVAILABLE',
      pg_version: '16',
      read_write_dns: `instance-${uid}.database.cloud.databricks.com`,
      read_only_dns: `instance-ro-${uid}.database.cloud.databricks.com`,
      capacity: 'CU_1',
      ...instance,
    })
  }
  return instances
}

/**
 * Lakebase Provisioned: `POST /api/2.0/database/credentials`, `GET /api/2.0/database/instances`
 * (paged) and `GET /api/2.0/database/instances/{name}`, answered from `settings.instances`.
 */
export function provisionedHandlers(
  context: WorkspaceContext,
  settings: ProvisionedSettings,
): HttpHandler[] {
  const { host } = context
  const { instances } = settings
  return [
    http.post(
      `${host}/api/2.0/database/credentials`,
      route(context, 'databaseCredentials', 'bearer', mintForInstances(context, instances)),
    ),
    http.get(
      `${host}/api/2.0/database/instances`,
      route(context, 'listInstances', 'bearer', listInstances(settings)),
    ),
    http.get(
      `${host}/api/2.0/database/instances/:name`,
      route(context, 'getInstance', 'bearer', ({ params }) => {
        const name = String(params.name)
        const instance = instances.get(name)
        return instance === undefined ? noSuchInstance(name) : HttpResponse.json(instance)
      }),
    ),
  ]
}

/** `{instance_names, request_id, claims?}` → `{token, expiration_time}`, checked as Lakebase does. */
function mintForInstances(
  context: WorkspaceContext,
  instances: Map<string, MockInstance>,
): Respond {
  return async ({ body, step, caller }) => {
    const json = parseJson(body)
    const names = json?.instance_names
    if (!Array.isArray(names) || names.length === 0 || !names.every((n) => typeof n === 'string')) {
      return databricksError(
        400,
        'INVALID_PARAMETER_VALUE',
        'instance_names must be a non-empty list',
      )
    }
    if (typeof json?.request_id !== 'string' || !UUID_V4.test(json.request_id)) {
      return databricksError(400, 'INVALID_PARAMETER_VALUE', 'request_id must be a UUID v4')
    }
    const unknown = names.find((n: string) => !instances.has(n))
    if (unknown !== undefined) return noSuchInstance(unknown)
    const claims = readClaims(json?.claims)
    if (claims === 'invalid') return databricksError(400, 'INVALID_PARAMETER_VALUE', CLAIMS_SHAPE)
    const credential = await context.mint({ user: caller?.user, claims, ...stepMint(step) })
    return HttpResponse.json({
      token: credential.token,
      ...(step.omitExpiration ? {} : { expiration_time: credential.expiresAt.toISOString() }),
    })
  }
}

/** One page of the instances, `page_size` long from the offset `page_token` names. */
function listInstances(settings: ProvisionedSettings): Respond {
  return ({ request }) => {
    const url = new URL(request.url)
    const pageSize = Number(
      url.searchParams.get('page_size') ?? settings.defaultPageSize ?? LIST_PAGE_SIZE,
    )
    const offset = Number(url.searchParams.get('page_token') ?? '0')
    if (!Number.isInteger(pageSize) || pageSize < 1 || !Number.isInteger(offset) || offset < 0) {
      return databricksError(400, 'INVALID_PARAMETER_VALUE', 'bad page_size or page_token')
    }
    const all = [...settings.instances.values()]
    const page = all.slice(offset, offset + pageSize)
    const next = offset + pageSize < all.length ? String(offset + pageSize) : undefined
    return HttpResponse.json({
      database_instances: page,
      ...(next === undefined ? {} : { next_page_token: next }),
    })
  }
}

function noSuchInstance(name: string): Response {
  return databricksError(
    404,
    'RESOURCE_DOES_NOT_EXIST',
    `Database instance '${name}' does not exist.`,
  )
}
