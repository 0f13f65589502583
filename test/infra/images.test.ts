/**
 * The images, checked without Docker: every file a Dockerfile copies exists and is not
 * excluded by .dockerignore, they run as a non-root user with a health check on a
 * current Node LTS, and the control image starts what `npm start` starts.
 */
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';

const ROOT = path.resolve(import.meta.dirname, '../..');
const DOCKERFILES = ['Dockerfile', 'instance/Dockerfile'];
const ignored = fs
  .readFileSync(path.join(ROOT, '.dockerignore'), 'utf8')
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line && !line.startsWith('#'));

function instructions(file: string): Array<{ op: string; args: string }> {
  const text = fs.readFileSync(path.join(ROOT, file), 'utf8').replace(/\\\n/g, ' ');
  return text
    .split('\n')
    .filter((line) => line.trim() && !line.trim().startsWith('#'))
    .map((line) => {
      const [op, ...rest] = line.trim().split(/\s+/);
      return { op: op!.toUpperCase(), args: rest.join(' ') };
    });
}

for (const file of DOCKERFILES) {
  test(`${file}: every file it copies from the build context exists and is not ignored`, (t) => {
    const copies = instructions(file).filter((i) => i.op === 'COPY' && !i.args.startsWith('--from'));
    t.true(copies.length > 0);
    for (const copy of copies) {
      const sources = copy.args.split(/\s+/).slice(0, -1);
      for (const source of sources) {
        t.true(fs.existsSync(path.join(ROOT, source)), `${file}: COPY ${source} exists`);
        t.false(
          ignored.some((pattern) => source === pattern || source.startsWith(`${pattern}/`)),
          `${file}: ${source} is not in .dockerignore`,
        );
      }
    }
  });

  test(`${file}: multi-stage on Node 22 LTS, a non-root user, a health check`, (t) => {
    const all = instructions(file);
    const froms = all.filter((i) => i.op === 'FROM').map((i) => i.args);
    t.true(froms.length >= 2, 'multi-stage');
    for (const from of froms) t.regex(from, /^node:22-bookworm-slim/);
    t.is(all.filter((i) => i.op === 'USER').at(-1)?.args, 'node');
    t.regex(all.find((i) => i.op === 'HEALTHCHECK')?.args ?? '', /\/health/);
  });
}

test('the control image starts exactly what npm start starts', (t) => {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const cmd = JSON.parse(instructions('Dockerfile').find((i) => i.op === 'CMD')!.args) as string[];
  // `tsx file` is `node --import tsx file`, without npm at run time (the root file system may be read-only).
  const asNode = (script: string) => ['node', '--import', ...script.split(' ')];
  t.deepEqual(cmd, asNode(pkg.scripts.start!));
  const instanceCmd = JSON.parse(instructions('instance/Dockerfile').find((i) => i.op === 'CMD')!.args) as string[];
  t.deepEqual(instanceCmd, asNode(pkg.scripts.instance!));
});

test('.dockerignore keeps local data, secrets and git out of every image', (t) => {
  for (const entry of ['.data', '.env', '.git', 'node_modules']) t.true(ignored.includes(entry), entry);
});
