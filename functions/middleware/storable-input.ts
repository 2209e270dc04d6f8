import type { MiddlewareHandler } from 'hono'
import { LakebaseError } from 'lakebase-broker'
import { requestHeader } from 'lakebase-broker/hono'

/**
 * A JSON body nested deeper than this is refused. No preference or log needs a tenth of it, and
 * deep enough nesting overflows the stack of whatever walks it recursively — the size check's
 * `JSON.stringify`, the driver's serialisation, Postgres's jsonb parser — which would answer 500.
 */
export const MAX_JSON_DEPTH = 64

const BACKSLASH = 0x5c
const QUOTE = 0x22

/**
 * Why a JSON text could not be stored in Postgres, if it could not: nesting deeper than
 * {@link MAX_JSON_DEPTH}, a `\u0000` (jsonb and text refuse NUL), or a `\uD800`-style escape
 * that is not half of a surrogate pair (jsonb refuses those). A linear scan with no recursion;
 * text that is not JSON at all is left to the JSON parser.
 */
export function unstorableJson(text: string): string | undefined {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i)
    if (inString) {
      if (ch === QUOTE) inString = false
      else if (ch === 0) return 'a NUL character'
      else if (ch === BACKSLASH) {
        if (text[i + 1] !== 'u') {
          i += 1
          continue
        }
        const code = Number.parseInt(text.slice(i + 2, i + 6), 16)
        if (code === 0) return 'a \\u0000 escape (NUL)'
        if (code >= 0xdc00 && code <= 0xdfff) return 'an unpaired surrogate escape'
        if (code >= 0xd800 && code <= 0xdbff) {
          const paired = text.slice(i + 6, i + 8) === '\\u'
          const low = paired ? Number.parseInt(text.slice(i + 8, i + 12), 16) : Number.NaN
          if (!(low >= 0xdc00 && low <= 0xdfff)) return 'an unpaired surrogate escape'
          i += 6
        }
        i += 5
      }
      continue
    }
    if (ch === QUOTE) inString = true
    else if (ch === 0x7b || ch === 0x5b) {
      depth += 1
      if (depth > MAX_JSON_DEPTH) return `nesting deeper than ${MAX_JSON_DEPTH} levels`
    } else if (ch === 0x7d || ch === 0x5d) depth -= 1
  }
  return undefined
}

function refuse(field: string, problem: string): LakebaseError {
  const message = `${field === '(body)' ? 'The JSON body' : `The query parameter ${field}`} holds ${problem}, which cannot be stored`
  return new LakebaseError(400, 'INVALID_REQUEST', message, {
    technicalDetails: { fields: [{ field, message: `holds ${problem}` }] },
  })
}

/**
 * Refuses, with 400 INVALID_REQUEST, input the database cannot store or the handlers cannot
 * walk: a JSON body that {@link unstorableJson} objects to, or a query parameter holding NUL.
 * Runs after the body limit, so it never reads more than that; the body it reads is cached for
 * the route's own validator.
 */
export function storableInput(): MiddlewareHandler {
  return async function refuseUnstorableInput(c, next) {
    // Most requests have no query string: nothing to parse then.
    if (c.req.url.includes('?')) {
      for (const [name, values] of Object.entries(c.req.queries())) {
        if (values.some((value) => value.includes('\0'))) throw refuse(name, 'a NUL character')
      }
    }
    const method = c.req.method
    const type = method === 'GET' || method === 'HEAD' ? '' : requestHeader(c, 'content-type')
    if (type?.toLowerCase().includes('json')) {
      const problem = unstorableJson(await c.req.text())
      if (problem !== undefined) throw refuse('(body)', problem)
    }
    await next()
  }
}
