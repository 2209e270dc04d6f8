import { Ajv2020 } from 'ajv/dist/2020.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DOCS_PATH, OPENAPI_PATH } from '../../functions/docs/swagger-ui.js'
import { type FunctionsStack, startFunctionsStack } from '../support/functions.js'

type Schema = Record<string, unknown>
type Operation = {
  requestBody?: { content: { 'application/json': { schema: Schema } } }
  parameters?: { name: string; in: string; schema: Schema }[]
  responses: Record<string, { description: string; content?: Record<string, { schema: Schema }> }>
}
type Document = {
  openapi: string
  paths: Record<string, Record<string, Operation>>
  components: { schemas: Record<string, Schema> }
}

let stack: FunctionsStack
let doc: Document
beforeAll(async () => {
  stack = await startFunctionsStack({ preferenceKeys: ['theme', 'language'] })
  doc = (await (await stack.call('GET', OPENAPI_PATH, { user: null })).json()) as Document
})
afterAll(async () => {
  await stack?.close()
})

const operation = (method: string, path: string): Operation => {
  const found = doc.paths[path]?.[method]
  if (!found) throw new Error(`${method} ${path} is not documented`)
  return found
}

/** Checks a body against a schema from the document; its `$ref`s point into the document. */
function validates(schema: Schema, body: unknown): string | null {
  const ajv = new Ajv2020({ strict: false })
  const validate = ajv.compile({ ...schema, components: doc.components })
  return validate(body) ? null : ajv.errorsText(validate.errors)
}

describe(`GET ${OPENAPI_PATH}`, () => {
  it('is an OpenAPI 3.1 document', () => {
    expect(doc.openapi).toBe('3.1.0')
    expect(doc.components.schemas.ErrorBody).toBeDefined()
  })

  it('documents every route the app serves, and serves every route it documents', () => {
    const served = new Set(
      stack.app.routes
        .filter((r) => r.method !== 'ALL' && r.path.startsWith('/api/'))
        .filter((r) => r.path !== OPENAPI_PATH && !r.path.startsWith(DOCS_PATH))
        .map((r) => `${r.method} ${r.path.replaceAll(/:(\w+)/g, '{$1}')}`),
    )
    const documented = new Set(
      Object.entries(doc.paths).flatMap(([path, methods]) =>
        Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`),
      ),
    )
    expect([...documented].sort()).toEqual([...served].sort())
    expect(served).toContain('POST /api/model-serving/invoke')
  })

  it('lists the error codes of every error response, in the contract’s error body', () => {
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(methods)) {
        if (path === '/api/health/database') continue // its 503 is the health body itself
        for (const [status, response] of Object.entries(op.responses)) {
          if (Number(status) < 400) continue
          const schema = response.content?.['application/json']?.schema as {
            properties: { detail: { properties: { error_code: { enum: string[] } } } }
          }
          const codes = schema.properties.detail.properties.error_code.enum
          expect(codes.length, `${method} ${path} ${status}`).toBeGreaterThan(0)
          for (const code of codes) expect(response.description).toContain(code)
        }
      }
    }
  })

  it('is built from the schemas that validate the requests', () => {
    const keys = operation('get', '/api/preferences/{key}').parameters?.find(
      (p) => p.name === 'key',
    )
    expect(keys?.schema.enum).toEqual(['theme', 'language'])
    const invoke = operation('post', '/api/model-serving/invoke').requestBody?.content[
      'application/json'
    ].schema as Schema & { properties: Record<string, Schema> }
    const resolved = (
      invoke.$ref ? doc.components.schemas[String(invoke.$ref).split('/').at(-1) ?? ''] : invoke
    ) as { properties: Record<string, Schema>; required: string[] }
    expect(resolved.properties.timeout_seconds).toMatchObject({
      minimum: 1,
      maximum: 300,
      default: 30,
    })
    expect(resolved.required).toEqual(['endpoint_name', 'inputs'])
  })

  it.each([
    ['get', '/api/preferences', 200, {}],
    [
      'post',
      '/api/preferences',
      201,
      { user: 'writer@example.com', body: { preference_key: 'theme', preference_value: {} } },
    ],
    ['post', '/api/preferences', 400, { body: { preference_key: 'nope', preference_value: {} } }],
    ['post', '/api/preferences', 401, { user: null, body: {} }],
    ['get', '/api/preferences/{key}', 404, {}],
    [
      'post',
      '/api/preferences',
      413,
      { body: { preference_key: 'theme', preference_value: { b: 'x'.repeat(101 * 1024) } } },
    ],
    [
      'post',
      '/api/inference-logs',
      415,
      { body: 'status=SUCCESS', headers: { 'content-type': 'text/plain' } },
    ],
    ['post', '/api/model-serving/invoke', 503, { body: { endpoint_name: 'chat', inputs: {} } }],
    ['get', '/api/inference-logs', 400, { query: '?limit=0' }],
  ] as const)(
    'answers %s %s %i with a body as documented',
    async (method, path, status, request) => {
      const url = `${path.replace('{key}', 'theme')}${'query' in request ? request.query : ''}`
      const response = await stack.call(method.toUpperCase(), url, {
        user: 'user' in request ? request.user : 'docs@example.com',
        body: 'body' in request ? request.body : undefined,
        headers: 'headers' in request ? { ...request.headers } : {},
      })
      expect(response.status).toBe(status)
      const documented = operation(method, path).responses[String(status)]
      expect(documented, `${method} ${path} documents ${status}`).toBeDefined()
      const schema = documented?.content?.['application/json']?.schema ?? {}
      expect(validates(schema, await response.json())).toBeNull()
    },
  )
})

describe('routing', () => {
  it("routes on Hono's RegExpRouter, not the TrieRouter fallback (one route shape can force it)", () => {
    const router = stack.app.router as {
      name: string
      match(method: string, path: string): unknown
    }
    router.match('GET', '/api/preferences')
    // SmartRouter names the router it settled on once it has matched.
    expect(router.name).toBe('SmartRouter + RegExpRouter')
  })
})

describe(`GET ${DOCS_PATH}`, () => {
  it('serves the Swagger UI page with its files from this origin only', async () => {
    const response = await stack.call('GET', DOCS_PATH, { user: null })
    expect(response.status).toBe(200)
    expect(response.headers.get('content-security-policy')).toContain("script-src 'self'")
    const page = await response.text()
    expect(page).toContain(`${DOCS_PATH}/swagger-ui-bundle.js`)
    expect(page).not.toMatch(/https?:\/\//)
  })

  it('serves the swagger-ui-dist files from node_modules, and nothing else of the package', async () => {
    const bundle = await stack.call('GET', `${DOCS_PATH}/swagger-ui-bundle.js`, { user: null })
    expect(bundle.status).toBe(200)
    expect(bundle.headers.get('content-type')).toContain('javascript')
    expect((await bundle.text()).length).toBeGreaterThan(100_000)
    const init = await (await stack.call('GET', `${DOCS_PATH}/init.js`, { user: null })).text()
    expect(init).toContain(OPENAPI_PATH)
    expect(init).toContain('validatorUrl: null')
    for (const other of ['index.html', 'package.json', '..%2Fpackage.json', 'swagger-ui.js.map']) {
      expect((await stack.call('GET', `${DOCS_PATH}/${other}`, { user: null })).status).toBe(404)
    }
  })
})
