/**
 * The layering rules of docs/architecture.md, checked on every import in the tree:
 * capabilities depend downwards, never sideways, and only the composition root wires.
 */
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';

const ROOT = path.resolve(import.meta.dirname, '../..');

function sourceFiles(dir: string): string[] {
  return fs
    .readdirSync(path.join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => path.relative(ROOT, path.join(e.parentPath, e.name)));
}

/** Repository-relative targets of a file's relative imports. */
function importsOf(file: string): string[] {
  const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
  const targets: string[] = [];
  for (const match of text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g))
    targets.push(path.relative(ROOT, path.resolve(path.dirname(path.join(ROOT, file)), match[1]!)));
  return targets;
}

const violations = (files: string[], forbidden: (target: string, file: string) => boolean) =>
  files.flatMap((file) =>
    importsOf(file)
      .filter((target) => forbidden(target, file))
      .map((target) => `${file} imports ${target}`),
  );

test('the site and the router never import each other', (t) => {
  t.deepEqual(
    violations(sourceFiles('site'), (to) => to.startsWith('control/router/')),
    [],
  );
  t.deepEqual(
    violations(sourceFiles('control/router'), (to) => to.startsWith('site/')),
    [],
  );
});

test('nothing under control/ imports site/ except the composition root', (t) => {
  t.deepEqual(
    violations(sourceFiles('control'), (to, from) => to.startsWith('site/') && from !== 'control/compose.ts'),
    [],
  );
});

test('jobs/ imports nothing from control/, and only the Nomad driver knows jobs/', (t) => {
  t.deepEqual(
    violations(sourceFiles('jobs'), (to) => to.startsWith('control/')),
    [],
  );
  t.deepEqual(
    violations(sourceFiles('control'), (to, from) => to.startsWith('jobs/') && !from.startsWith('control/orchestrator/nomad/')),
    [],
  );
});

test('the shared web layer depends on no capability, and services depend on no web face', (t) => {
  const faces = ['control/router/', 'control/api/', 'site/', 'control/identity/'];
  t.deepEqual(
    violations(sourceFiles('control/web'), (to) => !to.startsWith('control/web/') && to !== 'control/errors.ts' && to !== 'control/logger.ts'),
    [],
  );
  const services = [
    ...sourceFiles('control/provisioning'),
    ...sourceFiles('control/users'),
    ...sourceFiles('control/access'),
    ...sourceFiles('control/orchestrator'),
  ];
  t.deepEqual(
    violations(services, (to) => faces.some((face) => to.startsWith(face) && !to.startsWith('control/identity/oidc.ts'))),
    [],
  );
});

test('only the composition root constructs the services', (t) => {
  const wiring = sourceFiles('control').filter((file) =>
    /\bnew (InstanceStore|InstanceService|UserStore|AccessCodes|ActivityRecorder|ProvisioningWorker)\(/.test(fs.readFileSync(path.join(ROOT, file), 'utf8')),
  );
  t.deepEqual(wiring, ['control/compose.ts']);
});
