import http from 'node:http';
if (process.env.NO_FLUSH) http.ServerResponse.prototype.flushHeaders = function () {};
await import('./platform-child.ts');
