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
  /**
   * How long an upstream outage must be survived, in ms; `BROKER_OUTAGE_BUDGET_S`. When set, each
   * credential is refreshed early enough that, should that refresh fail, it can still be served
   * for this long: expiry − refresh point − minimum TTL ≥ budget.
   */
  outageBudgetMs?: number
}

/** Refresh at half the lifetime: the other half is headroom to ride out an upstream outage. */
export const DEFAULT_REFRESH_FRACTION = 0.5
/** 15 s, as the EKS Pod Identity agent: enough for a client to open a connection and log in. */
export const DEFAULT_MIN_TTL_MS = 15_000
/** Up to 10 % earlier: spreads a fleet's refreshes without eating much of the headroom. */
export const DEFAULT_JITTER_FRACTION = 0.1
/**
 * An outage budget never moves the refresh point earlier than a tenth of the lifetime: sooner
 * would refresh almost continuously (at zero, in a loop) for a few percent more headroom. So a
 * budget can use at most 90 % of a lifetime, less the minimum TTL.
 */
export const MIN_REFRESH_FRACTION = 0.1

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
 * The share of a credential's lifetime after which it is refreshed:
 * min(refresh fraction, 1 − (outage budget + minimum TTL) / lifetime), but not below
 * {@link MIN_REFRESH_FRACTION} (or the refresh fraction, if that is lower). Without a budget it is
 * the refresh fraction; with one, it is lower for credentials too short for the fraction to leave
 * the budget.
 */
export function effectiveRefreshFraction(lifetimeMs: number, policy: RefreshPolicy): number {
  if (policy.outageBudgetMs === undefined || lifetimeMs <= 0) return policy.refreshFraction
  const forBudget = 1 - (policy.outageBudgetMs + policy.minTtlMs) / lifetimeMs
  return Math.min(policy.refreshFraction, Math.max(budgetFloor(policy), forBudget))
}

/**
 * Whether a credential living `lifetimeMs` leaves the policy's outage budget between its refresh
 * point and its last servable moment (always true without a budget).
 */
export function meetsOutageBudget(lifetimeMs: number, policy: RefreshPolicy): boolean {
  if (policy.outageBudgetMs === undefined) return true
  if (lifetimeMs <= 0) return false
  return lifetimeMs - policy.outageBudgetMs - policy.minTtlMs >= lifetimeMs * budgetFloor(policy)
}

function budgetFloor(policy: RefreshPolicy): number {
  return Math.min(policy.refreshFraction, MIN_REFRESH_FRACTION)
}

/**
 * The refresh schedule of one credential: a pure function of its issue and expiry times, the
 * policy and a random number in [0, 1). The refresh point never falls after `serveUntil`, so a
 * short-lived credential (20 s with a 15 s minimum TTL) is refreshed while still servable, and
 * never before `issuedAt`, so one too short for the outage budget is refreshed at once.
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
  const planned = issuedAt + lifetime * effectiveRefreshFraction(lifetime, policy) * jitter
  const refreshAt = Math.max(issuedAt, Math.min(planned, serveUntil))
  return { refreshAt: Math.floor(refreshAt), serveUntil }
}

/** Whether a credential expiring at `expiresAt` may still be handed out at `now`. */
export function isServable(expiresAt: number, now: number, policy: RefreshPolicy): boolean {
  return now < expiresAt - policy.minTtlMs
}
