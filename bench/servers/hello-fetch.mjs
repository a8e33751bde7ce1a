// The benchmark's app as a fetch handler: (request) => Response.
import { count } from './hello-app.mjs';

export default function hello(request) {
  count();
  return new Response('Hello World\n', { headers: { 'Content-Type': 'text/plain' } });
}
