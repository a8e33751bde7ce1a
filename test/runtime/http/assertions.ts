import { expect } from 'chai';
import { exchangeAndClose, exchange, type ParsedResponse } from './raw-client.js';

/** The request gets exactly one error response (status, Connection: close, exact Content-Length) and the socket closes. */
export async function expectRejected(port: number, request: string | Buffer, status: number): Promise<ParsedResponse> {
  const { responses, raw } = await exchangeAndClose(port, request);
  expect(responses, `response bytes: ${JSON.stringify(raw.slice(0, 300))}`).to.have.length(1);
  const response = responses[0]!;
  expect(response.status, response.body).to.equal(status);
  expect(response.statusLine).to.match(new RegExp(`^HTTP/1\\.1 ${status} [A-Za-z]`));
  expect(response.headers['connection']).to.equal('close');
  expect(Number(response.headers['content-length'])).to.equal(Buffer.byteLength(response.body, 'latin1'));
  expect(response.headers['content-type']).to.equal('text/plain; charset=utf-8');
  expect(raw, 'nothing may follow the error response').to.equal(response.raw);
  return response;
}

/** The request is served by the app with 200. */
export async function expectServed(port: number, request: string | Buffer): Promise<ParsedResponse> {
  const response = await exchange(port, request);
  expect(response.status, response.raw.slice(0, 300)).to.equal(200);
  expect(response.body).to.match(/^ok /);
  return response;
}
