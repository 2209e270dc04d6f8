/**
 * What a bench run started (servers, Postgres, pools), stopped last-first when the run ends or is
 * interrupted, each stop's failure ignored so that the rest still stop.
 */
export class Teardown {
  readonly #stops: (() => Promise<unknown>)[] = []
  /** The stops under way: a second `run()` (Ctrl-C during the last one) waits for them too. */
  #stopping: Promise<void> = Promise.resolve()

  /** Stops `stop`'s part with the rest, before whatever was added earlier. */
  add(stop: () => Promise<unknown>): void {
    this.#stops.push(stop)
  }

  /** Stops everything added so far, each part once; resolves when all of it has stopped. */
  run(): Promise<void> {
    const stops = this.#stops.splice(0).reverse()
    this.#stopping = this.#stopping.then(async () => {
      for (const stop of stops) await stop().catch(() => {})
    })
    return this.#stopping
  }
}
