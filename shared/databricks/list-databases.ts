import { z } from 'zod'
import { UpstreamError } from './upstream-error.js'
import type { BoundWorkspaceCall } from './workspace-http.js'

/** Items asked for per page: the Provisioned list allows up to 50, the Autoscaling list 100. */
export const LIST_PAGE_SIZE = 50
/**
 * A workspace has a handful of databases; a listing still paging after this many pages is a
 * server handing out the same page token again, not a big workspace.
 */
export const MAX_LIST_PAGES = 100

/** A Lakebase database a user may pick: a Provisioned instance or an Autoscaling endpoint. */
export interface LakebaseDatabase {
  kind: 'provisioned' | 'autoscaling'
  /** The instance name, or the endpoint path `projects/<p>/branches/<b>/endpoints/<e>`. */
  name: string
  /** `AVAILABLE`, `STARTING`, … (Provisioned); `ACTIVE`, `IDLE`, … (Autoscaling). */
  state: string | undefined
  /** Whether that state accepts connections now. */
  ready: boolean
  /** The host to connect to, when the workspace said. */
  host: string | undefined
  /** e.g. `CU_1`, Provisioned only. */
  capacity?: string | undefined
}

const instanceSchema = z.object({
  name: z.string(),
  state: z.string().optional(),
  read_write_dns: z.string().optional(),
  capacity: z.string().optional(),
})
const endpointSchema = z.object({
  name: z.string(),
  status: z
    .object({
      current_state: z.string().optional(),
      hosts: z.object({ host: z.string().optional() }).optional(),
    })
    .optional(),
})

const instancePageSchema = z.object({
  database_instances: z.array(instanceSchema).default([]),
  next_page_token: z.string().optional(),
})

const named = z.object({ name: z.string() })
const projectPageSchema = z.object({
  projects: z.array(named).default([]),
  next_page_token: z.string().optional(),
})
const branchPageSchema = z.object({
  branches: z.array(named).default([]),
  next_page_token: z.string().optional(),
})
const endpointPageSchema = z.object({
  endpoints: z.array(endpointSchema).default([]),
  next_page_token: z.string().optional(),
})

/** The Provisioned state that accepts connections (as the CLI requires before connecting). */
const PROVISIONED_READY = new Set(['AVAILABLE'])
/** Autoscaling states that accept connections; an IDLE endpoint wakes when a client connects. */
const AUTOSCALING_READY = new Set(['ACTIVE', 'IDLE'])

/** Every Lakebase Provisioned instance the caller can see: `GET /api/2.0/database/instances`, paged. */
export async function listProvisionedInstances(
  call: BoundWorkspaceCall,
): Promise<LakebaseDatabase[]> {
  const pages = await allPages(
    (token) =>
      call(
        {
          method: 'GET',
          path: `/api/2.0/database/instances?${pageQuery(token)}`,
          operation: 'the list of database instances',
        },
        instancePageSchema,
      ),
    (page) => page.database_instances,
  )
  return pages.map((instance) => ({
    kind: 'provisioned' as const,
    name: instance.name,
    state: instance.state,
    ready: instance.state !== undefined && PROVISIONED_READY.has(instance.state),
    host: instance.read_write_dns || undefined,
    capacity: instance.capacity,
  }))
}

/**
 * Every Lakebase Autoscaling endpoint the caller can see, walking projects → branches →
 * endpoints (`GET /api/2.0/postgres/projects`, `…/{project}/branches`, `…/{branch}/endpoints`).
 */
export async function listAutoscalingEndpoints(
  call: BoundWorkspaceCall,
): Promise<LakebaseDatabase[]> {
  const projects = await allPages(
    (token) =>
      call(
        {
          method: 'GET',
          path: `/api/2.0/postgres/projects?${pageQuery(token)}`,
          operation: 'the list of Lakebase projects',
        },
        projectPageSchema,
      ),
    (page) => page.projects,
  )
  const found: LakebaseDatabase[] = []
  for (const project of projects) {
    const branches = await allPages(
      (token) =>
        call(
          {
            method: 'GET',
            path: `/api/2.0/postgres/${resourcePath(project.name)}/branches?${pageQuery(token)}`,
            operation: `the list of branches of ${project.name}`,
          },
          branchPageSchema,
        ),
      (page) => page.branches,
    )
    for (const branch of branches) {
      const endpoints = await allPages(
        (token) =>
          call(
            {
              method: 'GET',
              path: `/api/2.0/postgres/${resourcePath(branch.name)}/endpoints?${pageQuery(token)}`,
              operation: `the list of endpoints of ${branch.name}`,
            },
            endpointPageSchema,
          ),
        (page) => page.endpoints,
      )
      for (const endpoint of endpoints) {
        const state = endpoint.status?.current_state
        found.push({
          kind: 'autoscaling',
          name: endpoint.name,
          state,
          ready: state !== undefined && AUTOSCALING_READY.has(state),
          host: endpoint.status?.hosts?.host || undefined,
        })
      }
    }
  }
  return found
}

/**
 * One named database, looked up directly (`GET /api/2.0/database/instances/{name}` or
 * `GET /api/2.0/postgres/{endpoint}`), whatever its state.
 *
 * @throws UpstreamError `not_found` (with the upstream code) when there is no such database.
 */
export async function getDatabase(
  call: BoundWorkspaceCall,
  kind: LakebaseDatabase['kind'],
  name: string,
): Promise<LakebaseDatabase> {
  if (kind === 'provisioned') {
    const instance = await call(
      {
        method: 'GET',
        path: `/api/2.0/database/instances/${encodeURIComponent(name)}`,
        operation: `the lookup of database instance ${name}`,
      },
      instanceSchema,
    )
    return {
      kind,
      name,
      state: instance.state,
      ready: instance.state !== undefined && PROVISIONED_READY.has(instance.state),
      host: instance.read_write_dns || undefined,
      capacity: instance.capacity,
    }
  }
  const endpoint = await call(
    {
      method: 'GET',
      path: `/api/2.0/postgres/${resourcePath(name)}`,
      operation: `the lookup of endpoint ${name}`,
    },
    endpointSchema.partial({ name: true }),
  )
  const state = endpoint.status?.current_state
  return {
    kind,
    name,
    state,
    ready: state !== undefined && AUTOSCALING_READY.has(state),
    host: endpoint.status?.hosts?.host || undefined,
  }
}

async function allPages<P extends { next_page_token?: string | undefined }, T>(
  fetchPage: (token: string | undefined) => Promise<P>,
  items: (page: P) => T[],
): Promise<T[]> {
  const all: T[] = []
  let token: string | undefined
  for (let page = 0; page < MAX_LIST_PAGES; page++) {
    const answer = await fetchPage(token)
    all.push(...items(answer))
    token = answer.next_page_token || undefined
    if (token === undefined) return all
  }
  throw new UpstreamError(
    'malformed_response',
    `the workspace kept paging after ${MAX_LIST_PAGES} pages`,
  )
}

function pageQuery(token: string | undefined): string {
  const query = new URLSearchParams({ page_size: String(LIST_PAGE_SIZE) })
  if (token !== undefined) query.set('page_token', token)
  return query.toString()
}

/** `projects/p/branches/b` as a URL path, each segment encoded. */
function resourcePath(name: string): string {
  return name.split('/').map(encodeURIComponent).join('/')
}
