import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { freePort } from '../test/support/free-port.js'
import { serveMockWorkspace } from '../testing/serve.js'
import { createMockWorkspace } from '../testing/workspace.js'
import { buildEntries } from './build.js'
import { spawnChild } from './child-process.js'
import { BROKER_CONNECTIONS } from './figures/broker-throughput.js'
import { formatHeapSummary, type HeapSnapshot, summarizeHeap } from './heap-snapshot.js'
import { load } from './load.js'
import { residentMemoryMb } from './memory.js'

const HELP = `Usage: npx tsx bench/heap-summary.ts [--load-s N] [--top N] [--keep DIR]

Starts the broker as the bench runs it (compiled, node …/broker/main.js, databricks provider on
a mocked workspace on loopback), serves cache hits for --load-s seconds (default 5; 0 for idle),
then takes a heap snapshot (--heapsnapshot-signal) and prints where the JS heap goes: by V8 node
type, by module (compiled code and source per package or project folder) and by constructor,
as Markdown for BENCHMARKS.md, with the process's resident memory beside it.

  --load-s N   seconds of load at ${BROKER_CONNECTIONS} connections before the snapshot (default 5)
  --top N      entries per table (default 20)
  --keep DIR   leave the .heapsnapshot in DIR (for Chrome DevTools) instead of deleting it`

const CLIENT_TOKEN = 'heap-summary-client-token-7d1c'
/** A snapshot is complete once its size has not changed for this long and it parses. */
const SETTLED_MS = 500
const SNAPSHOT_TIMEOUT_MS = 60_000

async function untilReady(url: string): Promise<void> {
  const deadline = Date.now() + 30_000
  for (;;) {
    const status = await fetch(`${url}/readyz`)
      .then(async (r) => {
        await r.arrayBuffer()
        return r.status
      })
      .catch(() => 0)
    if (status === 200) return
    if (Date.now() > deadline) throw new Error(`broker at ${url} not ready`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** Waits for the one `.heapsnapshot` in `dir` to be written completely, and parses it. */
async function snapshotIn(dir: string): Promise<{ path: string; snapshot: HeapSnapshot }> {
  const deadline = Date.now() + SNAPSHOT_TIMEOUT_MS
  let lastSize = -1
  for (;;) {
    if (Date.now() > deadline) throw new Error(`no heap snapshot in ${dir}`)
    await new Promise((resolve) => setTimeout(resolve, SETTLED_MS))
    const name = (await readdir(dir)).find((f) => f.endsWith('.heapsnapshot'))
    if (!name) continue
    const path = join(dir, name)
    const { size } = await stat(path)
    if (size !== lastSize) {
      lastSize = size
      continue
    }
    try {
      return { path, snapshot: JSON.parse(await readFile(path, 'utf8')) as HeapSnapshot }
    } catch {
      // Still being written.
    }
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'load-s': { type: 'string', default: '5' },
      top: { type: 'string', default: '20' },
      keep: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (values.help) {
    console.log(HELP)
    return
  }
  const loadS = Number(values['load-s'])
  const root = fileURLToPath(new URL('..', import.meta.url))
  process.stderr.write('compiling the broker\n')
  const entries = await buildEntries(root)

  const host = `http://127.0.0.1:${await freePort()}`
  const workspace = createMockWorkspace({ host, identity: 'heap-summary@example.com' })
  const server = await serveMockWorkspace(host, workspace.handlers)
  // The snapshot is written into the broker's working directory.
  const dir = values.keep ?? (await mkdtemp(join(tmpdir(), 'lakebase-heap-')))
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const broker = spawnChild(
    process.execPath,
    ['--heapsnapshot-signal=SIGUSR2', entries.broker],
    {
      ...workspace.env(),
      PGHOST: '127.0.0.1',
      PGDATABASE: 'databricks_postgres',
      BROKER_PORT: String(port),
      BROKER_TOKEN: CLIENT_TOKEN,
      BROKER_DRAIN_S: '0',
      XDG_CONFIG_HOME: '/nonexistent',
    },
    { cwd: dir },
  )
  try {
    await broker.waitFor(/broker listening/)
    await untilReady(url)
    const idle = await residentMemoryMb(broker.pid)
    if (loadS > 0) {
      process.stderr.write(`${loadS} s of cache hits at ${BROKER_CONNECTIONS} connections\n`)
      await load({
        url: `${url}/v1/credentials`,
        connections: BROKER_CONNECTIONS,
        durationS: loadS,
        headers: { authorization: `Bearer ${CLIENT_TOKEN}` },
      })
    }
    const loaded = await residentMemoryMb(broker.pid)
    process.kill(broker.pid, 'SIGUSR2')
    const { path, snapshot } = await snapshotIn(dir)
    const summary = summarizeHeap(snapshot, Number(values.top))
    const mb = (n: number | undefined) => (n === undefined ? '?' : n.toFixed(1))
    console.log(
      `Broker (compiled, databricks provider), Node ${process.version}: resident ${mb(idle.rss)} MB idle ` +
        `(private ${mb(idle.anon)}), ${mb(loaded.rss)} MB after ${loadS} s of load ` +
        `(private ${mb(loaded.anon)}, peak ${mb(loaded.peak)}).\n`,
    )
    console.log(formatHeapSummary(summary))
    if (values.keep) process.stderr.write(`snapshot kept: ${path}\n`)
  } finally {
    await broker.stop()
    await server.close()
    if (!values.keep) await rm(dir, { recursive: true, force: true })
  }
}

main().catch((err: unknown) => {
  console.error(`heap-summary: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`)
  process.exit(1)
})
