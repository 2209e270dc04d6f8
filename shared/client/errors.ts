import type { ContentfulStatusCode } from 'hono/utils/http-status'

/** The contract's error body, the same on the broker and the functions. */
export interface ErrorBody {
  detail: {
    error_code: string
    message: string
    technical_details: Record<string, unknown>
    retry_after: number | null
  }
}

export interface AppErrorOptions {
  technicalDetails?: Record<string, unknown>
  /** Seconds the client should wait before trying again. */
  retryAfter?: number | null
  cause?: unknown
}

/**
 * A request-time failure with a stable `error_code`. Messages and technical details are
 * shown to clients, so they must never hold a password, token or secret.
 */
export class LakebaseError extends Error {
  readonly technicalDetails: Record<string, unknown>
  readonly retryAfter: number | null

  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    options: AppErrorOptions = {},
  ) {
    super(message, { cause: options.cause })
    this.name = 'LakebaseError'
    this.technicalDetails = options.technicalDetails ?? {}
    this.retryAfter = options.retryAfter ?? null
  }

  /** The contract's error body for this error. */
  toBody(): ErrorBody {
    return {
      detail: {
        error_code: this.code,
        message: this.message,
        technical_details: this.technicalDetails,
        retry_after: this.retryAfter,
      },
    }
  }
}

/**
 * A wrong option passed to one of the package's factories (`createSql`, `createPool`,
 * `lakebase()`, `brokerCredentials`, `startBroker`, …), thrown when the object is built, never
 * at request time. `option` names the offending option, e.g. `'max'` or `'credentials.url'`.
 */
export class LakebaseOptionError extends TypeError {
  override readonly name = 'LakebaseOptionError'

  constructor(
    readonly option: string,
    message: string,
  ) {
    super(`${option}: ${message}`)
  }
}
