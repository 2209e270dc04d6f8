import { Hono } from 'hono'
import { LakebaseError } from 'lakebase-broker'

/** Where the page finds the document it renders. */
export const OPENAPI_PATH = '/api/openapi.json'
/** Where the interactive docs live; their assets are served below it. */
export const DOCS_PATH = '/api/docs'

/** The swagger-ui-dist files the page loads, with their types; nothing else is served. */
const ASSETS: Readonly<Record<string, string>> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
}

/**
 * The page's own script, served as a file so the page needs no inline script: the UI pointed at
 * this API's document, with the validator badge (a call to swagger.io) turned off.
 */
const INIT_SCRIPT = `window.ui = SwaggerUIBundle({
  url: ${JSON.stringify(OPENAPI_PATH)},
  dom_id: '#swagger-ui',
  deepLinking: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: 'BaseLayout',
})
`

const PAGE = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Lakebase functions API</title>
  <link rel="icon" type="image/png" href="${DOCS_PATH}/favicon-32x32.png">
  <link rel="stylesheet" href="${DOCS_PATH}/swagger-ui.css">
</head>
<body>
  <noscript>The interactive docs need JavaScript; the document itself is at <a href="${OPENAPI_PATH}">${OPENAPI_PATH}</a>.</noscript>
  <div id="swagger-ui"></div>
  <script src="${DOCS_PATH}/swagger-ui-bundle.js"></script>
  <script src="${DOCS_PATH}/init.js"></script>
</body>
</html>
`

/**
 * Everything comes from this origin: no CDN, no inline script. Swagger UI sets inline styles
 * and shows schema images as data: URLs.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ')

/** The assets change only with the installed package: let browsers keep them for a day. */
const ASSET_MAX_AGE_S = 24 * 60 * 60

/**
 * The folder of the installed swagger-ui-dist, found the way Node resolves the package from this
 * file, so it works from the sources (tsx) and from the compiled `dist/` alike. The Node modules
 * are imported here, on first use, so that hosts without a file system (a Worker) can still load
 * the app; there the docs page answers 503.
 */
async function findAssetFolder(): Promise<string> {
  const { createRequire } = await import('node:module')
  const { dirname } = await import('node:path')
  return dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'))
}

/** Reads (once) and serves the whitelisted swagger-ui-dist files. */
function assetReader() {
  const loaded = new Map<string, ArrayBuffer>()
  let folder: string | undefined
  return async (name: string): Promise<ArrayBuffer> => {
    const cached = loaded.get(name)
    if (cached) return cached
    try {
      folder ??= await findAssetFolder()
      const { readFile } = await import('node:fs/promises')
      const { join } = await import('node:path')
      const file = await readFile(join(folder, name))
      const bytes = file.buffer.slice(file.byteOffset, file.byteOffset + file.byteLength)
      loaded.set(name, bytes)
      return bytes
    } catch (err) {
      throw new LakebaseError(
        503,
        'DOCS_UNAVAILABLE',
        'The interactive docs are not installed here',
        {
          technicalDetails: {
            suggestion: `install the npm package swagger-ui-dist; the document is at ${OPENAPI_PATH}`,
          },
          cause: err,
        },
      )
    }
  }
}

/**
 * `GET /api/docs`: Swagger UI over `/api/openapi.json`, its files served from the npm package
 * swagger-ui-dist (no CDN).
 */
export function docsRoutes() {
  const read = assetReader()
  return (
    new Hono()
      .get('/', (c) => {
        c.header('Content-Security-Policy', CONTENT_SECURITY_POLICY)
        return c.html(PAGE)
      })
      // init.js on the same route as the files: a static path beside a parameter one at the same
      // place would make Hono fall back from its RegExpRouter to the slower TrieRouter for every route.
      .get('/:asset', async (c) => {
        const name = c.req.param('asset')
        if (name === 'init.js') {
          c.header('Content-Type', 'text/javascript; charset=utf-8')
          return c.body(INIT_SCRIPT)
        }
        const type = Object.hasOwn(ASSETS, name) ? ASSETS[name] : undefined
        if (type === undefined) {
          throw new LakebaseError(404, 'NOT_FOUND', `No docs asset ${name}`)
        }
        const bytes = await read(name)
        c.header('Content-Type', type)
        c.header('Cache-Control', `public, max-age=${ASSET_MAX_AGE_S}`)
        return c.body(bytes)
      })
  )
}
