/**
 * Deterministic identifiers shaped like the real ones (req_011C…, msg_01…, base58):
 * the n-th request of a double always gets the same id, so runs compare byte for byte.
 */
const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

function base58(n: number, width: number): string {
  let s = '';
  let rest = n;
  do {
    s = BASE58[rest % 58] + s;
    rest = Math.floor(rest / 58);
  } while (rest > 0);
  return s.padStart(width, '1');
}

export class Ids {
  private requests = 0;
  private messages = 0;

  request(): string {
    this.requests += 1;
    return `req_011C${base58(this.requests, 20)}`;
  }

  message(): string {
    this.messages += 1;
    return `msg_01${base58(this.messages, 22)}`;
  }
}
