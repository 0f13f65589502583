/**
 * HTML for every web face: escaping, and the small self-contained page (no external
 * assets) that the router's own answers and the development identity provider use.
 */

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A whole page: inline styles only, so it renders even when nothing else can load. */
export function page(title: string, content: string, head = ''): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title><link rel="icon" href="data:,">${head}
<style>
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;min-height:100vh;display:grid;place-items:center;background:#0f1115;color:#e8e8ea}
main{max-width:34rem;padding:2rem}h1{font-size:1.5rem;margin:0 0 1rem}a{color:#8ab4ff}code{background:#22252c;padding:.1em .3em;border-radius:4px}
ol{padding-left:1.2rem;color:#b8bcc6}button{font:inherit;padding:.5rem 1rem;border-radius:6px;border:1px solid #8ab4ff;background:#1b2333;color:#e8e8ea;cursor:pointer}
.status{font-weight:600}.error{color:#ff9b9b}
label{display:block;font-weight:600;margin-top:1rem}input{font:inherit;padding:.5rem;border-radius:6px;border:1px solid #5a6070;background:#161920;color:#e8e8ea;width:100%;max-width:24rem;box-sizing:border-box}
a:focus,button:focus,input:focus{outline:3px solid #8ab4ff;outline-offset:2px}
</style></head>
<body><main><h1>${escapeHtml(title)}</h1>${content}</main></body></html>`;
}
