import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';

import { contentTypeFor, FileError, MAX_FILE_BYTES, parseFilePath } from '../../instance/files.ts';
import { auth, rawRequest, startTestInstance, tempDir } from './_instance.ts';

interface ErrorBody {
  error: { code: string; message: string };
}

test('PUT stores a file under files/ in the data dir and GET returns it with a guessed content type', async (t) => {
  const { gateway, dataDir } = await startTestInstance(t);
  const put = await fetch(`${gateway}/api/files/notes/today.md`, { method: 'PUT', headers: auth(), body: '# Today\n' });
  t.is(put.status, 201);
  const entry = (await put.json()) as { path: string; size: number; modified: string };
  t.is(entry.path, 'notes/today.md');
  t.is(entry.size, 8);
  t.false(Number.isNaN(Date.parse(entry.modified)));
  t.is(await readFile(path.join(dataDir, 'files', 'notes', 'today.md'), 'utf8'), '# Today\n');

  const get = await fetch(`${gateway}/api/files/notes/today.md`, { headers: auth() });
  t.is(get.status, 200);
  t.is(get.headers.get('content-type'), 'text/markdown; charset=utf-8');
  t.is(get.headers.get('content-length'), '8');
  t.is(await get.text(), '# Today\n');
});

test('PUT over an existing file replaces it and answers 200', async (t) => {
  const { gateway } = await startTestInstance(t);
  await fetch(`${gateway}/api/files/a.txt`, { method: 'PUT', headers: auth(), body: 'first version' });
  const put = await fetch(`${gateway}/api/files/a.txt`, { method: 'PUT', headers: auth(), body: 'second' });
  t.is(put.status, 200);
  t.is(await (await fetch(`${gateway}/api/files/a.txt`, { headers: auth() })).text(), 'second');
});

test('binary content round-trips byte for byte, served as application/octet-stream by default', async (t) => {
  const { gateway } = await startTestInstance(t);
  const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  await fetch(`${gateway}/api/files/blob.data`, { method: 'PUT', headers: auth(), body: bytes });
  const get = await fetch(`${gateway}/api/files/blob.data`, { headers: auth() });
  t.is(get.headers.get('content-type'), 'application/octet-stream');
  t.deepEqual(Buffer.from(await get.arrayBuffer()), bytes);
});

test('GET /api/files lists every stored file with path, size and modified time, sorted by path', async (t) => {
  const { gateway } = await startTestInstance(t);
  t.deepEqual(await (await fetch(`${gateway}/api/files`, { headers: auth() })).json(), []);
  for (const [name, body] of [
    ['b.txt', 'bb'],
    ['a/deep/c.json', '{}'],
    ['a/x.txt', 'x'],
  ] as const) {
    await fetch(`${gateway}/api/files/${name}`, { method: 'PUT', headers: auth(), body });
  }
  const list = (await (await fetch(`${gateway}/api/files`, { headers: auth() })).json()) as { path: string; size: number; modified: string }[];
  t.deepEqual(
    list.map(({ path: p, size }) => ({ path: p, size })),
    [
      { path: 'a/deep/c.json', size: 2 },
      { path: 'a/x.txt', size: 1 },
      { path: 'b.txt', size: 2 },
    ],
  );
  t.true(list.every((file) => !Number.isNaN(Date.parse(file.modified))));
});

test('DELETE removes a file with 204, then GET and DELETE answer 404', async (t) => {
  const { gateway, dataDir } = await startTestInstance(t);
  await fetch(`${gateway}/api/files/gone.txt`, { method: 'PUT', headers: auth(), body: 'bye' });
  const del = await fetch(`${gateway}/api/files/gone.txt`, { method: 'DELETE', headers: auth() });
  t.is(del.status, 204);
  t.deepEqual(await readdir(path.join(dataDir, 'files')), []);
  const get = await fetch(`${gateway}/api/files/gone.txt`, { headers: auth() });
  t.is(get.status, 404);
  t.is(((await get.json()) as ErrorBody).error.code, 'not_found');
  t.is((await fetch(`${gateway}/api/files/gone.txt`, { method: 'DELETE', headers: auth() })).status, 404);
});

test('the /files/ alias reaches the same store as /api/files/', async (t) => {
  const { gateway } = await startTestInstance(t);
  await fetch(`${gateway}/files/shared.txt`, { method: 'PUT', headers: auth(), body: 'via alias' });
  t.is(await (await fetch(`${gateway}/api/files/shared.txt`, { headers: auth() })).text(), 'via alias');
  const list = (await (await fetch(`${gateway}/files`, { headers: auth() })).json()) as { path: string }[];
  t.deepEqual(
    list.map((file) => file.path),
    ['shared.txt'],
  );
});

test('HEAD on a file returns its headers and no body', async (t) => {
  const { gateway } = await startTestInstance(t);
  await fetch(`${gateway}/api/files/page.html`, { method: 'PUT', headers: auth(), body: '<p>hi</p>' });
  const head = await fetch(`${gateway}/api/files/page.html`, { method: 'HEAD', headers: auth() });
  t.is(head.status, 200);
  t.is(head.headers.get('content-length'), '9');
  t.is(head.headers.get('content-type'), 'text/html; charset=utf-8');
  t.regex(head.headers.get('content-security-policy') ?? '', /sandbox/);
  t.is(await head.text(), '');
});

test('unsafe paths are rejected with 400 and a message naming the problem', async (t) => {
  const { instance } = await startTestInstance(t);
  const cases: [string, RegExp][] = [
    ['/api/files/../secret', /"\.\." segments/],
    ['/api/files/a/%2e%2e/%2e%2e/secret', /"\.\." segments/],
    ['/files/..%2F..%2Fetc%2Fpasswd', /"\.\." segments/],
    ['/api/files//etc/passwd', /not absolute/],
    ['/api/files/%2Fetc%2Fpasswd', /not absolute/],
    ['/api/files/a%00.txt', /NUL bytes/],
    ['/api/files/a%5Cb.txt', /backslashes/],
    ['/api/files/a//b.txt', /empty or "\." segments/],
    ['/api/files/%E0%A4%A', /percent-encoding/],
  ];
  for (const [target, message] of cases) {
    for (const method of ['GET', 'PUT', 'DELETE']) {
      const res = await rawRequest(instance.gatewayPort, method, target, auth(), method === 'PUT' ? 'x' : undefined);
      t.is(res.status, 400, `${method} ${target}`);
      const body = JSON.parse(res.body) as ErrorBody;
      t.is(body.error.code, 'invalid_path');
      t.regex(body.error.message, message, `${method} ${target}`);
    }
  }
});

test('symlinks cannot lead reads, writes or deletes outside the files root', async (t) => {
  const { gateway, dataDir } = await startTestInstance(t);
  const outside = await tempDir(t);
  await writeFile(path.join(outside, 'secret.txt'), 'top secret');
  await symlink(outside, path.join(dataDir, 'files', 'escape'));
  await symlink(path.join(outside, 'secret.txt'), path.join(dataDir, 'files', 'secret-link.txt'));

  for (const target of ['escape/secret.txt', 'secret-link.txt']) {
    const get = await fetch(`${gateway}/api/files/${target}`, { headers: auth() });
    t.is(get.status, 400, target);
    t.regex(((await get.json()) as ErrorBody).error.message, /outside the files root/);
  }
  t.is((await fetch(`${gateway}/api/files/escape/new.txt`, { method: 'PUT', headers: auth(), body: 'x' })).status, 400);
  t.is((await fetch(`${gateway}/api/files/escape/sub/new.txt`, { method: 'PUT', headers: auth(), body: 'x' })).status, 400);
  t.is((await fetch(`${gateway}/api/files/escape/secret.txt`, { method: 'DELETE', headers: auth() })).status, 400);
  t.deepEqual((await readdir(outside)).sort(), ['secret.txt']);
  t.is(await readFile(path.join(outside, 'secret.txt'), 'utf8'), 'top secret');
});

test('a body over 10 MiB is refused with 413 JSON whether or not it declares its length, and nothing is stored', async (t) => {
  const { gateway, dataDir } = await startTestInstance(t);
  const declared = await fetch(`${gateway}/api/files/big.bin`, { method: 'PUT', headers: auth(), body: Buffer.alloc(MAX_FILE_BYTES + 1) });
  t.is(declared.status, 413);
  t.is(((await declared.json()) as ErrorBody).error.code, 'payload_too_large');

  async function* chunks() {
    for (let i = 0; i < 11; i += 1) yield Buffer.alloc(1024 * 1024, i);
  }
  const streamed = await fetch(`${gateway}/api/files/big.bin`, {
    method: 'PUT',
    headers: auth(),
    body: ReadableStreamFrom(chunks()),
    duplex: 'half',
  } as RequestInit);
  t.is(streamed.status, 413);
  t.regex(((await streamed.json()) as ErrorBody).error.message, /larger than 10485760 bytes/);

  t.deepEqual(await readdir(path.join(dataDir, 'files')), []);
  t.deepEqual(await readdir(path.join(dataDir, '.tmp')), [], 'the partial upload is cleaned up');
});

test('a body of exactly 10 MiB is accepted', async (t) => {
  const { gateway } = await startTestInstance(t);
  const res = await fetch(`${gateway}/api/files/max.bin`, { method: 'PUT', headers: auth(), body: Buffer.alloc(MAX_FILE_BYTES, 1) });
  t.is(res.status, 201);
  t.is(((await res.json()) as { size: number }).size, MAX_FILE_BYTES);
});

test('writing where a directory is, or under a file, answers 409', async (t) => {
  const { gateway } = await startTestInstance(t);
  await fetch(`${gateway}/api/files/dir/inner.txt`, { method: 'PUT', headers: auth(), body: 'x' });
  t.is((await fetch(`${gateway}/api/files/dir`, { method: 'PUT', headers: auth(), body: 'x' })).status, 409);
  t.is((await fetch(`${gateway}/api/files/dir/inner.txt/child`, { method: 'PUT', headers: auth(), body: 'x' })).status, 409);
  t.is((await fetch(`${gateway}/api/files/dir/inner.txt/a/b/c`, { method: 'PUT', headers: auth(), body: 'x' })).status, 409);
  t.is((await fetch(`${gateway}/api/files/dir`, { headers: auth() })).status, 409);
  t.is((await fetch(`${gateway}/api/files/dir`, { method: 'DELETE', headers: auth() })).status, 409);
});

test('an unsupported method on a file route answers 405 with an Allow header', async (t) => {
  const { gateway } = await startTestInstance(t);
  const res = await fetch(`${gateway}/api/files/a.txt`, { method: 'POST', headers: auth(), body: 'x' });
  t.is(res.status, 405);
  t.is(res.headers.get('allow'), 'GET, HEAD, PUT, DELETE');
  t.is(((await res.json()) as ErrorBody).error.code, 'method_not_allowed');
  const list = await fetch(`${gateway}/api/files`, { method: 'DELETE', headers: auth() });
  t.is(list.status, 405);
  t.is(list.headers.get('allow'), 'GET, HEAD');
});

test('leftover partial uploads from a crash are removed at start-up and never listed', async (t) => {
  const dataDir = await tempDir(t);
  await mkdir(path.join(dataDir, '.tmp'), { recursive: true });
  await writeFile(path.join(dataDir, '.tmp', 'crashed.part'), 'half');
  const { gateway } = await startTestInstance(t, { dataDir });
  t.deepEqual(await readdir(path.join(dataDir, '.tmp')), []);
  t.deepEqual(await (await fetch(`${gateway}/api/files`, { headers: auth() })).json(), []);
});

test('parseFilePath decodes and normalises a valid path', (t) => {
  t.is(parseFilePath('notes/hello%20world.md'), 'notes/hello world.md');
  t.is(parseFilePath('a%2Fb.txt'), 'a/b.txt');
  const error = t.throws(() => parseFilePath(''), { instanceOf: FileError });
  t.is(error?.code, 'invalid_path');
  t.throws(() => parseFilePath('x'.repeat(256)), { message: /at most 255 bytes/ });
});

test('contentTypeFor uses the extension, case-insensitively, with an octet-stream fallback', (t) => {
  t.is(contentTypeFor('a/b.JSON'), 'application/json');
  t.is(contentTypeFor('photo.jpeg'), 'image/jpeg');
  t.is(contentTypeFor('Makefile'), 'application/octet-stream');
});

function ReadableStreamFrom(source: AsyncIterable<Uint8Array>): ReadableStream<Uint8Array> {
  const iterator = source[Symbol.asyncIterator]();
  return new ReadableStream({
    async pull(controller) {
      const { value, done } = await iterator.next();
      if (done) controller.close();
      else controller.enqueue(value);
    },
  });
}
