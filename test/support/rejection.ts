import { expect } from 'vitest'

/**
 * The error `promise` rejects with, checked to be a `type`; the test fails if it resolves or
 * rejects with anything else.
 */
export async function rejectionOf<E>(
  promise: Promise<unknown>,
  type: abstract new (...args: never[]) => E,
): Promise<E> {
  const outcome = await promise.then(
    (value: unknown) => ({ resolved: true as const, value }),
    (error: unknown) => ({ resolved: false as const, error }),
  )
  if (outcome.resolved) throw new Error('expected a rejection, but the promise resolved')
  expect(outcome.error).toBeInstanceOf(type)
  return outcome.error as E
}
