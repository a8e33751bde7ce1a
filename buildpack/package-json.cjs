'use strict';
// The buildpack's questions about package.json once Node is installed (CommonJS, so it runs on
// whatever Node version the app asked for).
//
//   node package-json.cjs check FILE [SCRIPT...]  strict parse and field types (exit 1 with one line);
//                                                prints which of the SCRIPTs are defined, space-separated
//   node package-json.cjs hash ROOT PATH...      SHA-256 over files/folders under ROOT (a cache key)
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');

function die(message) {
  process.stderr.write(message + '\n');
  process.exit(1);
}

function load(file) {
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    die(`${file}: cannot read: ${error.message}`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    const at = /position (\d+)/.exec(error.message);
    const line = at ? text.slice(0, Number(at[1])).split('\n').length : 1;
    die(`${file}:${line}: invalid JSON: ${error.message}`);
  }
}

function check(file, wantedScripts) {
  const pkg = load(file);
  if (pkg === null || typeof pkg !== 'object' || Array.isArray(pkg)) die(`${file}:1: must hold a JSON object`);
  if (pkg.main !== undefined && typeof pkg.main !== 'string') die(`${file}: "main" must be a string`);
  if (pkg.engines !== undefined) {
    if (pkg.engines === null || typeof pkg.engines !== 'object') die(`${file}: "engines" must be an object`);
    if (pkg.engines.node !== undefined && typeof pkg.engines.node !== 'string') {
      die(`${file}: "engines.node" must be a string such as "20.x"`);
    }
  }
  if (pkg.scripts !== undefined) {
    if (pkg.scripts === null || typeof pkg.scripts !== 'object' || Array.isArray(pkg.scripts)) {
      die(`${file}: "scripts" must be an object`);
    }
    for (const [name, command] of Object.entries(pkg.scripts)) {
      if (typeof command !== 'string') die(`${file}: scripts["${name}"] must be a string`);
    }
  }
  for (const key of ['dependencies', 'devDependencies']) {
    const deps = pkg[key];
    if (deps !== undefined && (deps === null || typeof deps !== 'object' || Array.isArray(deps))) {
      die(`${file}: "${key}" must be an object`);
    }
  }
  const scripts = pkg.scripts || {};
  const defined = wantedScripts.filter(
    (name) => Object.prototype.hasOwnProperty.call(scripts, name) && scripts[name].trim() !== '',
  );
  process.stdout.write(defined.join(' ') + '\n');
}

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

const [command, file, name, ...rest] = process.argv.slice(2);
switch (command) {
  case 'check':
    check(file, name === undefined ? [] : [name, ...rest]);
    break;
  case 'hash':
    process.stdout.write(hash(file, [name, ...rest]) + '\n');
    break;
  default:
    die(`package-json.cjs: unknown command ${command}`);
}
