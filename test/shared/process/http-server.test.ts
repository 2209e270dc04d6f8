import { execFile } from 'node:child_process'
import { once } from 'node:events'
import { writeFile } from 'node:fs/promises'
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { Hono } from 'hono'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BODY_LIMIT_BYTES } from '../../../functions/app.js'
import { listen, type RunningServer } from '../../../shared/process/http-server.js'
import { TEST_CLIENT_TOKEN, tempDir } from '../../support/broker.js'
import { type FunctionsStack, startFunctionsStack } from '../../support/functions.js'

const run = promisify(execFile)

const KIB = 1024
const MIB = 1024 * KIB
/** The sizes the issue names: just over the limit, ten times it, a hundred times it. */
const OVERSIZED = [111 * KIB, 1 * MIB, 10 * MIB] as const
/** Sequential requests per size: enough that a race lost one time in a hundred shows. */
const SEQUENTIAL_PUTS = 200
/** Requests in flight at once in the hostile mix, as the finding measured. */
const CONCURRENCY = 8
const HOSTILE_REQUESTS = 400
/** 200 PUTs of 10 MiB move 2 GiB over loopback; a busy two-core machine needs its time. */
const BULK_TIMEOUT_MS = 180_000

let stack: FunctionsStack
let functions: RunningServer

beforeAll(async () => {
  stack = await startFunctionsStack()
  // The same `listen` that `npm start` serves the functions with: Node's HTTP server, over TCP.
  functions = await listen(stack.app.fetch, { kind: 'tcp', host: '127.0.0.1', port: 0 })
})
afterAll(async () => {
  await functions?.close()
  await stack?.close()
})

function json(bytes: number): Uint8Array {
  // A valid JSON string of exactly `bytes` bytes: `"xxx…"`.
  const body = new Uint8Array(bytes).fill(0x78)
  body[0] = 0x22
  body[bytes - 1] = 0x22
  return body
}

/** The same bytes sent as a chunked stream, with no Content-Length to refuse it by. */
function chunked(body: Uint8Array): ReadableStream<Uint8Array> {
  const chunk = 64 * KIB
  let offset = 0
  return new ReadableStream({
    pull(controller) {
      if (offset >= body.length) {
        controller.close()
        return
      }
      controller.enqueue(body.subarray(offset, offset + chunk))
      offset += chunk
    },
  })
}

/** The cause code of a fetch that failed below HTTP (`UND_ERR_SOCKET`, `ECONNRESET`, …). */
function socketError(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause
  return `${cause?.code ?? 'no code'}: ${cause?.message ?? String(err)}`
}

async function errorCode(response: Response): Promise<string | undefined> {
  const text = await response.text()
  try {
    return (JSON.parse(text) as { detail?: { error_code?: string } }).detail?.error_code
  } catch {
    return `not the error body: ${text.slice(0, 80)}`
  }
}

describe('an answer the functions send before reading the body', () => {
  it('sends bodies just over the limit', () => {
    expect(OVERSIZED[0]).toBeGreaterThan(BODY_LIMIT_BYTES)
  })

  it.each(OVERSIZED)(
    `reaches Node's fetch ${SEQUENTIAL_PUTS} times in a row for a %i-byte PUT: 413 with the error body`,
    async (size) => {
      const body = json(size)
      const answers = new Map<string, number>()
      for (let i = 0; i < SEQUENTIAL_PUTS; i++) {
        let answer: string
        try {
          const response = await fetch(`${functions.url}/api/preferences/theme`, {
            method: 'PUT',
            headers: { 'content-type': 'application/json', 'x-forwarded-email': 'big@example.com' },
            body,
          })
          answer = `${response.status} ${await errorCode(response)}`
        } catch (err) {
          answer = `socket error ${socketError(err)}`
        }
        answers.set(answer, (answers.get(answer) ?? 0) + 1)
      }
      expect(Object.fromEntries(answers)).toEqual({
        '413 PAYLOAD_TOO_LARGE': SEQUENTIAL_PUTS,
      })
    },
    BULK_TIMEOUT_MS,
  )

  it('reaches curl, which waits for 100 Continue before sending the body', async () => {
    const dir = await tempDir('early-answer-')
    const answers: string[] = []
    for (const size of OVERSIZED) {
      const file = join(dir, `body-${size}.json`)
      await writeFile(file, json(size))
      // Two requests in one curl: the second one is made after the 413, as a client reusing
      // its connection would.
      const { stdout } = await run('curl', [
        '--silent',
        '--show-error',
        '--write-out',
        ' %{http_code}\n',
        ...['-X', 'PUT', '-H', 'Content-Type: application/json', '-H', 'Expect: 100-continue'],
        ...['-H', 'X-Forwarded-Email: curl@example.com', '--data-binary', `@${file}`],
        `${functions.url}/api/preferences/theme`,
        '--next',
        '--silent',
        '--show-error',
        '--write-out',
        ' %{http_code}\n',
        `${functions.url}/api/health`,
      ])
      answers.push(...stdout.trim().split('\n'))
    }
    expect(answers).toHaveLength(2 * OVERSIZED.length)
    for (const [i, answer] of answers.entries()) {
      if (i % 2 === 0) expect(answer).toMatch(/"error_code":"PAYLOAD_TOO_LARGE".* 413$/)
      else expect(answer).toMatch(/ 200$/)
    }
  })

  it(`costs no other request its connection: a hostile mix, ${CONCURRENCY} at a time`, async () => {
    const big = json(1 * MIB)
    const justOver = json(111 * KIB)
    const user = { 'x-forwarded-email': 'hostile@example.com' }
    // Each kind: a request, and the answer it must get. The small ones reuse whatever
    // connection the big ones left behind.
    const kinds: Array<[string, () => Promise<Response>, string]> = [
      [
        'oversized PUT',
        () =>
          fetch(`${functions.url}/api/preferences/theme`, {
            method: 'PUT',
            headers: { 'content-type': 'application/json', ...user },
            body: big,
          }),
        '413 PAYLOAD_TOO_LARGE',
      ],
      [
        'oversized chunked POST',
        () =>
          fetch(`${functions.url}/api/preferences`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', ...user },
            body: chunked(big),
            duplex: 'half',
          } as RequestInit),
        '413 PAYLOAD_TOO_LARGE',
      ],
      [
        'PUT just over the limit',
        () =>
          fetch(`${functions.url}/api/preferences/theme`, {
            method: 'PUT',
            headers: { 'content-type': 'application/json', ...user },
            body: justOver,
          }),
        '413 PAYLOAD_TOO_LARGE',
      ],
      [
        'wrong content type',
        () =>
          fetch(`${functions.url}/api/preferences/theme`, {
            method: 'PUT',
            headers: { 'content-type': 'text/plain', ...user },
            body: 'x'.repeat(64 * KIB),
          }),
        '415 UNSUPPORTED_MEDIA_TYPE',
      ],
      [
        'oversized body to an unknown route',
        () =>
          fetch(`${functions.url}/api/no-such-route`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', ...user },
            body: big,
          }),
        '413 PAYLOAD_TOO_LARGE',
      ],
      [
        'small GET',
        () => fetch(`${functions.url}/api/preferences/theme`, { headers: user }),
        '404 PREFERENCE_NOT_FOUND',
      ],
      [
        'OPTIONS',
        () => fetch(`${functions.url}/api/preferences`, { method: 'OPTIONS', headers: user }),
        '404 NOT_FOUND',
      ],
      ['health GET', () => fetch(`${functions.url}/api/health`), '200 undefined'],
    ]
    const wrong = await hostileMix(kinds)
    expect(wrong).toEqual({})
  })
})

/**
 * Sends HOSTILE_REQUESTS requests, CONCURRENCY at a time, cycling through `kinds`; answers what
 * went wrong, by kind: socket errors, and answers other than the expected one.
 */
async function hostileMix(
  kinds: Array<[string, () => Promise<Response>, string]>,
): Promise<Record<string, Record<string, number>>> {
  const wrong: Record<string, Record<string, number>> = {}
  let next = 0
  const worker = async () => {
    while (next < HOSTILE_REQUESTS) {
      const [name, send, expected] = kinds[next % kinds.length] as (typeof kinds)[number]
      next += 1
      let answer: string
      try {
        const response = await send()
        answer = `${response.status} ${await errorCode(response)}`
      } catch (err) {
        answer = `socket error ${socketError(err)}`
      }
      if (answer === expected) continue
      wrong[name] ??= {}
      const counts = wrong[name] as Record<string, number>
      counts[answer] = (counts[answer] ?? 0) + 1
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker))
  return wrong
}

describe('an answer the broker sends before reading the body', () => {
  it(`costs no other request its connection: a hostile mix, ${CONCURRENCY} at a time`, async () => {
    const { broker } = stack
    const big = json(1 * MIB)
    const auth = { authorization: `Bearer ${TEST_CLIENT_TOKEN}` }
    const kinds: Array<[string, () => Promise<Response>, string]> = [
      [
        'body to the credential route without a token',
        () => fetch(`${broker.url}/v1/credentials/default`, { method: 'POST', body: big }),
        '401 BROKER_UNAUTHORIZED',
      ],
      [
        'body to an unknown route',
        () => fetch(`${broker.url}/v1/nothing`, { method: 'PUT', headers: auth, body: big }),
        '404 NOT_FOUND',
      ],
      [
        'chunked body through a proxy',
        () =>
          fetch(`${broker.url}/v1/credentials/default`, {
            method: 'POST',
            headers: { ...auth, 'x-forwarded-for': '10.0.0.1' },
            body: chunked(big),
            duplex: 'half',
          } as RequestInit),
        '403 BROKER_FORBIDDEN',
      ],
      ['liveness GET', () => fetch(`${broker.url}/healthz`), '200 undefined'],
      [
        'OPTIONS',
        () => fetch(`${broker.url}/v1/credentials/default`, { method: 'OPTIONS', headers: auth }),
        '404 NOT_FOUND',
      ],
    ]
    const wrong = await hostileMix(kinds)
    expect(wrong).toEqual({})
  })
})

/** A client on a bare socket, to see exactly what the server sends and when it closes. */
interface RawClient {
  socket: Socket
  /** Everything received so far. */
  received(): string
  /** Resolves when the server's FIN arrived (the answer is complete). */
  ended: Promise<void>
  /** Resolves when the socket closed, with the error that closed it, if any. */
  closed: Promise<{ error: string | undefined; atMs: number }>
  /** Resolves when the server closed its end, this many ms after connecting. */
  serverClosed: Promise<number>
}

async function rawClient(running: RunningServer): Promise<RawClient> {
  const { hostname, port } = new URL(running.url)
  const accepted = once(running.server, 'connection') as Promise<[Socket]>
  // Half-open: a FIN from the server must not end our side, so we can go on sending.
  const socket = connect({ port: Number(port), host: hostname, allowHalfOpen: true })
  await once(socket, 'connect')
  const started = performance.now()
  const [serverSocket] = await accepted
  const chunks: Buffer[] = []
  let error: string | undefined
  socket.on('data', (chunk: Buffer) => chunks.push(chunk))
  socket.on('error', (err: NodeJS.ErrnoException) => {
    error = err.code ?? err.message
  })
  return {
    socket,
    received: () => Buffer.concat(chunks).toString('latin1'),
    // Not events.once: it rejects on 'error', and a reset is what some tests wait for.
    ended: new Promise((resolve) => socket.once('end', resolve)),
    closed: new Promise((resolve) =>
      socket.once('close', () => resolve({ error, atMs: performance.now() - started })),
    ),
    serverClosed: new Promise((resolve) =>
      serverSocket.once('close', () => resolve(performance.now() - started)),
    ),
  }
}

/** Writes `bytes` zero bytes, waiting for the socket to drain as a real client would. */
async function send(socket: Socket, bytes: number): Promise<void> {
  const chunk = Buffer.alloc(64 * KIB)
  for (let sent = 0; sent < bytes; sent += chunk.length) {
    if (socket.destroyed) return
    if (!socket.write(chunk.subarray(0, Math.min(chunk.length, bytes - sent)))) {
      await new Promise((resolve) => {
        socket.once('drain', resolve)
        socket.once('close', resolve)
      })
    }
  }
}

function put(bytes: number): string {
  return `PUT /refuse HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${bytes}\r\n\r\n`
}

describe('the lingering close after an early answer', () => {
  /** Short caps, so a test sees both run out. */
  const linger = { maxMs: 400, maxBytes: 2 * MIB }
  let server: RunningServer

  beforeAll(async () => {
    // Answers at once, reading no body, as a body limit or an auth check does.
    const app = new Hono()
    app.put('/refuse', (c) => c.json({ detail: { error_code: 'PAYLOAD_TOO_LARGE' } }, 413))
    app.post('/ignore', (c) => c.text('not read'))
    app.get('/', (c) => c.text('ok'))
    server = await listen(app.fetch, { kind: 'tcp', host: '127.0.0.1', port: 0 }, linger)
  })
  afterAll(async () => {
    await server?.close()
  })

  it('sends the answer with Connection: close, then FIN, and closes once the body is in', async () => {
    const client = await rawClient(server)
    client.socket.write(put(1 * MIB))
    await client.ended
    expect(client.received()).toMatch(/^HTTP\/1\.1 413 [\s\S]*\r\nconnection: close\r\n/i)
    expect(client.received()).toMatch(/\{"detail":\{"error_code":"PAYLOAD_TOO_LARGE"\}\}$/)
    // The server still reads: the whole body goes through, and the close is clean (no RST).
    await send(client.socket, 1 * MIB)
    client.socket.end()
    expect((await client.closed).error).toBeUndefined()
  })

  it(`closes a client that stops sending after ${linger.maxMs} ms`, async () => {
    const client = await rawClient(server)
    client.socket.write(put(1 * MIB))
    await send(client.socket, 64 * KIB)
    await client.ended
    expect(await client.serverClosed).toBeGreaterThanOrEqual(linger.maxMs * 0.9)
    expect(client.received()).toMatch(/PAYLOAD_TOO_LARGE/)
    client.socket.destroy()
  })

  it(`closes a client that goes on sending once ${linger.maxBytes} bytes were discarded`, async () => {
    const client = await rawClient(server)
    const declared = 64 * MIB
    client.socket.write(put(declared))
    await client.ended
    await send(client.socket, declared)
    expect(await client.serverClosed).toBeLessThan(linger.maxMs)
    expect((await client.closed).error).toMatch(/ECONNRESET|EPIPE/)
    expect(client.received()).toMatch(/PAYLOAD_TOO_LARGE/)
  })

  it('keeps the connection when the body had all arrived, unread, before the answer', async () => {
    const client = await rawClient(server)
    const body = 'x'.repeat(8 * KIB)
    // One write: the whole request is in before the app answers.
    client.socket.write(
      `POST /ignore HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    )
    await new Promise<void>((resolve) =>
      client.socket.on('data', () => {
        if (client.received().includes('not read')) resolve()
      }),
    )
    expect(client.received()).toMatch(/\r\nconnection: keep-alive\r\n/i)
    client.socket.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n')
    await client.ended
    expect(client.received()).toMatch(/not read[\s\S]*HTTP\/1\.1 200 OK[\s\S]*ok$/)
  })
})
