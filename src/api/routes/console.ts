import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { ApiError, type ApiRequest, type ApiResponse } from '../http.js';
import type { RouteSpec } from '../route-spec.js';

interface StaticFile {
  contentType: string;
  body: Buffer;
  gzip: Buffer | undefined;
  etag: string;
}

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
};

/**
 * The repository root: src/api/routes → ../../.. from source (tests), dist/src/api/routes → ../../../.. when
 * compiled. The console is there as console/ (HTML, CSS) and dist/console/ (its compiled modules).
 */
function repositoryRoot(): string | undefined {
  for (const relative of ['../../../', '../../../../']) {
    const root = fileURLToPath(new URL(relative, import.meta.url));
    if (existsSync(join(root, 'console', 'index.html'))) return root;
  }
  return undefined;
}

/** Every file of the console, read and gzipped once at start: a request is a lookup. */
function loadConsoleFiles(): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  const root = repositoryRoot();
  if (root === undefined) return files;
  const add = (dir: string): void => {
    if (!existsSync(dir)) return;
    for (const name of readdirSync(dir)) {
      const contentType = CONTENT_TYPES[extname(name)];
      if (contentType === undefined) continue;
      const body = readFileSync(join(dir, name));
      const compressible = !contentType.startsWith('image/png');
      files.set(name, {
        contentType,
        body,
        gzip: compressible && body.length > 512 ? gzipSync(body, { level: 9 }) : undefined,
        etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
      });
    }
  };
  add(join(root, 'console'));
  add(join(root, 'dist', 'console'));
  return files;
}

/**
 * Revalidated on every load (`no-cache` + ETag → 304): module names carry no hash, and a console half old, half
 * new after an upgrade would be worse than one round trip per file.
 */
function serveFile(request: ApiRequest, file: StaticFile | undefined): ApiResponse {
  if (file === undefined) throw new ApiError(404, 'not_found', `no console file ${request.path}`);
  const headers: Record<string, string> = {
    'Cache-Control': 'no-cache',
    ETag: file.etag,
    Vary: 'Accept-Encoding',
    'X-Content-Type-Options': 'nosniff',
    // The console loads nothing from elsewhere and is never framed.
    'Content-Security-Policy': "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'",
    'Referrer-Policy': 'no-referrer',
  };
  if (request.headers['if-none-match'] === file.etag) return { status: 304, headers };
  const gzip = file.gzip !== undefined && /\bgzip\b/.test(request.headers['accept-encoding'] ?? '');
  if (gzip) headers['Content-Encoding'] = 'gzip';
  return { status: 200, headers, bytes: gzip && file.gzip !== undefined ? file.gzip : file.body, contentType: file.contentType };
}

/** CONTRACT §4 "Console": the operator console at `/`, its files under `/console/`. They hold no token. */
export function consoleRoutes(): RouteSpec[] {
  const files = loadConsoleFiles();
  return [
    {
      method: 'get',
      path: '/',
      summary: 'The operator console (HTML); it asks for the API token when the API answers 401',
      tag: 'Console',
      role: 'public',
      produces: 'text/html',
      responses: { 200: 'The console page', 304: 'Not modified' },
      handler: (request) => serveFile(request, files.get('index.html')),
    },
    {
      method: 'get',
      path: '/console/{file}',
      summary: "The console's scripts and styles",
      tag: 'Console',
      role: 'public',
      produces: 'text/javascript',
      responses: { 200: 'The file (JavaScript or CSS)', 304: 'Not modified', 404: 'No such file' },
      handler: (request) => serveFile(request, files.get(request.params.file ?? '')),
    },
  ];
}
