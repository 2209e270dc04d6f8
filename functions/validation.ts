import { zValidator } from '@hono/zod-validator'
import type { ValidationTargets } from 'hono'
import type { ZodType } from 'zod'
import { AppError } from '../shared/errors.js'

/**
 * zod validation of one part of the request; failures become 400 INVALID_REQUEST with the
 * field errors in `technical_details.fields`, or 413 PAYLOAD_TOO_LARGE for a refinement that
 * marks itself `params: { tooLarge: true }`.
 */
export function validate<T extends ZodType, Target extends keyof ValidationTargets>(
  target: Target,
  schema: T,
) {
  return zValidator(target, schema, (result) => {
    if (!result.success) {
      const tooLarge = result.error.issues.find(
        (issue) =>
          issue.code === 'custom' && (issue.params as { tooLarge?: boolean } | undefined)?.tooLarge,
      )
      if (tooLarge) {
        throw new AppError(413, 'PAYLOAD_TOO_LARGE', tooLarge.message, {
          technicalDetails: { field: tooLarge.path.map(String).join('.') },
        })
      }
      const fields = result.error.issues.map((issue) => ({
        field: issue.path.map(String).join('.') || '(body)',
        message: issue.message,
      }))
      throw new AppError(400, 'INVALID_REQUEST', `Invalid ${target}`, {
        technicalDetails: { fields },
      })
    }
  })
}
