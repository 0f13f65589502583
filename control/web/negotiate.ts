/** Whether a client is a browser asking for a page (Accept names text/html), not an API client. */
export function acceptsHtml(accept: string | undefined): boolean {
  return accept?.includes('text/html') === true;
}
