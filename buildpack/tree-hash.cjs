'use strict';
// A cache key for the buildpack's own copy of tsforeman, once Node is installed (CommonJS, so it runs
// on whatever Node version the app asked for).
//
//   node tree-hash.cjs ROOT PATH...   SHA-256 over the files and folders PATH... under ROOT (names and
//                                     contents, in sorted order; missing ones are skipped)
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');

function listFiles(root, relative, out) {
  const full = path.join(root, relative);
  const stat = fs.statSync(full);
  if (stat.isDirectory()) {
    for (const name of fs.readdirSync(full).sort()) listFiles(root, path.join(relative, name), out);
  } else {
    out.push(relative);
  }
}

function hash(root, entries) {
  const files = [];
  for (const entry of entries) {
    if (fs.existsSync(path.join(root, entry))) listFiles(root, entry, files);
  }
  const digest = crypto.createHash('sha256');
  for (const file of files) {
    digest.update(file + '\0');
    digest.update(fs.readFileSync(path.join(root, file)));
    digest.update('\0');
  }
  return digest.digest('hex');
}

const [root, ...entries] = process.argv.slice(2);
if (root === undefined || entries.length === 0) {
  process.stderr.write('usage: node tree-hash.cjs ROOT PATH...\n');
  process.exit(2);
}
process.stdout.write(hash(root, entries) + '\n');
