// Validates an AsyncAPI document with the official parser (@asyncapi/parser), the way
// AsyncAPI's own tools do: `node validate.cjs <document> <node_modules folder>`.
// The JSON Schemas name each other by URN (`urn:emulation:schema:<name>:v<n>`, their
// `$id`): a resolver finds the file with that `$id` beside the document.
// Exits 0 when the parser reports no error (warnings are printed), 1 otherwise.
'use strict';
const fs = require('fs');
const path = require('path');
const { createRequire } = require('module');

const [document, modules] = process.argv.slice(2);
if (!document || !modules) {
  console.error('usage: node validate.cjs <asyncapi.yaml> <node_modules folder>');
  process.exit(2);
}
const load = createRequire(path.join(path.resolve(modules), 'index.js'));
const { Parser, fromFile } = load('@asyncapi/parser');

function schemasById(root) {
  const byId = new Map();
  const walk = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.json')) {
        const text = fs.readFileSync(full, 'utf8');
        const id = JSON.parse(text).$id;
        if (id) byId.set(id, text);
      }
    }
  };
  walk(root);
  return byId;
}

async function main() {
  const byId = schemasById(path.dirname(path.resolve(document)));
  const parser = new Parser({
    __unstable: {
      resolver: {
        resolvers: [{
          schema: 'urn',
          read: (uri) => {
            const text = byId.get(uri.toString());
            if (text === undefined) throw new Error(`no schema with $id ${uri}`);
            return text;
          },
        }],
      },
    },
  });
  const { document: parsed, diagnostics } = await fromFile(parser, document).parse();
  let errors = 0;
  for (const d of diagnostics) {
    const level = ['error', 'warning', 'info', 'hint'][d.severity] || 'error';
    if (d.severity === 0) errors += 1;
    console.log(`${level}: ${d.code}: ${d.message} at ${(d.path || []).join('/')}`);
  }
  if (!parsed || errors) {
    console.log(`invalid: ${errors} error(s)`);
    process.exit(1);
  }
  console.log(`valid: ${parsed.channels().length} channels, ` +
              `${parsed.allMessages().length} messages, AsyncAPI ${parsed.version()}`);
}

main().catch((e) => { console.error(e); process.exit(1); });
