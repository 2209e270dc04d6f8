import { OpenAPIHono } from '@hono/zod-openapi'
import type { Env, ValidationTargets } from 'hono'
import { LakebaseError } from 'lakebase-broker'
import type { ZodError } from 'zod'

/**
 * The error for a request part that failed its zod schema: 413 PAYLOAD_TOO_LARGE for a
 * refinement that marks itself `params: { tooLarge: true }`, else 400 INVALID_REQUEST with the
 * field errors in `technical_details.fields`.
 */
export function validationError(target: keyof ValidationTargets, error: ZodError): LakebaseError {
  const tooLarge = error.issues.find(
    (issue) =>
      issue.code === 'custom' && (issue.params as { tooLarge?: boolean } | undefined)?.tooLarge,
  )
  if (tooLarge) {
    return new LakebaseError(413, 'PAYLOAD_TOO_LARGE', tooLarge.message, {
      technicalDetails: { field: tooLarge.path.map(String).join('.') },
    })
  }
  const fields = error.issues.map((issue) => ({
    field: issue.path.map(String).join('.') || '(body)',
    message: issue.message,
  }))
  return new LakebaseError(400, 'INVALID_REQUEST', `Invalid ${target}`, {
    technicalDetails: { fields },
  })
}

/**
 * A router whose routes are declared with `createRoute`: the same zod schemas validate the
 * request and describe it in the OpenAPI document, and every validation failure is thrown as
 * {@link validationError}, to be rendered by the one error handler.
 */
export function openApiRouter<E extends Env = Env>(): OpenAPIHono<E> {
  return new OpenAPIHono<E>({
    defaultHook: (result) => {
      if (!result.success) throw validationError(result.target, result.error)
    },
  })
}
