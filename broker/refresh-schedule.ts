/** How the broker decides when to refresh a credential and until when it may hand it out. */
export interface RefreshPolicy {
  /** Share of the lifetime after which to refresh (0 < f < 1); `BROKER_REFRESH_FRACTION`. */
  refreshFraction: number
  /** Never hand out a credential with less than this left; `BROKER_MIN_TTL_S` in ms. */
  minTtlMs: number
  /**
   * Share of the refresh point taken off at random, so that many brokers started together do
   * not all refresh in the same second. Jitter only moves the refresh earlier, never later.
   */
  jitterFraction: number
}

/** Refresh at half the lifetime: the other half is headroom to ride out an upstream outage. */
export const DEFAULT_REFRESH_FRACTION = 0.5
/** 15 s, as the EKS Pod Identity agent: enough for a client to open a connection and log in. */
export const DEFAULT_MIN_TTL_MS = 15_000
/** Up to 10 % earlier: spreads a fleet's refreshes without eating much of the headroom. */
export const DEFAULT_JITTER_FRACTION = 0.1

export const DEFAULT_REFRESH_POLICY: RefreshPolicy = {
  refreshFraction: DEFAULT_REFRESH_FRACTION,
  minTtlMs: DEFAULT_MIN_TTL_MS,
  jitterFraction: DEFAULT_JITTER_FRACTION,
}

export interface Schedule {
  /** When to fetch the next credential (epoch ms). */
  refreshAt: number
  /** The last moment the credential may be handed out (epoch ms): expiry minus the minimum TTL. */
  serveUntil: number
}

/**
 * The refresh schedule of one credential: a pure function of its issue and expiry times, the
 * policy and a random number in [0, 1). The refresh point never falls after `serveUntil`, so a
 * short-lived credential (20 s with a 15 s minimum TTL) is refreshed while still servable.
 */
export function refreshSchedule(
  issuedAt: number,
  expiresAt: number,
  policy: RefreshPolicy,
  random: number,
): Schedule {
  const serveUntil = expiresAt - policy.minTtlMs
  const lifetime = Math.max(0, expiresAt - issuedAt)
  const jitter = 1 - policy.jitterFraction * random
  const planned = issuedAt + lifetime * policy.refreshFraction * jitter
  const refreshAt = Math.max(issuedAt, Math.min(planned, serveUntil))
  return { refreshAt: Math.floor(refreshAt), serveUntil }
}

/** Whether a credential expiring at `expiresAt` may still be handed out at `now`. */
export function isServable(expiresAt: number, now: number, policy: RefreshPolicy): boolean {
  return now < expiresAt - policy.minTtlMs
}
