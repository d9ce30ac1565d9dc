// Validates mcp.json files against 1mcp's JSON Schema with ajv (draft 2020-12, strict mode:
// the schema itself must be well-formed), for tests/tests/schema.rs.
//
//   node schema-check.mjs <schema.json> <config.json>...
//
// Prints one JSON line: {"<config path>": null | ["<instancePath> <message>", ...]}.

import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const jsDir = process.env.ONEMCP_JS_DIR ?? resolve(here, '../../target/js');
const { default: Ajv2020 } = await import(pathToFileURL(join(jsDir, 'node_modules/ajv/dist/2020.js')).href);

const [schemaPath, ...configs] = process.argv.slice(2);
const ajv = new Ajv2020({ strict: true, allErrors: true });
const validate = ajv.compile(JSON.parse(readFileSync(schemaPath, 'utf8')));
const results = {};
for (const path of configs) {
  const ok = validate(JSON.parse(readFileSync(path, 'utf8')));
  results[path] = ok ? null : validate.errors.map((e) => `${e.instancePath || '/'} ${e.message}`);
}
process.stdout.write(`${JSON.stringify(results)}\n`);
