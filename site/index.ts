/**
 * The site at the apex (and www). Sign-up, dashboard, admin and community pages grow
 * here; until then it answers with a landing page and its own health check.
 */
import type { RequestListener } from 'node:http';
import { page } from '../control/router/pages.ts';

export function createSiteHandler(options: { domain: string; publicUrl: string }): RequestListener {
  const landing = page(
    'Matrix OS',
    `<p>Your own personal AI operating system, always on, at <code>https://{handle}.${options.domain}</code>.</p>`,
  );
  return (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/health') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end('{"status":"ok"}');
    }
    if (path === '/' && (req.method === 'GET' || req.method === 'HEAD')) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(landing) });
      return res.end(req.method === 'HEAD' ? undefined : landing);
    }
    req.resume();
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: 'not_found', message: `Nothing at ${path} on ${options.publicUrl}.` }));
  };
}
