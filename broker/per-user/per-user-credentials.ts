import { LakebaseError } from '../../shared/client/errors.js'
import type { UpstreamError } from '../../shared/databricks/upstream-error.js'
import { toUpstreamError } from '../../shared/databricks/upstream-error.js'
import {
  type CachedUserCredential,
  type UserCredentialCache,
  UserMintRateLimitedError,
} from './user-credential-cache.js'
import { isAccessToken, MAX_USER_TOKEN_CHARS, USER_TOKEN_HEADER } from './user-token.js'

/** A transient failure to mint for a user is worth asking again about this soon. */
const PER_USER_RETRY_AFTER_S = 1

/**
 * The broker's credentials on behalf of end users: one {@link UserCredentialCache} per target
 * that can mint them (a `databricks` target). What the HTTP layer asks when a request carries
 * {@link USER_TOKEN_HEADER}; every failure is an LakebaseError with a stable `error_code`.
 */
export class PerUserCredentials {
  constructor(readonly caches: ReadonlyMap<string, UserCredentialCache> = new Map()) {}

  /**
   * The user's credential for `target`, asked for by `client`; `refused` names one Postgres
   * refused (28P01).
   */
  async get(
    target: string,
    userToken: string,
    refused?: string,
    client = '',
  ): Promise<CachedUserCredential> {
    const cache = this.caches.get(target)
    if (!cache) {
      throw new LakebaseError(
        400,
        'PER_USER_UNSUPPORTED',
        `target "${target}" cannot mint credentials on behalf of a user: only a databricks target can`,
        { technicalDetails: { target, header: USER_TOKEN_HEADER } },
      )
    }
    if (!isAccessToken(userToken)) {
      throw new LakebaseError(
        400,
        'INVALID_REQUEST',
        `${USER_TOKEN_HEADER} must be one access token of at most ${MAX_USER_TOKEN_CHARS} characters`,
        { technicalDetails: { header: USER_TOKEN_HEADER } },
      )
    }
    try {
      return refused === undefined
        ? await cache.get(userToken, client)
        : await cache.refused(userToken, refused, client)
    } catch (err) {
      if (err instanceof UserMintRateLimitedError) {
        throw new LakebaseError(
          429,
          'USER_MINT_RATE_LIMITED',
          `this client asked for too many users' credentials at once; try again in ${err.retryAfterS} s`,
          { technicalDetails: { target }, retryAfter: err.retryAfterS },
        )
      }
      throw userError(target, toUpstreamError(err))
    }
  }
}

/** A refused user token is the user's problem (401/403), anything else the broker's (503). */
function userError(target: string, failure: UpstreamError): LakebaseError {
  const technicalDetails: Record<string, unknown> = {
    target,
    error_class: failure.errorClass,
    ...(failure.upstreamStatus === undefined ? {} : { upstream_status: failure.upstreamStatus }),
    ...(failure.upstreamErrorCode === undefined
      ? {}
      : { upstream_error_code: failure.upstreamErrorCode }),
  }
  if (failure.errorClass === 'unauthorized') {
    return new LakebaseError(
      401,
      'USER_TOKEN_REJECTED',
      `the workspace refused the user's access token: ${failure.message}`,
      { technicalDetails },
    )
  }
  if (failure.errorClass === 'forbidden') {
    return new LakebaseError(
      403,
      'USER_FORBIDDEN',
      `the user may not have a credential for this database: ${failure.message}`,
      { technicalDetails },
    )
  }
  const retryAfter =
    failure.retryAfterMs === undefined
      ? PER_USER_RETRY_AFTER_S
      : Math.max(1, Math.ceil(failure.retryAfterMs / 1000))
  return new LakebaseError(
    503,
    'CREDENTIAL_UNAVAILABLE',
    `no credential for the user on "${target}": ${failure.message}`,
    { technicalDetails, retryAfter },
  )
}
