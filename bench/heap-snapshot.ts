/** The parts of a V8 `.heapsnapshot` (JSON) that the summary reads. */
export interface HeapSnapshot {
  snapshot: {
    meta: {
      node_fields: string[]
      node_types: [string[], ...unknown[]]
      edge_fields: string[]
      edge_types: [string[], ...unknown[]]
    }
  }
  nodes: number[]
  edges: number[]
  strings: string[]
}

/** One line of a summary: what, how many heap objects, their own (shallow) bytes. */
export interface HeapEntry {
  name: string
  count: number
  bytes: number
}

export interface HeapSummary {
  /** Every object's own size, summed: the live JS heap the snapshot saw. */
  totalBytes: number
  nodes: number
  /** By V8's node type: object, closure, code, string, array, hidden, … */
  byType: HeapEntry[]
  /** Objects (type `object`) by constructor name, and closures by function name. */
  byConstructor: HeapEntry[]
  /**
   * Compiled code by where it came from: a package in node_modules, a folder of this project
   * (broker, shared, …), or Node's own internals. Counted per script: its source text, and for
   * each of its functions the shared function info and what hangs off it directly (bytecode,
   * scope info, feedback metadata); `count` is its functions.
   */
  byModule: HeapEntry[]
}

/** The edge by which a function's shared info names its script. */
const SCRIPT_EDGE = 'script_or_debug_info'

/**
 * Where a script belongs: `node_modules/<package>` (scoped ones too; not a dot folder such as
 * `node_modules/.cache`), `node:` and other paths
 * without a folder as Node's internals, else the folder after the last `dist/` (the compiled
 * project: `broker`, `shared`, …), else the path's first folder.
 */
export function moduleOf(scriptName: string): string {
  const path = scriptName.replace(/^file:\/\//, '')
  const modules = path.lastIndexOf('/node_modules/')
  const [scope, name] = modules >= 0 ? path.slice(modules + '/node_modules/'.length).split('/') : []
  // A dot folder (node_modules/.cache, where the bench compiles the project) is no package.
  if (scope !== undefined && !scope.startsWith('.'))
    return scope.startsWith('@') ? `${scope}/${name}` : scope
  if (path.startsWith('node:') || !path.includes('/')) return 'node (internal)'
  const dist = path.lastIndexOf('/dist/')
  if (dist >= 0) return path.slice(dist + '/dist/'.length).split('/')[0] as string
  return path.split('/').filter(Boolean)[0] ?? path
}

function top(counts: Map<string, { count: number; bytes: number }>, limit: number): HeapEntry[] {
  return [...counts.entries()]
    .map(([name, { count, bytes }]) => ({ name, count, bytes }))
    .sort((a, b) => b.bytes - a.bytes || a.name.localeCompare(b.name))
    .slice(0, limit)
}

function add(
  counts: Map<string, { count: number; bytes: number }>,
  key: string,
  bytes: number,
  count = 1,
) {
  const entry = counts.get(key) ?? { count: 0, bytes: 0 }
  entry.count += count
  entry.bytes += bytes
  counts.set(key, entry)
}

/** Aggregates a heap snapshot by node type, by constructor and by module; the top `limit` of each. */
export function summarizeHeap(snapshot: HeapSnapshot, limit = 20): HeapSummary {
  const { meta } = snapshot.snapshot
  const { nodes, edges, strings } = snapshot
  const nodeFields = meta.node_fields.length
  const edgeFields = meta.edge_fields.length
  const field = (name: string, fields: string[]) => {
    const index = fields.indexOf(name)
    if (index < 0) throw new Error(`heap snapshot without the ${name} field`)
    return index
  }
  const TYPE = field('type', meta.node_fields)
  const NAME = field('name', meta.node_fields)
  const SIZE = field('self_size', meta.node_fields)
  const EDGE_COUNT = field('edge_count', meta.node_fields)
  const EDGE_TYPE = field('type', meta.edge_fields)
  const EDGE_NAME = field('name_or_index', meta.edge_fields)
  const EDGE_TO = field('to_node', meta.edge_fields)
  const nodeTypes = meta.node_types[0]
  const edgeTypes = meta.edge_types[0]
  const count = nodes.length / nodeFields

  // Where each node's edges begin: they are stored node after node.
  const firstEdge = new Uint32Array(count + 1)
  for (let n = 0, e = 0; n < count; n++) {
    firstEdge[n] = e
    e += (nodes[n * nodeFields + EDGE_COUNT] as number) * edgeFields
  }
  firstEdge[count] = edges.length
  const typeOf = (n: number) => nodeTypes[nodes[n * nodeFields + TYPE] as number] as string
  const nameOf = (n: number) => strings[nodes[n * nodeFields + NAME] as number] as string
  const sizeOf = (n: number) => nodes[n * nodeFields + SIZE] as number
  const edgesOf = function* (n: number) {
    for (let e = firstEdge[n] as number; e < (firstEdge[n + 1] as number); e += edgeFields) {
      const type = edgeTypes[edges[e + EDGE_TYPE] as number] as string
      const nameOrIndex = edges[e + EDGE_NAME] as number
      yield {
        type,
        name: type === 'element' || type === 'hidden' ? String(nameOrIndex) : strings[nameOrIndex],
        to: (edges[e + EDGE_TO] as number) / nodeFields,
      }
    }
  }

  const byType = new Map<string, { count: number; bytes: number }>()
  const byConstructor = new Map<string, { count: number; bytes: number }>()
  const byModule = new Map<string, { count: number; bytes: number }>()
  const scriptsCounted = new Set<number>()
  let totalBytes = 0
  for (let n = 0; n < count; n++) {
    const type = typeOf(n)
    const size = sizeOf(n)
    totalBytes += size
    add(byType, type, size)
    if (type === 'object') add(byConstructor, nameOf(n) || '(anonymous)', size)
    if (type === 'closure') add(byConstructor, `${nameOf(n) || '(anonymous)'}()`, size)
    for (const edge of edgesOf(n)) {
      if (edge.name !== SCRIPT_EDGE || typeOf(edge.to) !== 'code') continue
      const script = edge.to
      const module = moduleOf(nameOf(script))
      // The function: its shared info and the code objects hanging off it directly.
      let bytes = size
      for (const part of edgesOf(n)) {
        if (part.to !== script && part.type === 'internal' && typeOf(part.to) === 'code')
          bytes += sizeOf(part.to)
      }
      add(byModule, module, bytes)
      if (!scriptsCounted.has(script)) {
        scriptsCounted.add(script)
        // The script itself and its source text, once.
        let scriptBytes = sizeOf(script)
        for (const part of edgesOf(script)) {
          if (part.name === 'source') scriptBytes += sizeOf(part.to)
        }
        add(byModule, module, scriptBytes, 0)
      }
    }
  }
  return {
    totalBytes,
    nodes: count,
    byType: top(byType, limit),
    byConstructor: top(byConstructor, limit),
    byModule: top(byModule, limit),
  }
}

/** A summary as Markdown tables (MB with two decimals), for BENCHMARKS.md. */
export function formatHeapSummary(summary: HeapSummary): string {
  const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(2)
  const table = (title: string, entries: HeapEntry[]) =>
    [
      `| ${title} | objects | MB |`,
      '|---|---:|---:|',
      ...entries.map((e) => `| ${e.name.replaceAll('|', '\\|')} | ${e.count} | ${mb(e.bytes)} |`),
    ].join('\n')
  return [
    `JS heap: ${mb(summary.totalBytes)} MB in ${summary.nodes} objects (own sizes).`,
    '',
    table('by type', summary.byType),
    '',
    table('by module (code and source)', summary.byModule),
    '',
    table('by constructor', summary.byConstructor),
  ].join('\n')
}
