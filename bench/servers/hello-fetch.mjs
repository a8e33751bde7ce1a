// The benchmark's app as a fetch handler, in the shape of Hono and itty-router apps: { fetch(request) }.
import { count } from './hello-app.mjs';

export default {
  fetch() {
    count();
    return new Response('Hello World\n');
  },
};
